"""The OpenAPI document is true to the code (issue 11, finding 12).

Every route of the API is in the document with its methods, and nothing else is; every list takes
`limit` and `cursor`; every operation lists the statuses any route can return (and 412 with
If-Match, 413 and 422 with a body); the rules the code checks outside the schemas (text rules,
one receiver, a consent naming organisations or sectors, `purpose`) are in the document; and
the routes behave as the document says: GET /referrals without `box`, paged; a consent without
`purpose` refused; a well-formed request refused by a rule is a 422 with its `fields`. The
fuzzing test (test_fuzz.py) drives the whole document against the live app.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from referral.api.openapi import document
from referral.text import FREE_TEXT_PATTERN, NAME_PATTERN, text_problem
from tests.helpers.api import api_consent, api_refer, auth_headers
from tests.helpers.cases import World, open_case

PREFIX = "/api/v1"
UNDOCUMENTED = {"/openapi.json"}  # the document itself
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def _doc_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", "{id}", rule)


def _routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = _doc_path(rule.rule[len(PREFIX) :])
        if path in UNDOCUMENTED:
            continue
        for method in (rule.methods or set()) & METHODS:
            if "<action>" in rule.rule:  # /referrals/<id>/<action>: one documented path per action
                continue
            found.add((method.lower(), path))
    return found


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in doc["paths"].items() for method, op in item.items()}


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask, client: FlaskClient) -> None:
    doc = document(["nablus"])
    operations = _operations(doc)
    routes = _routes(app)
    assert routes - set(operations) == set(), "routes missing from the document"
    for method, path in set(operations) - routes:
        assert re.fullmatch(r"/referrals/\{id\}/[a-z]+", path) and method == "post", (method, path)
        action = path.rsplit("/", 1)[1]
        answer = client.post(f"{PREFIX}/referrals/00000000-0000-4000-8000-000000000000/{action}")
        assert answer.status_code == 401, (path, answer.status_code)  # the route exists and asks for a token


def test_every_list_takes_limit_and_cursor() -> None:
    for (method, path), op in _operations(document()).items():
        answer = op["responses"].get("200")
        schema = (answer or {}).get("content", {}).get("application/json", {}).get("schema", {})
        if not str(schema.get("$ref", "")).endswith("Page"):
            continue
        names = {p["name"] for p in op.get("parameters", [])}
        body = op.get("requestBody")
        if body:  # the search takes its paging in the body
            ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            names |= set(document()["components"]["schemas"][ref]["properties"])
        assert {"limit", "cursor"} <= names, (method, path)


def test_every_operation_lists_the_statuses_it_can_return() -> None:
    for (method, path), op in _operations(document()).items():
        statuses = set(op["responses"])
        assert {"400", "401", "429", "503"} <= statuses, (method, path)
        if "requestBody" in op:
            assert {"413", "422"} <= statuses, (method, path)
        if any(p["name"] == "If-Match" for p in op.get("parameters", [])):
            assert "412" in statuses, (method, path)
        if "{id}" in path:
            assert "404" in statuses, (method, path)
        for status in ("429", "503"):
            assert "Retry-After" in op["responses"][status].get("headers", {}), (method, path, status)


def test_the_consent_purpose_and_the_cross_field_rules_are_in_the_document() -> None:
    schemas = document()["components"]["schemas"]
    consent = schemas["ConsentCreate"]
    assert "purpose" in consent["required"]
    assert {"organization_ids", "sectors"} == {branch["required"][0] for branch in consent["anyOf"]}
    referral = schemas["ReferralCreate"]
    one_receiver = Draft202012Validator({"oneOf": referral["oneOf"]})
    assert one_receiver.is_valid({"to_organization_id": "x"})
    assert one_receiver.is_valid({"external_provider": {}})
    assert not one_receiver.is_valid({"to_organization_id": "x", "external_provider": {}})
    assert not one_receiver.is_valid({})
    assert not one_receiver.is_valid({"external_provider": {}, "service_id": "x"})


def test_text_rules_in_the_document_are_the_codes_rules() -> None:
    names, free = re.compile(NAME_PATTERN), re.compile(FREE_TEXT_PATTERN)
    for code in [*range(0x00, 0xA1), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x0627]:
        value = f"a{chr(code)}b"
        assert (names.fullmatch(value) is None) == (text_problem(value, identifying=True) is not None), hex(code)
        assert (free.fullmatch(value) is None) == (text_problem(value, identifying=False) is not None), hex(code)
    case = document()["components"]["schemas"]["CaseCreate"]["properties"]
    assert NAME_PATTERN in _patterns(case["full_name"]) and NAME_PATTERN in _patterns(case["national_id"])
    assert FREE_TEXT_PATTERN in _patterns(case["narrative"])


def _patterns(schema: dict[str, Any]) -> set[str]:
    found = {schema["pattern"]} if "pattern" in schema else set()
    for item in schema.get("allOf", []) + schema.get("anyOf", []):
        found |= _patterns(item)
    return found


def test_the_served_document_names_the_deployments_governorates(client: FlaskClient, app: Flask, world: World) -> None:
    served = client.get(f"{PREFIX}/openapi.json").get_json()
    governorate = served["components"]["schemas"]["CaseCreate"]["properties"]["governorate"]
    assert governorate["enum"] == [world.governorate]
    services = next(
        p for p in served["paths"]["/directory/services"]["get"]["parameters"] if p["name"] == "governorate"
    )
    assert services["schema"]["enum"] == [world.governorate]


def test_the_referral_list_needs_no_box_and_pages(client: FlaskClient, app: Flask, world: World) -> None:
    sender = auth_headers(app, world.mine.caseworker)
    sent = []
    for _ in range(3):
        case_id = open_case(app, world)
        consent = api_consent(client, sender, case_id, world).get_json()["id"]
        sent.append(api_refer(client, sender, case_id, world, consent).get_json()["id"])
    first = client.get(f"{PREFIX}/referrals?limit=2", headers=sender)
    assert first.status_code == 200, first.get_json()
    page = first.get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"{PREFIX}/referrals?limit=2&cursor={page['next_cursor']}", headers=sender).get_json()
    assert rest["next_cursor"] is None
    seen = [r["id"] for r in page["items"] + rest["items"]]
    assert sorted(seen) == sorted(sent) and len(set(seen)) == 3  # newest first, none twice, none lost
    outbox = client.get(f"{PREFIX}/referrals?box=outbox&limit=200", headers=sender).get_json()["items"]
    assert {r["id"] for r in outbox} == set(sent)
    inbox = client.get(f"{PREFIX}/referrals?box=inbox", headers=sender).get_json()["items"]
    assert inbox == []
    assert client.get(f"{PREFIX}/referrals?box=inbox&box=outbox", headers=sender).status_code == 400


def test_a_consent_without_purpose_is_refused_and_a_rule_is_a_422(
    client: FlaskClient, app: Flask, world: World
) -> None:
    sender = auth_headers(app, world.mine.caseworker)
    case_id = open_case(app, world)
    body = {"organization_ids": [world.other.id], "field_groups": ["contact"], "method": "verbal"}
    missing = client.post(f"{PREFIX}/cases/{case_id}/consents", json=body, headers=sender)
    assert missing.status_code == 400 and missing.get_json()["error"]["fields"]["purpose"] == "required"
    unknown = {**body, "purpose": "legal aid", "organization_ids": ["00000000-0000-4000-8000-000000000000"]}
    refused = client.post(f"{PREFIX}/cases/{case_id}/consents", json=unknown, headers=sender)
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "rule_refused" and error["fields"] == {"organization_ids": "unknown"}


def test_a_made_up_cursor_is_a_422_naming_it(client: FlaskClient, app: Flask, world: World) -> None:
    sender = auth_headers(app, world.mine.caseworker)
    for path in (
        "/referrals",
        "/cases",
        "/followups",
        "/directory/services",
        "/directory/organizations",
        "/notifications",
    ):
        answer = client.get(f"{PREFIX}{path}?cursor=AAAA", headers=sender)
        assert answer.status_code == 422, (path, answer.get_json())
        assert answer.get_json()["error"]["fields"] == {"cursor": "invalid cursor"}, path
        first = client.get(
            f"{PREFIX}{path}?cursor=", headers=sender
        )  # empty: the first page (a 500 on PostgreSQL once)
        assert first.status_code == 200, (path, first.get_json())
