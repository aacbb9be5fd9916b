"""GET /api/v1/audit/events: auditors only, the published filters (anything else is a 400), pages
by opaque cursor, items as published (seal included), and the search itself audited."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.api.openapi import document
from referral.audit.models import AuditEvent
from referral.cases import services as cases
from referral.cases.models import Case
from referral.extensions import db
from tests.helpers.api import bearer, raw_token, schema_validator
from tests.helpers.cases import MARKER_NAME, World, open_case, user


def _viewed_case(app: Flask, world: World) -> str:
    case_id = open_case(app, world)
    with app.app_context():
        cases.view_case(db.session, user(world.mine.supervisor), case_id)
        db.session.commit()
        return str(db.session.get(Case, case_id).case_code)


def test_an_auditor_lists_the_events_of_a_case(client: FlaskClient, app: Flask, world: World) -> None:
    code = _viewed_case(app, world)
    headers = bearer(raw_token(app, world.auditor.id))
    response = client.get(f"/api/v1/audit/events?case_code={code}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert not list(schema_validator("AuditEventPage").iter_errors(body))
    assert [(i["action"], i["actor_id"]) for i in body["items"]] == [
        ("case.view", world.mine.supervisor.id),
        ("case.create", world.mine.caseworker.id),
    ]
    assert body["next_cursor"] is None
    item = body["items"][0]
    assert item["case_code"] == code and item["organization_id"] == world.mine.id
    assert item["occurred_at"].endswith("Z") and item["chain_position"] is None
    assert MARKER_NAME not in response.get_data(as_text=True)
    with app.app_context():
        searched = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audit.search").order_by(AuditEvent.id)
        ).one()
        assert searched.actor_id == world.auditor.id
        assert searched.details["filter_case_code"] == code


def test_pages_follow_by_cursor(client: FlaskClient, app: Flask, world: World) -> None:
    code = _viewed_case(app, world)
    headers = bearer(raw_token(app, world.auditor.id))
    first = client.get(f"/api/v1/audit/events?case_code={code}&limit=1", headers=headers).get_json()
    assert first["next_cursor"]
    second = client.get(
        f"/api/v1/audit/events?case_code={code}&limit=1&cursor={first['next_cursor']}", headers=headers
    ).get_json()
    assert [i["action"] for i in first["items"] + second["items"]] == ["case.view", "case.create"]
    assert second["next_cursor"] is None


def test_filters_are_validated(client: FlaskClient, app: Flask, world: World) -> None:
    headers = bearer(raw_token(app, world.auditor.id))
    for query, field in (
        ("colour=red", "colour"),
        ("user_id=42", "user_id"),
        ("organization_id=x", "organization_id"),
        ("action=DROP TABLE", "action"),
        ("action=case.nonsense", "action"),
        ("outcome=maybe", "outcome"),
        ("since=yesterday", "since"),
        ("limit=201", "limit"),
        ("limit=0", "limit"),
    ):
        response = client.get(f"/api/v1/audit/events?{query}", headers=headers)
        assert response.status_code == 400, query
        assert field in response.get_json()["error"]["fields"], query
    # well-formed, refused by a rule: a made-up cursor, a period that ends before it starts
    for query, field in (("cursor=!!!", "cursor"), ("since=2026-12-02T00:00:00Z&until=2026-11-30T00:00:00Z", "until")):
        response = client.get(f"/api/v1/audit/events?{query}", headers=headers)
        assert response.status_code == 422, query
        assert field in response.get_json()["error"]["fields"], query


def test_only_auditors_read_the_trail(client: FlaskClient, app: Flask, world: World) -> None:
    _viewed_case(app, world)
    others = (world.mine.caseworker, world.mine.supervisor, world.mine.org_admin, world.coordinator, world.sysadmin)
    for account in others:
        response = client.get("/api/v1/audit/events", headers=bearer(raw_token(app, account.id)))
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
        # even with a filter the schema would refuse: the role is refused first
        assert (
            client.get("/api/v1/audit/events?colour=red", headers=bearer(raw_token(app, account.id))).status_code == 403
        )
    assert client.get("/api/v1/audit/events").status_code == 401
    # An auditor reads the trail, not the cases.
    with app.app_context():
        case_id = db.session.scalars(select(Case.id)).first()
    assert client.get(f"/api/v1/cases/{case_id}", headers=bearer(raw_token(app, world.auditor.id))).status_code == 404


def test_the_route_is_published() -> None:
    doc = document()
    operation = doc["paths"]["/audit/events"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"user_id", "organization_id", "case_code", "action", "since", "until", "limit", "cursor"} <= names
    assert "AuditEvent" in doc["components"]["schemas"]
