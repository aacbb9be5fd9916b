"""API v1: follow-ups, per API.md (POST /cases/{id}/followups, GET /followups?due=,
POST /followups/{id}/complete) and the cancel, read and reschedule routes beside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.accounts import services as accounts
from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.followups.models import FollowUp
from referral.models_base import utcnow
from tests.conftest import Account
from tests.helpers.cases import World, open_case

NOTE_MARKER = "Marker-Api-FollowUp-Zk4"


def _auth(app: Flask, account: Account) -> dict[str, str]:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, db.session.get(User, account.id), days=1)
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"due_at": _stamp(utcnow() + timedelta(days=1)), "kind": "call"}
    body.update(extra)
    return body


def _count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(db.func.count()).select_from(FollowUp)) or 0)


def test_create_defaults_to_the_case_owner(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = _auth(app, world.mine.supervisor)
    created = client.post(f"/api/v1/cases/{case_id}/followups", json=_body(note=NOTE_MARKER), headers=headers)
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert item["assignee_id"] == world.mine.caseworker.id and item["state"] == "open"
    assert item["has_note"] is True and "note" not in item  # notes only when one follow-up is read
    assert created.headers["Location"].endswith(f"/followups/{item['id']}") and created.headers["ETag"] == '"1"'
    read = client.get(f"/api/v1/followups/{item['id']}", headers=headers).get_json()
    assert read["note"] == NOTE_MARKER
    with app.app_context():
        views = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "followup.view").order_by(AuditEvent.id))
        )
        assert [v.object_id for v in views] == [item["id"]] and views[0].case_code == item["case_code"]


def test_bad_input_is_a_400_naming_each_field(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = _auth(app, world.mine.caseworker)
    url = f"/api/v1/cases/{case_id}/followups"
    unknown = client.post(url, json=_body(colour="red"), headers=headers)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["fields"] == {"colour": "unknown field"}
    other_org = client.post(url, json=_body(assignee_id=world.other.caseworker.id), headers=headers)
    assert other_org.status_code == 422  # well-formed; the rule is that the assignee is of the case team
    assert other_org.get_json()["error"]["fields"] == {"assignee_id": "invalid_assignee"}
    missing = client.post(url, json={"kind": "visit"}, headers=headers)
    assert missing.get_json()["error"]["fields"] == {"due_at": "required"}
    assert _count(app) == 0


def test_other_organisations_and_roles_get_404(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    created = client.post(
        f"/api/v1/cases/{case_id}/followups", json=_body(), headers=_auth(app, world.mine.caseworker)
    ).get_json()
    for outsider in (world.other.supervisor, world.other.caseworker, world.mine.colleague, world.mine.org_admin):
        headers = _auth(app, outsider)
        assert client.post(f"/api/v1/cases/{case_id}/followups", json=_body(), headers=headers).status_code == 404
        assert client.get(f"/api/v1/followups/{created['id']}", headers=headers).status_code == 404
        assert client.post(f"/api/v1/followups/{created['id']}/complete", json={}, headers=headers).status_code == 404
        assert client.post(f"/api/v1/followups/{created['id']}/cancel", json={}, headers=headers).status_code == 404
        assert client.get("/api/v1/followups", headers=headers).get_json()["items"] == []
    assert _count(app) == 1


def test_due_filter_and_pages(client: FlaskClient, app: Flask, world: World) -> None:
    evening = datetime(2026, 11, 29, 21, 30, tzinfo=UTC)  # 23:30 in Hebron
    with time_machine.travel(evening, tick=False):
        headers = _auth(app, world.mine.caseworker)
        case_id = open_case(app, world)
        url = f"/api/v1/cases/{case_id}/followups"
        ids = [
            client.post(url, json=_body(due_at=_stamp(evening + timedelta(minutes=m))), headers=headers).get_json()[
                "id"
            ]
            for m in (10, 20, 40)  # 23:40, 23:50 today; 00:10 tomorrow
        ]
        today = client.get("/api/v1/followups?due=today&limit=1", headers=headers).get_json()
        assert [i["id"] for i in today["items"]] == ids[:1] and today["next_cursor"]
        rest = client.get(f"/api/v1/followups?due=today&limit=1&cursor={today['next_cursor']}", headers=headers)
        assert [i["id"] for i in rest.get_json()["items"]] == ids[1:2] and rest.get_json()["next_cursor"] is None
        week = client.get("/api/v1/followups?due=week", headers=headers).get_json()
        assert [i["id"] for i in week["items"]] == ids
        assert client.get("/api/v1/followups?due=overdue", headers=headers).get_json()["items"] == []
        bad = client.get("/api/v1/followups?due=yesterday", headers=headers)
        assert bad.status_code == 400 and "due" in bad.get_json()["error"]["fields"]
    with time_machine.travel(evening + timedelta(minutes=45), tick=False):  # 00:15 the next day
        overdue = client.get("/api/v1/followups?due=overdue", headers=headers).get_json()
        assert [i["id"] for i in overdue["items"]] == ids


def test_complete_with_next_in_one_step(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = _auth(app, world.mine.caseworker)
    first = client.post(f"/api/v1/cases/{case_id}/followups", json=_body(), headers=headers).get_json()
    url = f"/api/v1/followups/{first['id']}/complete"
    unknown = client.post(url, json={"next": {**_body(), "colour": "red"}}, headers=headers)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["fields"] == {"next.colour": "unknown field"}
    past = client.post(
        url, json={"note": "met", "next": _body(due_at=_stamp(utcnow() - timedelta(days=3)))}, headers=headers
    )
    assert past.status_code == 422 and past.get_json()["error"]["fields"] == {"next.due_at": "due_in_past"}
    still = client.get(f"/api/v1/followups/{first['id']}", headers=headers).get_json()
    assert still["state"] == "open" and still["done_note"] is None and _count(app) == 1  # nothing half written
    done = client.post(url, json={"note": "met", "next": _body(kind="visit")}, headers=headers)
    assert done.status_code == 200, done.get_json()
    answer = done.get_json()
    assert answer["state"] == "done" and answer["done_by"] == world.mine.caseworker.id
    assert answer["next"]["kind"] == "visit" and answer["next"]["follows_id"] == first["id"]
    assert answer["next"]["state"] == "open" and _count(app) == 2
    again = client.post(url, json={}, headers=headers)
    assert again.status_code == 409


def test_only_assignee_or_team_completes_and_versions_are_checked(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    owner = _auth(app, world.mine.caseworker)
    supervisor = _auth(app, world.mine.supervisor)
    first = client.post(f"/api/v1/cases/{case_id}/followups", json=_body(), headers=owner).get_json()
    refused = client.post(f"/api/v1/followups/{first['id']}/complete", json={}, headers=supervisor)
    assert refused.status_code == 403
    moved = client.patch(
        f"/api/v1/followups/{first['id']}",
        json={"assignee_id": world.mine.supervisor.id},
        headers={**supervisor, "If-Match": '"1"'},
    )
    assert moved.status_code == 200 and moved.get_json()["version"] == 2
    stale = client.post(f"/api/v1/followups/{first['id']}/complete", json={}, headers={**supervisor, "If-Match": '"1"'})
    assert stale.status_code == 412
    done = client.post(f"/api/v1/followups/{first['id']}/complete", json={}, headers={**supervisor, "If-Match": '"2"'})
    assert done.status_code == 200 and done.get_json()["next"] is None


def test_cancel(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = _auth(app, world.mine.caseworker)
    first = client.post(f"/api/v1/cases/{case_id}/followups", json=_body(), headers=headers).get_json()
    extra = client.post(f"/api/v1/followups/{first['id']}/cancel", json={"why": "x"}, headers=headers)
    assert extra.status_code == 400
    cancelled = client.post(f"/api/v1/followups/{first['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    assert client.get("/api/v1/followups", headers=headers).get_json()["items"] == []


def test_the_openapi_document_describes_follow_ups(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/cases/{id}/followups", "/followups", "/followups/{id}/complete", "/followups/{id}/cancel"):
        assert path in doc["paths"], path
    assert doc["components"]["schemas"]["FollowUpCreate"]["required"] == ["due_at", "kind"]
    assert "next" in doc["components"]["schemas"]["FollowUpComplete"]["properties"]
