"""Plans, activities, deliveries and delivery files made through the services: the world of the plan
tests (its `pw` fixture is in tests/plans/conftest.py) and the plans of the route walks
(tests/audit/test_admin_coverage.py, tests/access/test_existence_oracle.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import select

from referral.accounts import services as accounts
from referral.directory.models import Network
from referral.extensions import db
from referral.plans import services
from tests.conftest import Account
from tests.helpers.cases import World, user

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


@dataclass
class PlanWorld:
    world: World
    network_id: str
    plan_id: str
    stranger: Account  # a supervisor of an organisation of another network
    stranger_coordinator: Account  # that network's coordinator
    national: Account  # the national coordinator (no network)


def activity_input(pw: PlanWorld, **overrides: Any) -> services.ActivityInput:
    values: dict[str, Any] = {
        "title": "Training on the referral pathway",
        "activity_type": "training",
        "responsible_organization_id": pw.world.mine.id,
        "partner_organization_ids": [pw.world.other.id],
        "planned_start": f"{YEAR}-02-10",
        "planned_end": f"{YEAR}-02-12",
        "governorate": pw.world.governorate,
        "target_sectors": ["health", "legal_aid"],
        "target_participants": 30,
    }
    values.update(overrides)
    return services.ActivityInput(**values)


def add_activity(app: Flask, pw: PlanWorld, **overrides: Any) -> str:
    with app.app_context():
        activity = services.add_activity(
            db.session, user(pw.world.coordinator), pw.plan_id, activity_input(pw, **overrides)
        )
        db.session.commit()
        return str(activity.id)


def deliver(app: Flask, pw: PlanWorld, activity_id: str, by: Account | None = None, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "delivered_from": f"{YEAR}-01-05" if date.today() >= date(YEAR, 1, 5) else f"{YEAR}-01-01",
        "participants": {"female": {"18-24": 10, "25-59": 5}, "male": {"25-59": 3}},
        "organization_ids": [pw.world.other.id],
        "report": "Two sessions held with the health sector.",
    }
    values.update(overrides)
    with app.app_context():
        delivery = services.record_delivery(
            db.session, user(by or pw.world.mine.supervisor), activity_id, services.DeliveryInput(**values)
        )
        db.session.commit()
        return str(delivery.id)


def token(app: Flask, account: Account) -> dict[str, str]:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, user(account), days=1)
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}
