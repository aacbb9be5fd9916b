"""Plans, activities and delivery files made through the services, for the route walks
(tests/audit/test_admin_coverage.py, tests/access/test_existence_oracle.py)."""

from __future__ import annotations

import io
from datetime import date

from flask import Flask
from sqlalchemy import select

from referral.directory.models import Network
from referral.extensions import db
from referral.plans import services
from tests.cases.conftest import World, user

YEAR = date.today().year
PDF = b"%PDF-1.4\n% an attendance sheet, counted, no names\n%%EOF\n"


def world_plan(app: Flask, world: World) -> str:
    """The world's network's plan of this year (made by its coordinator if there is none)."""
    with app.app_context():
        network_id = str(db.session.scalar(select(Network.id).where(Network.governorate == world.governorate)))
        found = services.plan_for(db.session, network_id, YEAR)
        if found is None:
            found = services.create_plan(db.session, user(world.coordinator), network_id, YEAR)
            db.session.commit()
        return str(found.id)


def world_activity(app: Flask, world: World, title: str = "Training on the referral pathway") -> str:
    """A planned training of the world's plan, the responsibility of `world.mine`."""
    plan_id = world_plan(app, world)
    with app.app_context():
        activity = services.add_activity(
            db.session,
            user(world.coordinator),
            plan_id,
            services.ActivityInput(
                title=title,
                activity_type="training",
                responsible_organization_id=world.mine.id,
                partner_organization_ids=[world.other.id],
                planned_start=f"{YEAR}-01-10",
                planned_end=f"{YEAR}-01-11",
                governorate=world.governorate,
                target_sectors=["health"],
                target_participants=20,
            ),
        )
        db.session.commit()
        return str(activity.id)


def world_attachment(app: Flask, world: World) -> str:
    """A delivery file of a fresh activity, recorded by `world.mine`'s supervisor."""
    activity_id = world_activity(app, world)
    with app.app_context():
        delivery = services.record_delivery(
            db.session,
            user(world.mine.supervisor),
            activity_id,
            services.DeliveryInput(delivered_from=f"{YEAR}-01-01", participants={"female": {"18-24": 6}}),
            [services.Upload(io.BytesIO(PDF))],
        )
        db.session.commit()
        return str(delivery.attachments[0].id)
