"""A hostile corpus against every API route and the main forms: nothing answers 5xx (issue 11).

Each request is what a careless client or an attacker sends: JSON nested 100,000 deep, unpaired
surrogates, dates that match their pattern but do not exist, odd `If-Match` values, bodies over
the size limit, control characters and direction overrides in names, wrong types, unknown
fields, injection strings, ids that are not ids, absurd paging, wrong methods and odd
credentials. Every answer must be below 500, and every API error must be in the API's error
format (a 400 with its `fields` map, a 405 with `Allow`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Factory
from tests.helpers.audit import Scene
from tests.helpers.cases import World, intake

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50 + "1" + "}" * 50
BAD_TIMES = ["2027-02-30T10:00:00Z", "2027-01-01T24:00:00Z", "0000-01-01T00:00:00Z", "2027-13-01T00:00:00Z",
             "2027-01-01T10:00:60Z", "2027-01-01T10:61:00Z"]  # fmt: skip
BAD_DATES = ["2027-02-30", "0000-01-01", "2027-13-01", "2027-00-10", "1999-02-29"]
NAMES = ["abc\u0000def", "\u001b[31mred", "\u202eevil", "a\u2066b", "x\u0085y", "\u200fname", "tab\tname"]
FREE_TEXT = ["note\u0000", "\u0007bell", "\u001b]0;title\u0007"]
STRINGS = ["' OR 1=1 --", "<script>alert(1)</script>", "{{7*7}}", "../../../etc/passwd", "%00", "\u0000", "x" * 100_000]
IF_MATCH = ['"999"', "garbage", "", '"', 'W/"1"', '"1", "2"', '"99999999999999999999999999"', '"²"', '"١"', "*, x"]
QUERIES = ["limit=-1", "limit=0", "limit=" + "9" * 40, "limit=1.5", "limit=%00", "cursor=" + "A" * 199, "cursor=%ff%fe",
           "cursor=\u0000", "status=%00", "box=%ff", "due=never", "since=yesterday"]  # fmt: skip
LISTS = ["/api/v1/cases", "/api/v1/referrals", "/api/v1/followups", "/api/v1/audit/events", "/api/v1/notifications",
         "/api/v1/directory/services"]  # fmt: skip
IDS = ["not-a-uuid", "..%2F..%2Fetc%2Fpasswd", "00000000-0000-0000-0000-000000000000", "%00", "1" * 300]


@dataclass
class Hostile:
    method: str
    path: str
    body: str | bytes | None = None  # raw, as sent
    headers: dict[str, str] = field(default_factory=dict)
    token: bool = True
    content_type: str = "application/json"


def _json(value: Any) -> str:
    return json.dumps(value)


def _surrogate_json(name: str) -> str:
    return '{"' + name + '": "\\ud800 lone"}'


def corpus(s: Scene) -> Iterator[Hostile]:
    case, referral, followup, consent = s.case_id, s.referral_id, s.followup_id, s.consent_id
    bodies = {
        "/api/v1/cases": ("POST", intake(s.world)),
        f"/api/v1/cases/{case}": ("PATCH", {"risk_level": "high"}),
        "/api/v1/cases/search": ("POST", {"q": s.code}),
        f"/api/v1/cases/{case}/consents": ("POST", {"organization_ids": [s.world.other.id]}),
        f"/api/v1/consents/{consent}/withdraw": ("POST", {}),
        "/api/v1/referrals": ("POST", {"case_id": case, "to_organization_id": s.world.other.id}),
        f"/api/v1/referrals/{referral}/accept": ("POST", {}),
        f"/api/v1/referrals/{referral}/decline": ("POST", {"reason_code": "duplicate"}),
        f"/api/v1/cases/{case}/followups": ("POST", {"kind": "call", "due_at": "2030-01-01T10:00:00Z"}),
        f"/api/v1/followups/{followup}/complete": ("POST", {}),
        f"/api/v1/followups/{followup}/cancel": ("POST", {}),
        f"/api/v1/followups/{followup}": ("PATCH", {"due_at": "2030-01-01T10:00:00Z"}),
    }
    for path, (method, good) in bodies.items():
        yield Hostile(method, path, DEEP)
        yield Hostile(method, path, DEEP_OBJECT)
        yield Hostile(method, path, '{"a": ')  # cut short
        yield Hostile(method, path, "[1, 2]")
        yield Hostile(method, path, '"text"')
        yield Hostile(method, path, "NaN")
        yield Hostile(method, path, b"\xff\xfe\xfa")
        yield Hostile(method, path, _json(good), content_type="text/plain")
        yield Hostile(method, path, _json({**good, "unknown_field": 1}))
        yield Hostile(method, path, b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}')  # over the size limit
        for name in list(good)[:3] or ["note"]:
            yield Hostile(method, path, _surrogate_json(name))
            yield Hostile(method, path, _json({**good, name: {"nested": [1, {"x": None}]}}))
            yield Hostile(method, path, _json({**good, name: 10**400}))
    # dates that match their pattern but do not exist
    for when in BAD_TIMES:
        yield Hostile("POST", f"/api/v1/cases/{case}/followups", _json({"kind": "call", "due_at": when}))
        yield Hostile("PATCH", f"/api/v1/followups/{followup}", _json({"due_at": when}))
        yield Hostile("POST", f"/api/v1/cases/{case}/consents", _json({"expires_at": when}))
        yield Hostile("GET", f"/api/v1/audit/events?since={when}")
    for day in BAD_DATES:
        yield Hostile("POST", "/api/v1/cases", _json({**intake(s.world), "date_of_birth": day}))
        yield Hostile("PATCH", f"/api/v1/cases/{case}", _json({"date_of_birth": day}))
    # names, identifiers and free text
    for text in NAMES:
        yield Hostile("POST", "/api/v1/cases", _json({**intake(s.world), "full_name": text}))
        yield Hostile("PATCH", f"/api/v1/cases/{case}", _json({"phone": text}))
    for text in FREE_TEXT:
        yield Hostile("POST", f"/api/v1/cases/{case}/followups", _json({"kind": "call", "note": text}))
        yield Hostile("POST", f"/api/v1/referrals/{referral}/decline", _json({"reason_code": "other", "note": text}))
    for text in STRINGS:
        yield Hostile("POST", "/api/v1/cases/search", _json({"q": text}))
        yield Hostile("GET", "/api/v1/cases?q=" + text[:200])
        yield Hostile("PATCH", f"/api/v1/cases/{case}", _json({"address": text}))
    # If-Match
    for value in IF_MATCH:
        yield Hostile("PATCH", f"/api/v1/cases/{case}", _json({"risk_level": "low"}), headers={"If-Match": value})
        yield Hostile("POST", f"/api/v1/followups/{followup}/complete", "{}", headers={"If-Match": value})
        yield Hostile("POST", f"/api/v1/referrals/{referral}/accept", "{}", headers={"If-Match": value})
    # ids that are not ids, paging that makes no sense
    for bad in IDS:
        for template in ("/api/v1/cases/{}", "/api/v1/referrals/{}", "/api/v1/followups/{}"):
            yield Hostile("GET", template.format(bad))
        yield Hostile("POST", f"/api/v1/referrals/{bad}/accept", "{}")
    for query in QUERIES:
        for path in LISTS:
            yield Hostile("GET", f"{path}?{query}")
    # wrong methods
    for method, path in (("DELETE", f"/api/v1/cases/{case}"), ("PUT", "/api/v1/cases"), ("POST", "/api/v1/me"),
                         ("PATCH", f"/api/v1/referrals/{referral}"), ("DELETE", "/api/v1/followups")):  # fmt: skip
        yield Hostile(method, path, "{}")
    # odd credentials
    for auth in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 10_000, "Bearer a\u0000b",
                 "bearer  spaced  out", "Bearer \u202etoken"):  # fmt: skip
        yield Hostile("GET", "/api/v1/cases", headers={"Authorization": auth}, token=False)


def _send(s: Scene, item: Hostile) -> Any:
    headers = dict(item.headers)
    if item.token:
        headers["Authorization"] = f"Bearer {s.token('owner')}"
    kwargs: dict[str, Any] = {"method": item.method, "headers": headers}
    if item.body is not None:
        kwargs["data"] = item.body
        kwargs["content_type"] = item.content_type
    return s.app.test_client().open(item.path, **kwargs)


def _format_problem(item: Hostile, response: Any) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}"
    if response.status_code < 400:
        return None
    try:
        error = json.loads(response.get_data())["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} without the API error format"
    if not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
        return f"{response.status_code} without code and message"
    if response.status_code == 400 and not isinstance(error.get("fields"), dict):
        return "400 without a fields map"
    if response.status_code == 405 and "Allow" not in response.headers:
        return "405 without Allow"
    if response.status_code == 413 and error["code"] != "too_large":
        return "413 not too_large"
    return None


@pytest.fixture
def scene(app: Flask, world: World, factory: Factory) -> Iterator[Scene]:
    yield Scene(app, world, factory)


def test_no_hostile_api_request_gets_a_server_error(scene: Scene) -> None:
    items = list(corpus(scene))
    assert len(items) >= 150
    problems, server_errors = [], 0
    for item in items:
        response = _send(scene, item)
        server_errors += response.status_code >= 500
        problem = _format_problem(item, response)
        if problem:
            problems.append(f"{item.method} {item.path[:80]} {str(item.body)[:60]!r} {item.headers}: {problem}")
    print(f"hostile API corpus: {len(items)} requests, {server_errors} server errors, {len(problems)} problems")
    assert problems == []


def test_no_hostile_form_gets_a_server_error(scene: Scene) -> None:
    """The pages: a form with controls, impossible dates or garbage re-renders with an error."""
    web, token = scene.client("owner")
    case = scene.case_id
    forms = [
        ("/cases/new", {**{k: v for k, v in intake(scene.world).items() if isinstance(v, str)}, "full_name": text})
        for text in NAMES
    ]
    forms += [(f"/cases/{case}/edit", {"full_name": "\u202eevil", "date_of_birth": day}) for day in BAD_DATES]
    forms += [(f"/cases/{case}/followups", {"kind": "call", "due_at": day + "T10:00"}) for day in BAD_DATES]
    forms += [
        (f"/cases/{case}/followups", {"kind": "call", "due_at": "2030-01-01T10:00", "note": t}) for t in FREE_TEXT
    ]
    forms += [("/cases", {"q": text}) for text in STRINGS]
    forms += [("/account/tokens", {"days": value, "label": "x\u0000"}) for value in ("٣٠", "３０", "-1", "9" * 30)]
    problems = []
    for path, data in forms:
        response = web.post(path, data={"csrf_token": token, **data})
        if response.status_code >= 500:
            problems.append(f"POST {path} {data}: {response.status_code}")
    print(f"hostile form corpus: {len(forms)} requests, {len(problems)} server errors")
    assert problems == []
