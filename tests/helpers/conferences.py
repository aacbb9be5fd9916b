"""Case conferences: the scene the conference tests share (made by the `scene` fixture of
tests/conferences/conftest.py), conferences convened through the services, and planted markers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask

from referral.conferences import services
from referral.extensions import db
from referral.models_base import utcnow
from tests.conftest import Account
from tests.helpers.cases import World, user

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
