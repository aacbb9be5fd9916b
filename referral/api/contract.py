"""What the OpenAPI document says beyond the schemas the code validates with, in one place.

The schemas in schemas.py, referrals.py, followups.py and audit.py are what each route validates
its input with. A few rules live in code instead (the text rules of referral/text.py, a case code
or an identifier in `q`, one receiver per referral, a consent naming organisations or sectors)
and a few answers can come from any route (429, 503, 413). `tighten` writes them into the
document, so that a request the document allows is one the code accepts, and every status a
route can return is listed. tests/api/test_openapi_contract.py and the fuzzing test hold the two
to each other.
"""

from __future__ import annotations

import copy
from typing import Any

from ..audit.actions import ACTIONS
from ..audit.search import DOMAINS
from ..cases.services import IDENTIFIER_DIGITS
from ..text import FREE_TEXT_PATTERN, IDENTIFYING_FIELDS, NAME_PATTERN

_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}

# Statuses any route can return, with what they mean there.
_ANY_ROUTE = {
    "400": "Bad input (a `fields` map names each bad or unknown field)",
    "401": "No or bad token",
    "429": "Rate limited (`rate_limited`): per token and per client address; see Retry-After",
    "503": "The database stayed busy past its wait (`busy`); nothing was saved; see Retry-After",
}
_WITH_BODY = {
    "413": "The body is larger than the configured limit (`too_large`)",
    "422": "Well-formed, but a rule refused it (`rule_refused`, with `fields`): an unknown object, "
    "a time already past, a rule of consent",
}
_WITH_CURSOR = {"422": "The cursor names no page this API gave out (`rule_refused`, `fields.cursor`)"}
_WITH_IF_MATCH = {"412": "The object changed since the version named by If-Match (`precondition_failed`)"}
# Routes that read encrypted case values: a value failing its integrity check is a 409.
_ENCRYPTED = ("/cases", "/consents", "/referrals", "/followups")
_INTEGRITY = "A stored value failed its integrity check (`integrity_error`, `fields` names them), or a conflict"

# `If-Match`: what api/validation.py expected_version() reads.
IF_MATCH_SCHEMA = {"type": "string", "pattern": r'^\s*(\*|"[0-9]{1,18}"|[0-9]{1,18})\s*$'}

# GET /cases `q`: a case code (three letters, year, number, any letter case), or text holding
# fewer digits than an identifier has (cases/services.py looks_like_identifier).
CASE_QUERY_PATTERN = rf"^(\s*[A-Za-z]+-[0-9]+-[0-9]+\s*|\D*(\d\D*){{0,{IDENTIFIER_DIGITS - 1}}})$"

# Query parameters with a rule the code checks after the schema: (path, method, name) -> rule.
_QUERY_RULES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/cases", "get", "q"): {"allOf": [{"pattern": CASE_QUERY_PATTERN}]},
    ("/audit/events", "get", "action"): {"enum": sorted(ACTIONS) + sorted(f"{d}.*" for d in DOMAINS)},
}

# Rules between fields that the services check, stated for clients.
_CROSS_FIELD: dict[str, dict[str, Any]] = {
    "ConsentCreate": {
        "anyOf": [
            {"required": ["organization_ids"], "properties": {"organization_ids": {"minItems": 1}}},
            {"required": ["sectors"], "properties": {"sectors": {"minItems": 1}}},
        ],
        "allOf": [{"properties": {"purpose": {"pattern": r"\S"}}}],  # not blank
    },
    "ReferralCreate": {
        "oneOf": [
            {"required": ["to_organization_id"], "not": {"required": ["external_provider"]}},
            {  # a provider outside the network has no service in the directory
                "required": ["external_provider"],
                "not": {"anyOf": [{"required": ["to_organization_id"]}, {"required": ["service_id"]}]},
            },
        ],
        "allOf": [{"properties": {"reason": {"pattern": r"\S"}}}],  # not blank
    },
}


def _ascii_only(pattern: str) -> bool:
    """Whether a pattern already admits printable ASCII only (a code, a date): no rule to add."""
    return (
        pattern.startswith("^")
        and pattern.endswith("$")
        and "\\S" not in pattern
        and "." not in pattern
        and "\\D" not in pattern
        and "[^" not in pattern
    )


