"""The access matrix of a referral and its case: the sending organisation, the receiving one
and a third, each role, each state, each route (pages and API). Anything not visible is a 404;
the receiving side sees the survivor's data only while the referral is open."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from referral.extensions import db
from referral.referrals import services as referrals
from tests.conftest import Account, sign_in
from tests.helpers.api import auth_headers
from tests.helpers.cases import MARKER_NAME, World, open_case, user
from tests.helpers.referrals import act, consent, refer

# The path from "sent" to each state, by the side allowed to take each step.
PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "sent": (),
    "accepted": (("receiver", "accepted"),),
    "in_progress": (("receiver", "accepted"), ("receiver", "in_progress")),
    "completed": (("receiver", "accepted"), ("receiver", "in_progress"), ("receiver", "completed")),
    "closed_unresolved": (("receiver", "accepted"), ("receiver", "in_progress"), ("receiver", "closed_unresolved")),
    "declined": (("receiver", "declined"),),
    "withdrawn": (("sender", "withdrawn"),),
}
OPEN = {"sent", "accepted", "in_progress"}
SEES_REFERRAL = {"sender owner", "sender supervisor", "receiver focal point", "receiver assignee"}
SEES_CASE = {"sender owner", "sender supervisor"}
RECEIVES = {"receiver focal point", "receiver assignee"}


def _accounts(world: World, factory: Any) -> dict[str, Account]:
    third = factory.organization(factory.network())
    return {
        "sender owner": world.mine.caseworker,
        "sender colleague": world.mine.colleague,
        "sender supervisor": world.mine.supervisor,
        "sender org admin": world.mine.org_admin,
        "receiver focal point": world.other.supervisor,
        "receiver assignee": world.other.caseworker,
        "receiver colleague": world.other.colleague,
        "receiver org admin": world.other.org_admin,
        "third caseworker": factory.user("caseworker", third),
        "third supervisor": factory.user("supervisor", third),
        "coordinator": world.coordinator,
        "auditor": world.auditor,
        "sysadmin": world.sysadmin,
    }


def _take(app: Flask, world: World, referral_id: str, state: str) -> None:
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.commit()
    for side, step in PATHS[state]:
        who = world.other.supervisor if side == "receiver" else world.mine.caseworker
        extra: dict[str, Any] = {
            "declined": {"reason": "no_capacity"},
            "completed": {"outcome": "hearing attended"},
            "closed_unresolved": {"reason": "no contact"},
            "withdrawn": {"reason": "plan changed"},
        }.get(step, {})
        act(app, who, referral_id, step, **extra)


@pytest.mark.parametrize("state", list(PATHS))
def test_who_sees_a_referral_and_its_case_in_each_state(app: Flask, world: World, factory: Any, state: str) -> None:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    _take(app, world, referral_id, state)
    for label, account in _accounts(world, factory).items():
        web: FlaskClient = app.test_client()
        sign_in(web, app, account)
        api = app.test_client()
        headers = auth_headers(app, account)
        answers = {
            "page referral": web.get(f"/referrals/{referral_id}"),
            "page case": web.get(f"/cases/{case_id}"),
            "page case referrals": web.get(f"/cases/{case_id}/referrals"),
            "api referral": api.get(f"/api/v1/referrals/{referral_id}", headers=headers),
            "api case": api.get(f"/api/v1/cases/{case_id}", headers=headers),
        }
        expected = {
            "page referral": 200 if label in SEES_REFERRAL else 404,
            "page case": 200 if label in SEES_CASE else 404,
            "page case referrals": 200 if label in SEES_CASE else 404,
            "api referral": 200 if label in SEES_REFERRAL else 404,
            "api case": 200 if label in SEES_CASE or (label in RECEIVES and state in OPEN) else 404,
        }
        got = {route: answer.status_code for route, answer in answers.items()}
        assert got == expected, (state, label)
        if label in RECEIVES:  # the survivor's data: only while the referral is open
            page = answers["page referral"].get_data(as_text=True)
            assert (MARKER_NAME in page) == (state in OPEN), (state, label)
            shared = answers["api referral"].get_json()["shared"]
            assert bool(shared) == (state in OPEN), (state, label)
            if state in OPEN:
                body = answers["api case"].get_json()
                assert body["shared_field_groups"] == ["contact", "identity"]
                assert MARKER_NAME in body["shared"]["identity"]["full_name"]
                assert "incidents" not in body and "narrative" not in str(body).lower()
        for route, answer in answers.items():
            if answer.status_code == 404:  # nothing of the case leaks through a refusal
                assert MARKER_NAME not in answer.get_data(as_text=True), (state, label, route)
