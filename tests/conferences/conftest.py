"""A network with an owning organisation, a receiving one (with an open referral on the case), a
third member with none, the network's coordinator, and another network's coordinator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from referral.conferences import services
from referral.extensions import db
from referral.models_base import utcnow
from tests.cases.conftest import World, open_case, user
from tests.cases.conftest import world as world
from tests.conftest import Account, Factory
from tests.referrals.test_services import _consent, _refer

SUMMARY = "Summary-Marker-Rk4 he threatened her again"
REASON = "Reason-Marker-Jm2 the family hides her"
MINUTES = "Minutes-Marker-Pw9 agreed to move her"
ACTION = "Action-Marker-Tz5 accompany her to court"


@dataclass
class Scene:
    app: Flask
    world: World
    case_id: str
    code: str
    referral_id: str
    third_supervisor: Account
    third_admin: Account
    mine_admin: Account
    other_coordinator: Account


@pytest.fixture
def scene(app: Flask, world: World, factory: Factory) -> Scene:
    from referral.cases.models import Case
    from referral.directory.models import Network

    case_id = open_case(app, world, risk_level="high")
    consent_id = _consent(app, world, case_id, field_groups=["contact", "assessment"])
    referral_id = _refer(app, world, case_id, consent_id, field_groups=["contact", "assessment"])
    with app.app_context():
        code = db.session.get(Case, case_id).case_code
        net = db.session.scalar(db.select(Network).where(Network.governorate == world.governorate))
        db.session.expunge(net)
    third = factory.organization(net)
    elsewhere = factory.network()
    return Scene(
        app,
        world,
        case_id,
        code,
        referral_id,
        factory.user("supervisor", third),
        factory.user("org_admin", third),
        world.mine.org_admin,
        factory.user("coordinator", factory.organization(elsewhere), network=elsewhere),
    )


def run(app: Flask, work: Any) -> Any:
    with app.app_context():
        done = work()
        db.session.commit()
        return done


def convene(scene: Scene, **extra: Any) -> str:
    values: dict[str, Any] = {
        "case_code": scene.code,
        "grounds": "high_risk",
        "minutes_allotted": 15,
        "starts_at": utcnow() + timedelta(days=2),
        "place": "Meeting room 2",
    }
    values.update(extra)
    data = services.ConveneInput(**values)
    return str(run(scene.app, lambda: services.convene(db.session, user(scene.world.mine.supervisor), data).id))


def item_of(scene: Scene, conference_id: str) -> str:
    from referral.conferences.models import CaseConference

    with scene.app.app_context():
        return str(db.session.get(CaseConference, conference_id).items[0].id)
