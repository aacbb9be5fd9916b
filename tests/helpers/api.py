"""The JSON API: bearer tokens and headers, the OpenAPI schema validators, consents and referrals over
the API, and the HSDS schema validators of the directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from referral.accounts import services as accounts
from referral.accounts.models import User
from referral.api.openapi import document
from referral.extensions import db
from tests.conftest import Account
from tests.helpers.cases import World


def raw_token(app: Flask, user_id: str, days: int = 30) -> str:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, db.session.get(User, user_id), days=days)
        db.session.commit()
        return raw


def schema_validator(name: str) -> Draft202012Validator:
    doc = document()
    registry = Registry().with_resource("urn:shabaka", Resource(contents=doc, specification=DRAFT202012))
    schema = {"$ref": f"urn:shabaka#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_headers(app: Flask, account: Account) -> dict[str, str]:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, db.session.get(User, account.id), days=1)
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def api_consent(client: FlaskClient, headers: dict[str, str], case_id: str, world: World, **extra: Any) -> Any:
    body = {
        "organization_ids": [world.other.id],
        "field_groups": ["identity", "contact"],
        "method": "verbal",
        "purpose": "legal aid",
    }
    body.update(extra)
    return client.post(f"/api/v1/cases/{case_id}/consents", json=body, headers=headers)


def api_refer(client: FlaskClient, headers: dict[str, str], case_id: str, world: World, consent_id: str | None) -> Any:
    body: dict[str, Any] = {
        "case_id": case_id,
        "to_organization_id": world.other.id,
        "priority": "urgent",
        "reason": "custody hearing next week",
        "field_groups": ["identity", "contact"],
    }
    if consent_id:
        body["consent_id"] = consent_id
    return client.post("/api/v1/referrals", json=body, headers=headers)


def token_headers(app: Flask, account: Account) -> dict[str, str]:
    return bearer(raw_token(app, account.id))


HSDS_SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "hsds" / "schema"


def hsds_validators() -> dict[str, Draft202012Validator]:
    if not HSDS_SCHEMAS.is_dir():
        pytest.fail(f"the HSDS schemas are missing at {HSDS_SCHEMAS}", pytrace=False)
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in HSDS_SCHEMAS.glob("*.json")}
    registry = Registry().with_resources(
        (name, Resource.from_contents(schema, default_specification=DRAFT202012)) for name, schema in schemas.items()
    )
    return {
        name: Draft202012Validator(
            schemas[f"{name}.json"], registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for name in ("organization", "service")
    }


def get_json(client: FlaskClient, token: str, path: str) -> Any:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()
