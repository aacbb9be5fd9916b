"""API v1: the receiving side's service log (`POST /referrals/{id}/log`, `log[]` on a read) and
its own case file opened from a referral (`POST /referrals/{id}/open-case`)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.cases.models import Case
from referral.extensions import db
from referral.referrals.models import ReferralLogEntry
from tests.conftest import Factory
from tests.helpers.api import api_consent, api_refer, auth_headers
from tests.helpers.cases import MARKER_NAME, World, open_case

PREFIX = "/api/v1"


def _sent(client: FlaskClient, app: Flask, world: World) -> tuple[str, dict[str, str], dict[str, str]]:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    receiver = auth_headers(app, world.other.supervisor)
    consent = api_consent(client, sender, case_id, world).get_json()["id"]
    referral = api_refer(client, sender, case_id, world, consent).get_json()
    return referral["id"], sender, receiver


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.scalar(select(db.func.count()).select_from(model)) or 0)


def test_the_receiver_logs_progress_and_both_sides_read_it(client: FlaskClient, app: Flask, world: World) -> None:
    referral_id, sender, receiver = _sent(client, app, world)
    early = client.post(f"{PREFIX}/referrals/{referral_id}/log", json={"text": "too early"}, headers=receiver)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "referral_not_in_service"
    assert client.post(f"{PREFIX}/referrals/{referral_id}/accept", headers=receiver).status_code == 200
    made = client.post(
        f"{PREFIX}/referrals/{referral_id}/log",
        json={"text": "First counselling session", "next_step": "Second session Thursday"},
        headers=receiver,
    )
    assert made.status_code == 201, made.get_json()
    entry = made.get_json()
    assert entry["text"] == "First counselling session" and entry["next_step"] == "Second session Thursday"
    assert entry["organization_id"] == world.other.id and entry["author_id"] == world.other.supervisor.id
    assert entry["at"].endswith("Z") and set(entry) == {"id", "at", "text", "next_step", "organization_id", "author_id"}
    bare = client.post(f"{PREFIX}/referrals/{referral_id}/log", json={"text": "Called her"}, headers=receiver)
    assert bare.status_code == 201 and bare.get_json()["next_step"] is None
    for headers in (sender, receiver):
        read = client.get(f"{PREFIX}/referrals/{referral_id}", headers=headers).get_json()
        assert [e["text"] for e in read["log"]] == ["First counselling session", "Called her"]
        assert read["log"][0] == entry
    listed = client.get(f"{PREFIX}/referrals?box=outbox", headers=sender).get_json()["items"]
    assert listed and "log" not in listed[0]  # a box entry: read one for its log


def test_log_bad_bodies_are_field_level_400s_and_write_nothing(client: FlaskClient, app: Flask, world: World) -> None:
    referral_id, _sender, receiver = _sent(client, app, world)
    client.post(f"{PREFIX}/referrals/{referral_id}/accept", headers=receiver)
    path = f"{PREFIX}/referrals/{referral_id}/log"
    for body, field in (
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": 7}, "text"),
        ({"text": "x" * 5001}, "text"),
        ({"text": "ok", "next_step": "y" * 2001}, "next_step"),
        ({"text": "ok", "next_step": None}, "next_step"),
        ({"text": "ok", "author_id": world.other.caseworker.id}, "author_id"),
    ):
        answer = client.post(path, json=body, headers=receiver)
        assert answer.status_code == 400, (body, answer.get_json())
        assert field in answer.get_json()["error"]["fields"], (body, answer.get_json())
    assert client.post(path, data="not json", headers=receiver).status_code == 400
    assert _count(app, ReferralLogEntry) == 0


def test_only_the_receiver_logs_and_only_the_parties_read(
    client: FlaskClient, app: Flask, world: World, factory: Factory
) -> None:
    referral_id, sender, receiver = _sent(client, app, world)
    client.post(f"{PREFIX}/referrals/{referral_id}/accept", headers=receiver)
    path = f"{PREFIX}/referrals/{referral_id}/log"
    by_sender = client.post(path, json={"text": "mine"}, headers=sender)
    assert by_sender.status_code == 403
    stranger = auth_headers(app, factory.user("supervisor", factory.organization(factory.network())))
    assert client.post(path, json={"text": "who"}, headers=stranger).status_code == 404
    assert client.get(f"{PREFIX}/referrals/{referral_id}", headers=stranger).status_code == 404
    unassigned = auth_headers(app, world.other.caseworker)
    assert client.post(path, json={"text": "who"}, headers=unassigned).status_code == 404
    missing = f"{PREFIX}/referrals/00000000-0000-4000-8000-000000000000/log"
    assert client.post(missing, json={"text": "x"}, headers=receiver).status_code == 404
    assert _count(app, ReferralLogEntry) == 0


def test_the_receiver_opens_its_own_case_once(client: FlaskClient, app: Flask, world: World) -> None:
    referral_id, sender, receiver = _sent(client, app, world)
    path = f"{PREFIX}/referrals/{referral_id}/open-case"
    assert client.post(path, headers=receiver).status_code == 409  # not accepted yet
    client.post(f"{PREFIX}/referrals/{referral_id}/accept", headers=receiver)
    assert client.post(path, headers=sender).status_code == 403
    assert client.post(path, json={"case_code": "X"}, headers=receiver).status_code == 400
    opened = client.post(path, json={}, headers=receiver)
    assert opened.status_code == 201, opened.get_json()
    own = opened.get_json()
    assert own["referral_id"] == referral_id and opened.headers["Location"].endswith(f"/cases/{own['id']}")
    case = client.get(f"{PREFIX}/cases/{own['id']}", headers=receiver)
    assert case.status_code == 200 and case.get_json()["case_code"] == own["case_code"]
    assert MARKER_NAME in str(case.get_json())  # identity was shared, so it was copied
    again = client.post(path, headers=receiver)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "case_already_opened"
    read = client.get(f"{PREFIX}/referrals/{referral_id}", headers=receiver).get_json()
    assert read["receiver_case_id"] == own["id"]
    assert client.get(f"{PREFIX}/referrals/{referral_id}", headers=sender).get_json()["receiver_case_id"] is None
    with app.app_context():
        assert db.session.scalar(select(Case.organization_id).where(Case.id == own["id"])) == world.other.id


def test_assignments_are_listed_naming_people_to_the_receiving_side_only(
    client: FlaskClient, app: Flask, world: World
) -> None:
    referral_id, sender, receiver = _sent(client, app, world)
    client.post(f"{PREFIX}/referrals/{referral_id}/accept", headers=receiver)
    with app.app_context():
        from referral.referrals import services as referrals
        from tests.helpers.cases import user

        for worker in (world.other.caseworker, world.other.colleague):
            referrals.assign(db.session, user(world.other.supervisor), referral_id, worker.id)
            db.session.commit()
    mine = client.get(f"{PREFIX}/referrals/{referral_id}", headers=receiver).get_json()["assignments"]
    assert [(a["user_id"], a["assigned_by"]) for a in mine] == [
        (world.other.caseworker.id, world.other.supervisor.id),
        (world.other.colleague.id, world.other.supervisor.id),
    ]
    theirs = client.get(f"{PREFIX}/referrals/{referral_id}", headers=sender).get_json()["assignments"]
    assert [(a["user_id"], a["assigned_by"]) for a in theirs] == [(None, None), (None, None)]
    assert [a["at"] for a in theirs] == [a["at"] for a in mine]