def _has_string(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def text_rules(schema: Any, key: str = "") -> None:
    """Give every free string inside `schema` the pattern of its field's kind (in place)."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    if _has_string(schema) and not {"enum", "const", "format"} & schema.keys():
        rule = NAME_PATTERN if key in IDENTIFYING_FIELDS else FREE_TEXT_PATTERN
        if "pattern" not in schema:
            schema["pattern"] = rule
        elif not _ascii_only(schema["pattern"]) and {"pattern": rule} not in schema.setdefault("allOf", []):
            schema["allOf"].append({"pattern": rule})
    for name, item in schema.get("properties", {}).items():
        text_rules(item, name)
    if "items" in schema:
        text_rules(schema["items"], key)
    for combined in ("anyOf", "oneOf", "allOf"):
        for item in schema.get(combined, []):
            text_rules(item, key)


def _refs(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                found.add(ref.rsplit("/", 1)[1])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _closure(names: set[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return seen


def _add(responses: dict[str, Any], statuses: dict[str, str], headers: dict[str, Any] | None = None) -> None:
    for status, description in statuses.items():
        if status not in responses:
            answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ERROR}}}
            if headers and status in ("429", "503"):
                answer["headers"] = headers
            responses[status] = answer


def tighten(document: dict[str, Any], governorates: list[str] | None = None) -> dict[str, Any]:
    """A copy of `document` with the rules above written in."""
    doc = copy.deepcopy(document)
    schemas = doc["components"]["schemas"]
    requested: set[str] = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"] = dict(operation.get("responses", {}))  # routes share answers
            _add(responses, _ANY_ROUTE, _RETRY_AFTER)
            if "requestBody" in operation:
                _add(responses, _WITH_BODY)
                requested |= _refs(operation["requestBody"])
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "cursor":
                    _add(responses, _WITH_CURSOR)
                if parameter["name"] == "If-Match":
                    parameter["schema"] = dict(IF_MATCH_SCHEMA)
                    _add(responses, _WITH_IF_MATCH)
                elif parameter["in"] == "query":
                    parameter["schema"].update(copy.deepcopy(_QUERY_RULES.get((path, method, parameter["name"]), {})))
                    text_rules(parameter["schema"], parameter["name"])
                requested |= _refs(parameter.get("schema"))
            if path.startswith(_ENCRYPTED) and "409" not in responses:
                _add(responses, {"409": _INTEGRITY})
    for name in _closure(requested, schemas):
        text_rules(schemas[name])
    _link(doc)
    for name, rules in _CROSS_FIELD.items():
        if name in schemas:
            schemas[name].update(copy.deepcopy(rules))
    if governorates:
        for name in _closure(requested, schemas):
            for prop_name, prop in schemas[name].get("properties", {}).items():
                if prop_name == "governorate":
                    _served(prop, governorates)
        for item in doc["paths"].values():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "governorate":
                        _served(parameter["schema"], governorates)
    return doc


def _op(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


# What a created object leads to: (path, method, status) -> {link name: (target path, method, parameters, body)}.
_BY_ID = {"id": "$response.body#/id"}
_LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str], dict[str, str] | None]]] = {
    ("/cases", "post", "201"): {
        "ReadCase": ("/cases/{id}", "get", _BY_ID, None),
        "ChangeCase": ("/cases/{id}", "patch", _BY_ID, None),
        "RecordConsent": ("/cases/{id}/consents", "post", _BY_ID, None),
        "PlanFollowUp": ("/cases/{id}/followups", "post", _BY_ID, None),
    },
    ("/cases/{id}/consents", "post", "201"): {
        "WithdrawConsent": ("/consents/{id}/withdraw", "post", _BY_ID, None),
        "Refer": ("/referrals", "post", {}, {"case_id": "$response.body#/case_id", "consent_id": "$response.body#/id"}),
    },
    ("/referrals", "post", "201"): {
        "ReadReferral": ("/referrals/{id}", "get", _BY_ID, None),
        **{
            f"{action.capitalize()}Referral": (f"/referrals/{{id}}/{action}", "post", _BY_ID, None)
            for action in ("accept", "decline", "start", "complete", "withdraw", "close")
        },
    },
    ("/cases/{id}/followups", "post", "201"): {
        "ReadFollowUp": ("/followups/{id}", "get", _BY_ID, None),
        "ChangeFollowUp": ("/followups/{id}", "patch", _BY_ID, None),
        "CompleteFollowUp": ("/followups/{id}/complete", "post", _BY_ID, None),
        "CancelFollowUp": ("/followups/{id}/cancel", "post", _BY_ID, None),
    },
}


def _link(doc: dict[str, Any]) -> None:
    """OpenAPI links from each created object to what can be done with it (clients and the
    fuzzer's stateful runs follow them)."""
    for (path, method, status), links in _LINKS.items():
        answer = doc["paths"].get(path, {}).get(method, {}).get("responses", {}).get(status)
        if answer is None:
            continue
        answer = doc["paths"][path][method]["responses"][status] = dict(answer)
        answer["links"] = {}
        for name, (target, target_method, parameters, body) in links.items():
            if target not in doc["paths"] or target_method not in doc["paths"][target]:
                continue
            link: dict[str, Any] = {"operationRef": _op(target, target_method)}
            if parameters:
                link["parameters"] = dict(parameters)
            if body:
                link["requestBody"] = dict(body)
            answer["links"][name] = link


def _served(schema: dict[str, Any], governorates: list[str]) -> None:
    """A governorate in a request names one of the deployment's networks."""
    schema.pop("pattern", None)
    schema.pop("examples", None)
    schema["enum"] = sorted(governorates)
