"""Two focal points accepting one referral at the same moment: one succeeds, the other is told
of the conflict, and the referral holds exactly one acceptance."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral.extensions import db
from referral.referrals import services as referrals
from referral.referrals.models import ReferralTransition
from tests.helpers.api import auth_headers
from tests.helpers.cases import World, open_case
from tests.helpers.referrals import consent, refer


def test_two_simultaneous_accepts_give_one_200_and_one_409(
    app: Flask, world: World, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    second = factory.user("supervisor", factory_org(app, world))
    tokens = [auth_headers(app, world.other.supervisor), auth_headers(app, second)]
    both_read = threading.Barrier(2, timeout=10)
    checked = referrals._allowed

    def allowed_then_wait(actor: Any, referral: Any, to_state: str) -> None:
        checked(actor, referral, to_state)
        both_read.wait()  # both requests have read the referral as "sent" before either writes

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    if postgres:  # SQLite lets one writer at a time, so there the two requests simply race
        monkeypatch.setattr(referrals, "_allowed", allowed_then_wait)
    statuses: list[int] = []
    bodies: list[Any] = []

    def accept(headers: dict[str, str]) -> None:
        with app.test_client() as client:
            answer = client.post(f"/api/v1/referrals/{referral_id}/accept", json={}, headers=headers)
            statuses.append(answer.status_code)
            bodies.append(answer.get_json())

    threads = [threading.Thread(target=accept, args=(headers,)) for headers in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 409], bodies
    conflict = bodies[statuses.index(409)]
    assert conflict["error"]["code"] and conflict["error"]["message"]
    with app.app_context():
        steps = db.session.scalars(
            select(ReferralTransition.to_state).where(ReferralTransition.referral_id == referral_id)
        ).all()
        assert sorted(steps) == ["accepted", "draft", "sent"]


def factory_org(app: Flask, world: World) -> Any:
    """The receiving organisation, as the factory knows it."""
    from referral.directory.models import Organization

    with app.app_context():
        org = db.session.get(Organization, world.other.id)
        db.session.expunge(org)
        return org
