"""API v1: referrals to a provider outside the network, sent and followed up by the sender."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Factory
from tests.helpers.api import api_consent, auth_headers
from tests.helpers.cases import World, open_case

PROVIDER = {"name": "Rafidia Hospital", "sector": "health"}


def _body(case_id: str, consent_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": case_id,
        "external_provider": PROVIDER,
        "priority": "urgent",
        "reason": "forensic examination",
        "field_groups": ["contact"],
        "consent_id": consent_id,
    }
    body.update(extra)
    return body


def test_send_and_follow_up_an_external_referral(
    client: FlaskClient, app: Flask, world: World, factory: Factory
) -> None:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    by_org = api_consent(client, sender, case_id, world, field_groups=["contact"]).get_json()["id"]
    refused = client.post("/api/v1/referrals", json=_body(case_id, by_org), headers=sender)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "consent_required"
    grant = api_consent(
        client, sender, case_id, world, organization_ids=[], sectors=["health"], field_groups=["contact"]
    )
    sent = client.post("/api/v1/referrals", json=_body(case_id, grant.get_json()["id"]), headers=sender)
    assert sent.status_code == 201, sent.get_json()
    referral = sent.get_json()
    assert referral["to_organization_id"] is None and referral["external_provider"] == PROVIDER
    url = f"/api/v1/referrals/{referral['id']}"
    assert client.get(url, headers=sender).get_json()["external_provider"] == PROVIDER
    outbox = client.get("/api/v1/referrals?box=outbox", headers=sender).get_json()["items"]
    assert outbox[0]["external_provider"] == {"name": None, "sector": "health"}  # the name only on a single read

    no_note = client.post(f"{url}/accept", json={}, headers=sender)
    assert no_note.status_code == 422 and no_note.get_json()["error"]["fields"] == {"note": "required_outside_network"}
    accepted = client.post(f"{url}/accept", json={"note": "agreed by phone"}, headers=sender)
    assert accepted.status_code == 200 and accepted.get_json()["state"] == "accepted"
    assert accepted.get_json()["transitions"][-1]["note"] == "agreed by phone"
    client.post(f"{url}/start", json={"note": "seen"}, headers=sender)
    done = client.post(f"{url}/complete", json={"outcome": "examined", "note": "report in"}, headers=sender)
    assert done.status_code == 200 and done.get_json()["state"] == "completed"

    third = factory.user("supervisor", factory.organization())
    for outsider in (world.other.supervisor, third):
        token = auth_headers(app, outsider)
        assert client.get(url, headers=token).status_code == 404
        assert client.post(f"{url}/withdraw", json={"reason": "x", "note": "y"}, headers=token).status_code == 404
        assert client.get("/api/v1/referrals?box=inbox", headers=token).get_json()["items"] == []


def test_exactly_one_receiver_is_a_field_level_400(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    grant = api_consent(client, sender, case_id, world, organization_ids=[], sectors=["health"]).get_json()["id"]
    both = client.post(
        "/api/v1/referrals", json=_body(case_id, grant, to_organization_id=world.other.id), headers=sender
    )
    assert both.status_code == 400
    assert set(both.get_json()["error"]["fields"]) == {"to_organization_id", "external_provider"}
    neither = _body(case_id, grant)
    neither.pop("external_provider")
    missing = client.post("/api/v1/referrals", json=neither, headers=sender)
    assert missing.status_code == 400 and missing.get_json()["error"]["fields"] == {"to_organization_id": "required"}
    bad = client.post(
        "/api/v1/referrals",
        json=_body(case_id, grant, external_provider={"name": "", "sector": "spa", "address": "x"}),
        headers=sender,
    )
    fields = bad.get_json()["error"]["fields"]
    assert bad.status_code == 400 and {"external_provider.name", "external_provider.sector"} <= set(fields)
    assert fields["external_provider.address"] == "unknown field"


def test_the_openapi_document_describes_external_referrals(client: FlaskClient) -> None:
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    create = schemas["ReferralCreate"]
    assert "external_provider" in create["properties"] and "to_organization_id" not in create["required"]
    assert "external_provider" in schemas["Referral"]["properties"]
    assert "note" in schemas["ReferralAccept"]["properties"]


def test_an_unknown_consent_beside_an_override_is_no_server_error(
    client: FlaskClient, app: Flask, world: World
) -> None:
    """A consent id that is not this case's (or no consent at all) is as none: the override
    decides, and nothing points at a consent that does not exist."""
    from tests.helpers.cases import user

    case_id = open_case(app, world)
    unknown = "1ea30491-7ee8-49a9-b7eb-63596e596b85"
    body = _body(case_id, unknown, override_legal_basis="threat_to_life", priority="emergency")
    refused = client.post("/api/v1/referrals", json=body, headers=auth_headers(app, world.mine.caseworker))
    assert refused.status_code == 403
    with app.app_context():
        from referral.cases.services import add_member
        from referral.extensions import db

        add_member(db.session, user(world.mine.supervisor), case_id, world.mine.supervisor.id)
        db.session.commit()
    sent = client.post("/api/v1/referrals", json=body, headers=auth_headers(app, world.mine.supervisor))
    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json().get("consent_id") is None
    without = client.post(
        "/api/v1/referrals", json=_body(case_id, unknown), headers=auth_headers(app, world.mine.caseworker)
    )
    assert without.status_code == 422  # no consent, no override: a consent is asked for
