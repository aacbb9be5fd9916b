"""API v1 case routes: open, list (masked), read (masked for a supervisor until revealed), update;
scoping across organisations and roles, field-level errors, audit, published schemas."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from referral.audit.models import AuditEvent
from referral.cases.models import Case
from referral.extensions import db
from tests.conftest import within
from tests.helpers.api import schema_validator, token_headers
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, intake, open_case

CODE = re.compile(r"^[A-Z]{3}-\d{4}-\d{6}$")
PLANTED = (MARKER_NAME, MARKER_ID, MARKER_PHONE, "111 2233", "Marker narrative", "marker mosque", "Um Ahmad")


def _post(client: FlaskClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/api/v1/cases", json=body, headers=headers)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    schema_validator("Error").validate(body)
    assert body["error"]["code"] == code
    return body["error"]


def _cases() -> int:
    return int(db.session.scalar(select(func.count(Case.id))) or 0)


def _actions(app: Flask, action: str) -> list[AuditEvent]:
    with within(app):
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ---------------------------------------------------------------------------------- create
def test_caseworker_opens_a_case(client: FlaskClient, app: Flask, world: World) -> None:
    headers = token_headers(app, world.mine.caseworker)
    response = _post(client, headers, intake(world, marital_status="married"))
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    body = response.get_json()
    schema_validator("CaseCreated").validate(body)
    assert CODE.match(body["case_code"]) and body["status"] == "intake" and body["returning_survivor"] == []
    assert response.headers["Location"] == f"/api/v1/cases/{body['id']}"
    assert not [m for m in PLANTED if m in response.get_data(as_text=True)]
    with within(app):
        case = db.session.get(Case, body["id"])
        assert case.organization_id == world.mine.id and case.owner_id == world.mine.caseworker.id
        assert case.full_name == MARKER_NAME + " Saleh" and case.marital_status == "married"
        assert case.safe_contact["instructions"] == "Ask for Um Ahmad"
        assert case.incidents[0].narrative == "Marker narrative of what happened"
    again = _post(client, headers, intake(world, full_name="Another Name", national_id=None)).get_json()
    assert again["returning_survivor"] == [body["case_code"]]  # same phone: a returning survivor
    assert [e.object_id for e in _actions(app, "case.create")] == [body["id"], again["id"]]


def test_supervisor_may_open_a_case_and_sees_it_in_full(client: FlaskClient, app: Flask, world: World) -> None:
    headers = token_headers(app, world.mine.supervisor)
    created = _post(client, headers, intake(world))
    assert created.status_code == 201
    shown = client.get(created.headers["Location"], headers=headers).get_json()
    assert shown["identifiers_masked"] is False and shown["full_name"] == MARKER_NAME + " Saleh"  # on the team


def test_a_minimal_intake_is_enough(client: FlaskClient, app: Flask, world: World) -> None:
    body = {"full_name": "Minimal Person", "governorate": world.governorate, "age_group": "18-24", "sex": "female"}
    response = _post(client, token_headers(app, world.mine.caseworker), body)
    assert response.status_code == 201, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("who", ["coordinator", "auditor", "sysadmin", "org_admin"])
def test_other_roles_may_not_open_cases_and_see_none(client: FlaskClient, app: Flask, world: World, who: str) -> None:
    case_id = open_case(app, world)
    account = world.mine.org_admin if who == "org_admin" else getattr(world, who)
    headers = token_headers(app, account)
    _error(_post(client, headers, intake(world)), 403, "forbidden")
    _error(_post(client, headers, {"colour": "red"}), 403, "forbidden")  # the role is refused before the body
    listed = client.get("/api/v1/cases", headers=headers)
    assert listed.status_code == 200 and listed.get_json() == {"items": [], "next_cursor": None}
    _error(client.get(f"/api/v1/cases/{case_id}", headers=headers), 404, "not_found")
    _error(client.patch(f"/api/v1/cases/{case_id}", json={"risk_level": "high"}, headers=headers), 404, "not_found")
    with within(app):
        assert _cases() == 1


def test_unknown_fields_are_named_and_nothing_is_stored(client: FlaskClient, app: Flask, world: World) -> None:
    headers = token_headers(app, world.mine.caseworker)
    error = _error(_post(client, headers, intake(world, colour="red", favourite=1)), 400, "invalid_input")
    assert error["fields"] == {"colour": "unknown field", "favourite": "unknown field"}
    nested = intake(world)
    nested["safe_contact"] = {**nested["safe_contact"], "pin": "1234"}
    error = _error(_post(client, headers, nested), 400, "invalid_input")
    assert error["fields"] == {"safe_contact.pin": "unknown field"}
    with within(app):
        assert _cases() == 0 and not _actions(app, "case.create")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_level", "extreme"),
        ("gbv_type", "theft"),
        ("age_group", "30-40"),
        ("sex", "other"),
        ("perpetrator_relationship", "cousin"),
        ("marital_status", "complicated"),
        ("disability", "no"),
        ("date_of_birth", "02/03/1994"),
        ("governorate", "Nablus City"),
        ("safe_contact", "call any time"),
        ("full_name", ""),
        ("full_name", "   "),
    ],
)
def test_bad_values_are_field_level_400s(client: FlaskClient, app: Flask, world: World, field: str, value: Any) -> None:
    response = _post(client, token_headers(app, world.mine.caseworker), intake(world, **{field: value}))
    error = _error(response, 400, "invalid_input")
    assert list(error["fields"]) == [field]
    with within(app):
        assert _cases() == 0


def test_missing_required_fields_are_named(client: FlaskClient, app: Flask, world: World) -> None:
    body = intake(world)
    for name in ("full_name", "governorate", "age_group", "sex"):
        del body[name]
    error = _error(_post(client, token_headers(app, world.mine.caseworker), body), 400, "invalid_input")
    assert error["fields"] == {n: "required" for n in ("age_group", "full_name", "governorate", "sex")}


def test_a_post_refused_by_the_service_leaves_no_case(client: FlaskClient, app: Flask, world: World) -> None:
    headers = token_headers(app, world.mine.caseworker)
    response = _post(client, headers, intake(world, governorate="atlantis"))  # no such network here
    assert list(_error(response, 400, "invalid_input")["fields"]) == ["governorate"]
    response = _post(client, headers, intake(world, date_of_birth="2999-01-01"))  # a rule: not in the future
    assert _error(response, 422, "rule_refused")["fields"] == {"date_of_birth": "not_in_the_past"}
    for not_json in ("[]", "nonsense", ""):
        response = client.post("/api/v1/cases", data=not_json, headers={**headers, "Content-Type": "application/json"})
        _error(response, 400, "invalid_input")
    with within(app):
        assert _cases() == 0 and not _actions(app, "case.create")


def test_errors_name_fields_not_values(client: FlaskClient, app: Flask, world: World) -> None:
    long_name = MARKER_NAME * 20
    response = _post(client, token_headers(app, world.mine.caseworker), intake(world, full_name=long_name, phone=["x"]))
    error = _error(response, 400, "invalid_input")
    assert set(error["fields"]) == {"full_name", "phone"}
    assert MARKER_NAME not in response.get_data(as_text=True)


# ---------------------------------------------------------------------------------- list
def test_list_is_masked_scoped_and_filtered(client: FlaskClient, app: Flask, world: World) -> None:
    mine = open_case(app, world)
    high = open_case(app, world, risk_level="high", national_id="112233440", phone=None)
    theirs = open_case(app, world, by=world.other.caseworker)
    headers = token_headers(app, world.mine.supervisor)
    response = client.get("/api/v1/cases", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    schema_validator("CasePage").validate(body)
    assert [i["id"] for i in body["items"]] == [high, mine]  # newest first; not the other organisation's
    assert not [m for m in PLANTED if m in response.get_data(as_text=True)]
    item = body["items"][1]
    assert item["full_name_masked"] == "Z. S." and "full_name" not in item and "national_id" not in item
    assert CODE.match(item["case_code"]) and item["opened_at"].endswith("Z")

    def ids(query: str) -> list[str]:
        found = client.get(f"/api/v1/cases?{query}", headers=headers)
        assert found.status_code == 200, found.get_data(as_text=True)[:300]
        schema_validator("CasePage").validate(found.get_json())
        return [i["id"] for i in found.get_json()["items"]]

    assert ids("risk_level=high") == [high]
    assert ids("risk_level=low") == []
    assert ids("status=intake") == [high, mine] and ids("status=closed") == []

    def searched(q: str) -> list[str]:
        found = client.post("/api/v1/cases/search", json={"q": q}, headers=headers)
        assert found.status_code == 200, found.get_data(as_text=True)[:300]
        schema_validator("CasePage").validate(found.get_json())
        return [i["id"] for i in found.get_json()["items"]]

    assert ids(f"q={item['case_code']}") == [mine]
    assert ids(f"q={item['case_code'].lower()}") == [mine]
    assert searched(item["case_code"]) == [mine]
    assert not _actions(app, "case.search_identifier")  # a case code is no identifier search
    assert searched("112233440") == [high]  # exact national id, by blind index
    assert searched("+970 59 111 2233") == [mine]  # exact phone
    assert searched(MARKER_NAME) == []  # names are not searchable
    assert ids(f"q={MARKER_NAME}") == []
    with within(app):
        assert db.session.get(Case, theirs).national_id == MARKER_ID  # the same person elsewhere: not found
    assert searched(MARKER_ID) == [mine]
    assert _actions(app, "case.search_identifier")
    # the caseworker sees her own cases; her colleague none of them
    assert len(client.get("/api/v1/cases", headers=token_headers(app, world.mine.caseworker)).get_json()["items"]) == 2
    assert client.get("/api/v1/cases", headers=token_headers(app, world.mine.colleague)).get_json()["items"] == []
    other = client.get("/api/v1/cases", headers=token_headers(app, world.other.supervisor)).get_json()
    assert [i["id"] for i in other["items"]] == [theirs]


def test_list_pages_with_an_opaque_cursor(client: FlaskClient, app: Flask, world: World) -> None:
    made = [open_case(app, world) for _ in range(5)]
    headers = token_headers(app, world.mine.caseworker)
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        body = client.get("/api/v1/cases?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        schema_validator("CasePage").validate(body.get_json())
        seen += [i["id"] for i in body.get_json()["items"]]
        pages += 1
        cursor = body.get_json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 5 and pages == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("status=open", "status"),
        ("risk_level=extreme", "risk_level"),
        ("colour=red", "colour"),
        ("q=" + "9" * 65, "q"),
    ],
)
def test_bad_list_queries_are_field_level_400s(
    client: FlaskClient, app: Flask, world: World, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/cases?{query}", headers=token_headers(app, world.mine.supervisor))
    assert field in _error(response, 400, "invalid_input")["fields"]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90LWEtY3Vyc29y",  # "not-a-cursor"
        "MjAyNi0wMS0wMVQwMDowMDowMHxub3QtYS11dWlk",  # a naive time and no uuid
    ],
)
def test_a_cursor_the_api_did_not_give_is_a_422(client: FlaskClient, app: Flask, world: World, cursor: str) -> None:
    response = client.get(f"/api/v1/cases?cursor={cursor}", headers=token_headers(app, world.mine.supervisor))
    assert _error(response, 422, "rule_refused")["fields"] == {"cursor": "invalid cursor"}


# ---------------------------------------------------------------------------------- read
def test_case_team_reads_the_whole_case(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    response = client.get(f"/api/v1/cases/{case_id}", headers=token_headers(app, world.mine.caseworker))
    assert response.status_code == 200
    body = response.get_json()
    schema_validator("Case").validate(body)
    assert body["identifiers_masked"] is False
    assert body["full_name"] == MARKER_NAME + " Saleh" and body["national_id"] == MARKER_ID
    assert body["phone"] == MARKER_PHONE and body["date_of_birth"] == "1994-03-02"
    assert body["safe_contact"]["safe_to_call"] is True and body["safe_contact"]["instructions"] == "Ask for Um Ahmad"
    assert body["governorate"] == world.governorate and body["risk_level"] == "medium" and body["disability"] is False
    assert body["status"] == "intake" and body["version"] >= 1 and body["opened_at"].endswith("Z")
    [incident] = body["incidents"]
    assert incident["gbv_type"] == "physical_assault" and incident["perpetrator_relationship"] == "intimate_partner"
    assert incident["narrative"] == "Marker narrative of what happened"
    assert re.match(r"^\d{4}-\d{2}$", incident["month"])
    assert response.headers["ETag"] == f'"{body["version"]}"'
    [view] = _actions(app, "case.view")
    assert (view.object_id, view.actor_id, view.case_code) == (case_id, world.mine.caseworker.id, body["case_code"])


def test_supervisor_sees_identifiers_masked_until_she_reveals_them(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    headers = token_headers(app, world.mine.supervisor)
    masked = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert masked.status_code == 200
    body = masked.get_json()
    schema_validator("Case").validate(body)
    assert body["identifiers_masked"] is True and body["full_name_masked"] == "Z. S."
    for name in ("full_name", "national_id", "date_of_birth", "phone", "address", "safe_contact"):
        assert name not in body
    assert body["incidents"][0]["gbv_type"] == "physical_assault"
    assert body["incidents"][0]["narrative"] == "Marker narrative of what happened"  # confidential, not identifying
    identifiers = [m for m in PLANTED if m != "Marker narrative"]
    assert not [m for m in identifiers if m in masked.get_data(as_text=True)]
    assert not _actions(app, "case.reveal")
    revealed = client.get(f"/api/v1/cases/{case_id}?reveal=true", headers=headers)
    body = revealed.get_json()
    schema_validator("Case").validate(body)
    assert body["identifiers_masked"] is False and body["full_name"] == MARKER_NAME + " Saleh"
    assert body["national_id"] == MARKER_ID and body["safe_contact"]["instructions"] == "Ask for Um Ahmad"
    [event] = _actions(app, "case.reveal")
    assert event.actor_id == world.mine.supervisor.id and event.object_id == case_id
    assert client.get(f"/api/v1/cases/{case_id}?reveal=false", headers=headers).get_json()["identifiers_masked"]
    _error(client.get(f"/api/v1/cases/{case_id}?reveal=yes", headers=headers), 400, "invalid_input")


@pytest.mark.parametrize("who", ["caseworker", "supervisor"])
def test_another_organisations_case_is_not_found(client: FlaskClient, app: Flask, world: World, who: str) -> None:
    theirs = open_case(app, world, by=world.other.caseworker)
    headers = token_headers(app, getattr(world.mine, who))
    for response in (
        client.get(f"/api/v1/cases/{theirs}", headers=headers),
        client.get(f"/api/v1/cases/{theirs}?reveal=true", headers=headers),
        client.patch(f"/api/v1/cases/{theirs}", json={"risk_level": "high"}, headers=headers),
        client.get(f"/api/v1/cases/{uuid.uuid4()}", headers=headers),
        client.patch(f"/api/v1/cases/{uuid.uuid4()}", json={"risk_level": "high"}, headers=headers),
        client.get("/api/v1/cases/not-a-uuid", headers=headers),
        client.patch("/api/v1/cases/not-a-uuid", json={"risk_level": "high"}, headers=headers),
    ):
        error = _error(response, 404, "not_found")
        assert "fields" not in error
    assert theirs not in {i["id"] for i in client.get("/api/v1/cases", headers=headers).get_json()["items"]}
    with within(app):
        case = db.session.get(Case, theirs)
        assert case.risk_level == "medium" and case.version == 1
    assert not _actions(app, "case.view") and not _actions(app, "case.reveal")
    assert _actions(app, "access.denied")  # the refusals are recorded


def test_a_colleague_outside_the_team_gets_404(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = token_headers(app, world.mine.colleague)
    _error(client.get(f"/api/v1/cases/{case_id}", headers=headers), 404, "not_found")
    _error(client.patch(f"/api/v1/cases/{case_id}", json={"risk_level": "low"}, headers=headers), 404, "not_found")


# ---------------------------------------------------------------------------------- update
def test_patch_changes_fields_and_audits_their_names_only(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = token_headers(app, world.mine.caseworker)
    before = client.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
    response = client.patch(f"/api/v1/cases/{case_id}", json={"risk_level": "high"}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_json()
    schema_validator("Case").validate(body)
    assert body["risk_level"] == "high" and body["version"] == before["version"] + 1
    assert body["full_name"] == before["full_name"]  # the rest is unchanged
    [event] = _actions(app, "case.update")
    assert event.details == {"fields": "risk_level"} and event.object_id == case_id
    assert "high" not in str(event.details) and "medium" not in str(event.details)
    renamed = client.patch(
        f"/api/v1/cases/{case_id}",
        json={"phone": "0599 000 111", "safe_contact": {"safe_to_text": True}, "disability": True},
        headers=headers,
    ).get_json()
    assert renamed["phone"] == "+970 59 900 0111" and renamed["safe_contact"] == {"safe_to_text": True}
    assert renamed["disability"] is True
    events = _actions(app, "case.update")
    assert events[-1].details == {"fields": "disability,phone,safe_contact"}
    assert "0599" not in str(events[-1].details)
    found = client.post("/api/v1/cases/search", json={"q": "0599000111"}, headers=headers).get_json()["items"]
    assert [i["id"] for i in found] == [case_id]  # the blind index follows the new phone
    with within(app):
        assert db.session.get(Case, case_id).risk_level == "high"


def test_patch_refuses_bad_values_and_unknown_fields(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = token_headers(app, world.mine.caseworker)
    url = f"/api/v1/cases/{case_id}"
    for body, field in (
        ({"risk_level": "extreme"}, "risk_level"),
        ({"colour": "red"}, "colour"),
        ({"case_code": "XXX-2026-000001"}, "case_code"),
        ({"status": "closed"}, "status"),
        ({"full_name": None}, "full_name"),
        ({"governorate": "atlantis"}, "governorate"),
        ({"narrative": "rewritten"}, "narrative"),
        ({}, "_"),
    ):
        response = client.patch(url, json=body, headers=headers)
        assert field in _error(response, 400, "invalid_input")["fields"], body
    with within(app):
        case = db.session.get(Case, case_id)
        assert case.risk_level == "medium" and case.status == "intake" and case.version == 1
    assert not _actions(app, "case.update")


def test_patch_with_a_stale_version_is_a_failed_precondition(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    headers = token_headers(app, world.mine.caseworker)
    url = f"/api/v1/cases/{case_id}"
    etag = client.get(url, headers=headers).headers["ETag"]
    assert client.patch(url, json={"risk_level": "low"}, headers={**headers, "If-Match": etag}).status_code == 200
    stale = client.patch(url, json={"risk_level": "high"}, headers={**headers, "If-Match": etag})
    _error(stale, 412, "precondition_failed")
    with within(app):
        assert db.session.get(Case, case_id).risk_level == "low"


def test_supervisor_outside_the_team_may_not_patch(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    response = client.patch(
        f"/api/v1/cases/{case_id}", json={"risk_level": "high"}, headers=token_headers(app, world.mine.supervisor)
    )
    _error(response, 404, "not_found")


# ---------------------------------------------------------------------------------- document
def test_openapi_describes_the_case_routes(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    cases, one = doc["paths"]["/cases"], doc["paths"]["/cases/{id}"]
    assert cases["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseCreate"
    }
    assert {"201", "400", "401", "403"} <= set(cases["post"]["responses"])
    assert {p["name"] for p in cases["get"]["parameters"]} == {"limit", "cursor", "status", "risk_level", "q"}
    assert {"200", "400", "401", "404"} <= set(one["get"]["responses"])
    assert "reveal" in {p["name"] for p in one["get"]["parameters"]}
    assert {"200", "400", "404", "409"} <= set(one["patch"]["responses"])
    create = doc["components"]["schemas"]["CaseCreate"]
    assert create["additionalProperties"] is False
    assert set(create["properties"]) == {
        *("full_name", "national_id", "date_of_birth", "phone", "address", "safe_contact", "narrative"),
        *("governorate", "age_group", "sex", "disability", "gbv_type", "perpetrator_relationship", "risk_level"),
        *("reporting_delay", "statistics_consent"),
        "marital_status",
    }
    assert set(create["properties"]["safe_contact"]["properties"]) == {
        "safe_to_call",
        "safe_to_text",
        "safe_voicemail",
        "safe_hours",
        "instructions",
    }
    assert create["properties"]["risk_level"]["enum"][:3] == ["high", "medium", "low"]
