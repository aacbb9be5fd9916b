"""API v1: consent and referrals, per API.md."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers.api import api_consent, api_refer, auth_headers
from tests.helpers.cases import MARKER_NAME, World, open_case


def test_closed_loop_through_the_api(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    receiver = auth_headers(app, world.other.supervisor)
    assert api_refer(client, sender, case_id, world, None).get_json()["error"]["code"] == "consent_required"
    consent = api_consent(client, sender, case_id, world)
    assert consent.status_code == 201, consent.get_json()
    sent = api_refer(client, sender, case_id, world, consent.get_json()["id"])
    assert sent.status_code == 201, sent.get_json()
    referral = sent.get_json()
    assert referral["state"] == "sent" and referral["due_at"].endswith("Z")
    inbox = client.get("/api/v1/referrals?box=inbox", headers=receiver).get_json()["items"]
    assert [r["id"] for r in inbox] == [referral["id"]]
    assert MARKER_NAME not in str(inbox)  # lists carry no survivor data
    seen = client.get(f"/api/v1/referrals/{referral['id']}", headers=receiver).get_json()
    assert seen["shared"]["identity"]["full_name"].startswith(MARKER_NAME)
    assert "incident" not in seen["shared"] and "case_id" not in seen
    etag = client.get(f"/api/v1/referrals/{referral['id']}", headers=receiver).headers["ETag"]
    accepted = client.post(
        f"/api/v1/referrals/{referral['id']}/accept", json={}, headers={**receiver, "If-Match": etag}
    )
    assert accepted.status_code == 200 and accepted.get_json()["state"] == "accepted"
    stale = client.post(
        f"/api/v1/referrals/{referral['id']}/decline",
        json={"reason_code": "duplicate"},
        headers={**receiver, "If-Match": etag},
    )
    assert stale.status_code == 412
    assert client.post(f"/api/v1/referrals/{referral['id']}/start", json={}, headers=receiver).status_code == 200
    done = client.post(
        f"/api/v1/referrals/{referral['id']}/complete", json={"outcome": "represented in court"}, headers=receiver
    )
    assert done.get_json()["state"] == "completed"
    after = client.get(f"/api/v1/referrals/{referral['id']}", headers=receiver).get_json()
    assert after["shared"] == {}  # the receiving side keeps the record, not the survivor's data
    assert [t["to_state"] for t in after["transitions"]] == ["draft", "sent", "accepted", "in_progress", "completed"]


def test_only_the_parties_see_a_referral_and_only_the_right_side_acts(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    consent_id = api_consent(client, sender, case_id, world).get_json()["id"]
    referral_id = api_refer(client, sender, case_id, world, consent_id).get_json()["id"]
    for outsider in (world.auditor, world.coordinator, world.other.org_admin, world.other.caseworker):
        assert client.get(f"/api/v1/referrals/{referral_id}", headers=auth_headers(app, outsider)).status_code == 404
    assert client.post(f"/api/v1/referrals/{referral_id}/accept", json={}, headers=sender).status_code == 403
    receiver = auth_headers(app, world.other.supervisor)
    assert (
        client.post(f"/api/v1/referrals/{referral_id}/withdraw", json={"reason": "x"}, headers=receiver).status_code
        == 403
    )
    declined = client.post(f"/api/v1/referrals/{referral_id}/decline", json={"reason_code": "maybe"}, headers=receiver)
    assert declined.status_code == 400 and "reason_code" in declined.get_json()["error"]["fields"]


def test_withdrawing_consent_cuts_the_receiver_off(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    consent_id = api_consent(client, sender, case_id, world).get_json()["id"]
    referral_id = api_refer(client, sender, case_id, world, consent_id).get_json()["id"]
    receiver = auth_headers(app, world.other.supervisor)
    assert client.get(f"/api/v1/referrals/{referral_id}", headers=receiver).get_json()["shared"]
    withdrawn = client.post(f"/api/v1/consents/{consent_id}/withdraw", json={}, headers=sender)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["withdrawn_at"]
    assert client.get(f"/api/v1/referrals/{referral_id}", headers=receiver).get_json()["shared"] == {}
    assert api_refer(client, sender, case_id, world, consent_id).status_code == 422


def test_bad_bodies_are_field_level_400s(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    sender = auth_headers(app, world.mine.caseworker)
    bad = api_consent(client, sender, case_id, world, colour="red", field_groups=["everything"])
    assert bad.status_code == 400 and {"colour", "field_groups.0"} <= set(bad.get_json()["error"]["fields"])
    bad_referral = client.post("/api/v1/referrals", json={"case_id": case_id, "priority": "soon"}, headers=sender)
    fields = bad_referral.get_json()["error"]["fields"]
    assert bad_referral.status_code == 400 and {"priority", "to_organization_id", "reason"} <= set(fields)
    assert client.get("/api/v1/referrals?box=sideways", headers=sender).status_code == 400


def test_the_openapi_document_describes_consent_and_referrals(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/cases/{id}/consents",
        "/consents/{id}/withdraw",
        "/referrals",
        "/referrals/{id}",
        "/referrals/{id}/accept",
        "/referrals/{id}/decline",
        "/referrals/{id}/withdraw",
    ):
        assert path in doc["paths"], path
    assert {"ConsentCreate", "ReferralCreate", "Referral", "ReferralDecline"} <= set(doc["components"]["schemas"])
