"""Fixtures for activity plans: the case world's network (two member organisations with staff of
every role, its coordinator), a plan of this year made by the coordinator, and a second network
with its own coordinator and member, for what must stay invisible across networks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral.accounts import services as accounts
from referral.directory.models import Network
from referral.extensions import db
from referral.plans import services
from tests.cases.conftest import World, user
from tests.cases.conftest import world as world
from tests.conftest import Account, Factory

YEAR = date.today().year


@dataclass
class PlanWorld:
    world: World
    network_id: str
    plan_id: str
    stranger: Account  # a supervisor of an organisation of another network
    stranger_coordinator: Account  # that network's coordinator
    national: Account  # the national coordinator (no network)


@pytest.fixture
def pw(app: Flask, world: World, factory: Factory) -> PlanWorld:
    elsewhere = factory.network()
    outsider = factory.organization(elsewhere)
    stranger = factory.user("supervisor", outsider)
    stranger_coordinator = factory.user("coordinator", outsider, network=elsewhere)
    national = factory.user("coordinator", factory.organization(elsewhere))
    with app.app_context():
        network_id = str(db.session.scalar(select(Network.id).where(Network.governorate == world.governorate)))
        plan = services.create_plan(db.session, user(world.coordinator), network_id, YEAR)
        db.session.commit()
        plan_id = plan.id
    return PlanWorld(world, network_id, plan_id, stranger, stranger_coordinator, national)


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
