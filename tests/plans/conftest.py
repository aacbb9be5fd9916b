"""Fixtures for activity plans: the case world's network (two member organisations with staff of
every role, its coordinator), a plan of this year made by the coordinator, and a second network
with its own coordinator and member, for what must stay invisible across networks."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from referral.directory.models import Network
from referral.extensions import db
from referral.plans import services
from tests.conftest import Factory
from tests.helpers.cases import World, user
from tests.helpers.plans import YEAR, PlanWorld


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
