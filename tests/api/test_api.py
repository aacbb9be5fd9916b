"""API v1: bearer tokens, /me, the organisation directory, errors and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import select

from referral.accounts import services
from referral.accounts.models import ApiToken, User
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.models_base import utcnow
from tests.conftest import Factory, sign_in
from tests.helpers.api import bearer, raw_token, schema_validator


def test_me_answers_with_the_published_schema(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user("supervisor")
    response = client.get("/api/v1/me", headers=bearer(raw_token(app, account.id)))
    assert response.status_code == 200
    body = response.get_json()
    schema_validator("Me").validate(body)
    assert body["id"] == account.id and body["role"] == "supervisor"
    assert body["organization"]["id"] == account.organization_id
    assert "Set-Cookie" not in response.headers  # the API never opens a browser session
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_bad_expired_and_revoked_tokens_are_401(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    token = raw_token(app, account.id, days=1)
    for headers in ({}, {"Authorization": "Bearer shb_nope"}, {"Authorization": f"Basic {token}"}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        schema_validator("Error").validate(response.get_json())
        assert response.get_json()["error"]["code"] == "unauthorized"
    with time_machine.travel(utcnow() + timedelta(days=2)):
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert stored.token_hash != token and token not in stored.token_hash
        services.revoke_token(db.session, db.session.get(User, account.id), stored.id)
        db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_browser_session_is_not_accepted_by_the_api(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    sign_in(client, app, account)
    assert client.get("/api/v1/me").status_code == 401


def test_deactivated_users_token_stops_working(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    token = raw_token(app, account.id)
    with app.app_context():
        db.session.get(User, account.id).active = False
        db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_organizations_are_paged_with_an_opaque_cursor(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network()
    made = {factory.organization(net).id for _ in range(5)}
    account = factory.user("caseworker", factory.organization(net))
    made.add(account.organization_id)
    token = raw_token(app, account.id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/api/v1/directory/organizations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=bearer(token)).get_json()
        schema_validator("OrganizationPage").validate(body)
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert set(seen) == made and len(seen) == len(made) and pages == 3
    item = client.get("/api/v1/directory/organizations", headers=bearer(token)).get_json()["items"][0]
    assert item["kind"] in ("governmental", "civil") and isinstance(item["accepts_referrals"], bool)


def test_bad_query_is_a_field_level_400(client: FlaskClient, app: Flask, factory: Factory) -> None:
    token = raw_token(app, factory.user().id)
    for query, field in (("limit=0", "limit"), ("limit=500", "limit"), ("limit=x", "limit"), ("colour=red", "colour")):
        response = client.get(f"/api/v1/directory/organizations?{query}", headers=bearer(token))
        assert response.status_code == 400, query
        body = response.get_json()
        schema_validator("Error").validate(body)
        assert field in body["error"]["fields"], query


def test_unknown_api_route_is_a_json_404(client: FlaskClient, app: Flask, factory: Factory) -> None:
    token = raw_token(app, factory.user().id)
    response = client.get("/api/v1/nothing-here", headers=bearer(token))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_token_issue_is_audited_without_the_token(app: Flask, factory: Factory) -> None:
    account = factory.user()
    token = raw_token(app, account.id)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.issue").order_by(AuditEvent.id))
        assert event.actor_id == account.id
        assert token not in str(event.details) and token not in (event.reason or "")


def test_openapi_document_is_valid_and_lists_the_routes(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/me", "/directory/organizations"} <= set(doc["paths"])
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
