"""Coordination data made through the services, for the tests and the route walks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Flask

from referral.coordination import services
from referral.extensions import db
from referral.models_base import utcnow
from tests.helpers.cases import World, user


def run(app: Flask, work: Any) -> Any:
    with app.app_context():
        done = work()
        db.session.commit()
        return done


def network_id(app: Flask, world: World) -> str:
    from sqlalchemy import select

    from referral.directory.models import Network

    with app.app_context():
        return str(db.session.scalar(select(Network.id).where(Network.governorate == world.governorate)))


def name_representatives(app: Flask, world: World) -> None:
    """Each organisation's caseworker represents it in the world's network."""
    net = network_id(app, world)
    for org in (world.mine, world.other):
        run(app, lambda org=org: services.name_representative(db.session, user(org.org_admin), net, org.caseworker.id))


def meeting(app: Flask, world: World, *, days: int = -1, title: str = "Monthly meeting") -> str:
    """A meeting of the world's network `days` from now (past by default), with one more item."""
    net = network_id(app, world)
    data = services.MeetingInput(
        title=title,
        starts_at=utcnow() + timedelta(days=days),
        place="Governorate hall",
        agenda=[services.AgendaInput("Challenges", 30, "Legal aid centre")],
    )
    return str(run(app, lambda: services.create_meeting(db.session, user(world.coordinator), net, data).id))


def action_point(
    app: Flask, world: World, meeting_id: str, *, due: date | None = None, description: str = "Send the list"
) -> str:
    data = services.ActionPointInput(
        description=description,
        owner_organization_id=world.mine.id,
        due_date=due or (utcnow() + timedelta(days=10)).date(),
        priority="high",
    )
    return str(run(app, lambda: services.create_action_point(db.session, user(world.coordinator), meeting_id, data).id))


def attended(app: Flask, world: World, meeting_id: str) -> None:
    for org in (world.mine, world.other):
        run(
            app,
            lambda org=org: services.record_attendance(
                db.session, user(world.coordinator), meeting_id, org.id, "attended", "Focal person", "Lawyer"
            ),
        )
