"""API v1 consent and referral routes (API.md): record and withdraw consent; send, list, read
and move referrals through their states. Each validates against a published schema and calls
the services; the receiving side sees only what the referral shares, while it is open.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..cases import consent as consents
from ..cases.models import FIELD_GROUPS
from ..enums import SECTORS
from ..errors import InvalidInput
from ..extensions import db
from ..pagination import encode_cursor
from ..referrals import disclosure, receiving
from ..referrals import services as referrals
from ..referrals.models import DECLINE_REASONS, PRIORITIES, STATES, Referral
from ..referrals.transfers import history_only
from . import api_bp
from .schemas import LIST_QUERY, NOT_SHARED, SHARED, TIME, UUID, page_of
from .validation import NOT_VALID, expected_version, json_body, query_params, validate

GROUPS = {"type": "array", "items": {"type": "string", "enum": list(FIELD_GROUPS)}, "minItems": 1, "uniqueItems": True}

CONSENT_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["field_groups", "method", "purpose"],
    "properties": {
        "organization_ids": {"type": "array", "items": UUID, "uniqueItems": True},
        "sectors": {"type": "array", "items": {"type": "string", "enum": list(SECTORS)}, "uniqueItems": True},
        "field_groups": GROUPS,
        "method": {"type": "string", "enum": ["written", "verbal"]},
        "given_by": {"type": "string", "enum": ["survivor", "caregiver"]},
        "purpose": {"type": "string", "minLength": 1, "maxLength": 2000},
        "expires_at": TIME,
        "withheld": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["organization_id", "field_groups"],
                "properties": {"organization_id": UUID, "field_groups": GROUPS},
            },
        },
        "minor_assent": {"type": "boolean"},
        "best_interest_reason": {"type": "string", "maxLength": 2000},
    },
}
CONSENT = {
    "type": "object",
    "required": ["id", "case_id", "field_groups", "method", "expires_at", "withdrawn_at"],
    "properties": {
        "id": UUID,
        "case_id": UUID,
        "given_by": {"type": "string"},
        "method": {"type": "string"},
        "organization_ids": {"type": "array", "items": UUID},
        "sectors": {"type": "array", "items": {"type": "string"}},
        "field_groups": {"type": "array", "items": {"type": "string"}},
        "recorded_at": TIME,
        "expires_at": TIME,
        "withdrawn_at": {"anyOf": [TIME, {"type": "null"}]},
        "minor": {"type": "boolean"},
    },
}
EXTERNAL_PROVIDER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "sector"],
    "description": "A provider outside the network (not on Shabaka): its name (kept encrypted) and sector",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "sector": {"type": "string", "enum": list(SECTORS)},
    },
}
NOTE = {
    "type": "string",
    "maxLength": 5000,
    "description": "Required for a referral outside the network: what the provider answered or did",
}
REFERRAL_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["case_id", "priority", "reason", "field_groups"],
    "description": "Exactly one of `to_organization_id` (a member organisation) and `external_provider`. "
    "An external provider is reached only by a consent that covers its sector.",
    "properties": {
        "case_id": UUID,
        "to_organization_id": UUID,
        "external_provider": EXTERNAL_PROVIDER,
        "service_id": UUID,
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "reason": {"type": "string", "minLength": 1, "maxLength": 5000},
        "field_groups": GROUPS,
        "consent_id": UUID,
        "override_legal_basis": {"type": "string", "enum": list(referrals.LEGAL_BASES)},
    },
}
TRANSITION_BODIES = {
    "accept": {"type": "object", "additionalProperties": False, "properties": {"note": NOTE}},
    "start": {"type": "object", "additionalProperties": False, "properties": {"note": NOTE}},
    "decline": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason_code"],
        "properties": {"reason_code": {"type": "string", "enum": list(DECLINE_REASONS)}, "note": NOTE},
    },
    "complete": {
        "type": "object",
        "additionalProperties": False,
        "required": ["outcome"],
        "properties": {"outcome": {"type": "string", "minLength": 1, "maxLength": 5000}, "note": NOTE},
    },
    "close": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 32}, "note": NOTE},
    },
    "withdraw": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 32}, "note": NOTE},
    },
}
TARGET_STATES = {
    "accept": "accepted",
    "decline": "declined",
    "start": "in_progress",
    "complete": "completed",
    "close": "closed_unresolved",
    "withdraw": "withdrawn",
}
REFERRAL = {
    "type": "object",
    "required": ["id", "case_code", "state", "priority", "due_at", "transitions"],
    "properties": {
        "id": UUID,
        "case_id": {"anyOf": [UUID, {"type": "null"}], "description": "null once the case has moved on"},
        "case_code": {"type": "string"},
        "from_organization_id": UUID,
        "to_organization_id": {"anyOf": [UUID, {"type": "null"}]},
        "external_provider": {
            "anyOf": [
                {
                    "type": "object",
                    "required": ["name", "sector"],
                    "properties": {"name": {"type": ["string", "null"]}, "sector": {"type": "string"}},
                },
                {"type": "null"},
            ],
            "description": "For a referral outside the network, to the sending side (the name only on a single read)",
        },
        "service_id": {"anyOf": [UUID, {"type": "null"}]},
        "state": {"type": "string", "enum": list(STATES)},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "field_groups": {"type": "array", "items": {"type": "string"}},
        "due_at": {"anyOf": [TIME, {"type": "null"}]},
        "decline_reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "reason": {"type": ["string", "null"]},
        "outcome": {"type": ["string", "null"]},
        "assigned_to": {"anyOf": [UUID, {"type": "null"}]},
        "version": {"type": "integer"},
        "shared": SHARED,
        "not_shared": NOT_SHARED,
        "transitions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["to_state", "at", "organization_id"],
                "properties": {
                    "from_state": {"type": ["string", "null"]},
                    "to_state": {"type": "string"},
                    "at": TIME,
                    "organization_id": UUID,
                    "actor_id": UUID,
                    "reason": {"type": ["string", "null"]},
                    "note": {"type": ["string", "null"], "description": "The sender's note (outside the network)"},
                },
            },
        },
    },
}
LOG_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "description": "A progress entry of the service, by the receiving organisation, while the referral is "
    "accepted or in progress (else 409 `referral_not_in_service`). Confidential: encrypted under the "
    "receiving organisation's key; read by the sending side's case team and the receiving side.",
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": receiving.TEXT_LIMIT, "description": "What was done"},
        "next_step": {"type": "string", "maxLength": receiving.NEXT_STEP_LIMIT, "description": "What comes next"},
    },
}
LOG_ENTRY = {
    "type": "object",
    "required": ["id", "at", "text", "next_step", "organization_id", "author_id"],
    "properties": {
        "id": UUID,
        "at": TIME,
        "text": {"type": "string"},
        "next_step": {"type": ["string", "null"]},
        "organization_id": UUID,
        "author_id": UUID,
    },
}
OWN_CASE = {
    "type": "object",
    "required": ["id", "case_code", "referral_id"],
    "description": "The receiving organisation's own case file, opened from the referral",
    "properties": {"id": UUID, "case_code": {"type": "string"}, "referral_id": UUID},
}
REFERRAL["properties"]["log"] = {  # type: ignore[index]
    "type": "array",
    "items": {"$ref": "#/components/schemas/ReferralLogEntry"},
    "description": "The receiving side's service log, oldest first (empty for a sender whose case moved on)",
}
REFERRAL["properties"]["assignments"] = {  # type: ignore[index]
    "type": "array",
    "items": {
        "type": "object",
        "required": ["at", "user_id", "assigned_by"],
        "properties": {
            "at": TIME,
            "user_id": {"anyOf": [UUID, {"type": "null"}]},
            "assigned_by": {"anyOf": [UUID, {"type": "null"}]},
        },
    },
    "description": "Each (re)assignment inside the receiving organisation, oldest first; the people are "
    "named (by id) to the receiving side only, null for the sending side",
}
REFERRAL["properties"]["receiver_case_id"] = {  # type: ignore[index]
    "anyOf": [UUID, {"type": "null"}],
    "description": "To the receiving organisation: its own case file opened from this referral",
}
BOX_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "box": {
            "type": "string",
            "enum": list(referrals.BOXES),
            "default": "all",
            "description": "`inbox`: referrals to your organisation; `outbox`: from it; `all` (the default): both",
        },
        "state": {
            "type": "string",
            "enum": list(referrals.FILTER_STATES),
            "description": "Only this state; `overdue`: sent and unanswered past its target",
        },
        "priority": {"type": "string", "enum": list(referrals.PRIORITIES), "description": "Only this priority"},
        "assigned": {"type": "string", "enum": ["me"], "description": "`me`: only those assigned to you"},
        "news": {
            "type": "string",
            "enum": ["1"],
            "description": "`1`: only those on which the other side made a step in the last 7 days",
        },
        **LIST_QUERY["properties"],
    },
}
# A box's entry: the referral without its timeline and what it shares (read one for those).
REFERRAL_SUMMARY = {**REFERRAL, "required": [n for n in REFERRAL["required"] if n != "transitions"]}
SCHEMAS = {
    "ConsentCreate": CONSENT_CREATE,
    "Consent": CONSENT,
    "ReferralCreate": REFERRAL_CREATE,
    "Referral": REFERRAL,
    "ReferralSummary": REFERRAL_SUMMARY,
    "ReferralPage": page_of({"$ref": "#/components/schemas/ReferralSummary"}),
    "ReferralLogCreate": LOG_CREATE,
    "ReferralLogEntry": LOG_ENTRY,
    "ReferralOwnCase": OWN_CASE,
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return json_body(schema, empty_is_object=True)


def _consent(consent: Any) -> dict[str, Any]:
    return {
        "id": consent.id,
        "case_id": consent.case_id,
        "given_by": consent.given_by,
        "method": consent.method,
        "organization_ids": list(consent.organization_ids),
        "sectors": list(consent.sectors),
        "field_groups": list(consent.field_groups),
        "recorded_at": _iso(consent.recorded_at),
        "expires_at": _iso(consent.expires_at),
        "withdrawn_at": _iso(consent.withdrawn_at),
        "minor": consent.minor,
    }


def _referral(referral: Referral, shown: disclosure.Disclosure | None, sender: bool) -> dict[str, Any]:
    """The referral; `shown` is what of the case it discloses to the reader (None in a list)."""
    groups = shown.codes if shown is not None else frozenset()
    external = None
    if referral.external and sender:
        external = {"name": referral.external_provider, "sector": referral.external_sector}
    return {
        "id": referral.id,
        "case_id": referral.case_id if sender else None,
        "case_code": referral.case_code,
        "from_organization_id": referral.from_organization_id,
        "to_organization_id": referral.to_organization_id,
        "external_provider": external,
        "service_id": referral.service_id,
        "state": referral.state,
        "priority": referral.priority,
        "field_groups": list(referral.field_groups),
        "due_at": _iso(referral.due_at),
        "decline_reason": referral.decline_reason,
        "reason": referral.reason if sender or groups else None,
        "outcome": referral.outcome,
        "assigned_to": referral.assigned_to,
        "version": referral.version,
        "shared": disclosure.as_json(shown) if shown is not None else {},
        "not_shared": list(shown.not_shared) if shown is not None else None,
        "transitions": [
            {
                "from_state": t.from_state,
                "to_state": t.to_state,
                "at": _iso(t.at),
                "organization_id": t.organization_id,
                "actor_id": t.actor_id,
                "reason": t.reason,
                "note": t.note if sender else None,
            }
            for t in referral.transitions
        ],
    }


def _log_entry(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "text": entry.text,
        "next_step": entry.next_step,
        "organization_id": entry.organization_id,
        "author_id": entry.author_id,
    }


def _answer(referral: Referral, status: int = 200) -> Response:
    actor = g.api_user
    sender = actor.organization_id == referral.from_organization_id
    past = sender and history_only(referral)  # the case was transferred away: the record only
    body = _referral(referral, disclosure.disclose(db.session, actor, referral), sender and not past)
    body["log"] = [_log_entry(e) for e in receiving.log_for(actor, referral)]
    body["assignments"] = [
        {"at": _iso(row.at), "user_id": row.user_id, "assigned_by": row.actor_id if row.user_id else None}
        for row in receiving.timeline(actor, referral)
        if row.kind == "assigned"
    ]
    own = receiving.own_case_code(db.session, actor, referral)
    body["receiver_case_id"] = own[0] if own else None
    if past:
        body["outcome"] = None
    if not sender or past:
        body.pop("case_id")
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(referral.version))
    return response


# ---------------------------------------------------------------------------------- consent
@api_bp.post("/cases/<uuid:case_id>/consents")
def record_consent(case_id: uuid.UUID) -> Response:
    body = _body(CONSENT_CREATE)
    expires = body.get("expires_at")
    data = consents.ConsentInput(
        given_by=body.get("given_by", "survivor"),
        method=body["method"],
        organization_ids=body.get("organization_ids", []),
        sectors=body.get("sectors", []),
        field_groups=body["field_groups"],
        purpose=body.get("purpose", ""),
        expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
        withheld=body.get("withheld", []),
        minor_assent=body.get("minor_assent"),
        best_interest_reason=body.get("best_interest_reason"),
    )
    consent = consents.record_consent(db.session, g.api_user, str(case_id), data)
    response = jsonify(_consent(consent))
    response.status_code = 201
    return response


@api_bp.post("/consents/<uuid:consent_id>/withdraw")
def withdraw_consent(consent_id: uuid.UUID) -> Response:
    _body({"type": "object", "additionalProperties": False, "properties": {}})
    return jsonify(_consent(consents.withdraw(db.session, g.api_user, str(consent_id))))


# ---------------------------------------------------------------------------------- referrals
def _receiver_problem(body: dict[str, Any]) -> dict[str, str]:
    """Exactly one receiver: a member organisation or a provider outside the network."""
    if "to_organization_id" in body and "external_provider" in body:
        return {"to_organization_id": "exactly_one_receiver", "external_provider": "exactly_one_receiver"}
    if "to_organization_id" not in body and "external_provider" not in body:
        return {"to_organization_id": "required"}
    return {}


@api_bp.post("/referrals")
def send_referral() -> Response:
    body = json_body(empty_is_object=True)
    receiver = _receiver_problem(body)
    try:
        validate(body, REFERRAL_CREATE)
    except InvalidInput as error:
        error.fields = {**receiver, **error.fields}
        raise
    if receiver:
        raise InvalidInput(NOT_VALID, fields=receiver)
    external = body.pop("external_provider", None)
    data = referrals.ReferralInput(
        to_organization_id=body.pop("to_organization_id", None),
        external_provider=external["name"] if external else None,
        external_sector=external["sector"] if external else None,
        **body,
    )
    referral = referrals.create(db.session, g.api_user, data)
    response = _answer(referral, 201)
    response.headers["Location"] = f"{api_bp.url_prefix}/referrals/{referral.id}"
    return response


@api_bp.get("/referrals")
def list_referrals() -> Response:
    params = query_params(request.args, BOX_QUERY)
    actor = g.api_user
    limit = params.get("limit", 50)
    filters, _ = referrals.Filters.parse(
        params.get("state"), params.get("priority"), params.get("assigned"), params.get("news")
    )  # the schema has refused any other value (a field-level 400)
    rows = referrals.listing(
        db.session, actor, params.get("box", "all"), limit=limit, cursor=params.get("cursor"), filters=filters
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for referral in rows:
        sender = actor.organization_id == referral.from_organization_id and not history_only(referral)
        item = _referral(referral, None, sender)
        item.pop("shared")
        item.pop("not_shared")
        item.pop("transitions")
        item["reason"] = None
        item["outcome"] = None
        if item["external_provider"]:
            item["external_provider"]["name"] = None  # the name only on a single, audited read
        items.append(item)
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return jsonify({"items": items, "next_cursor": next_cursor})


@api_bp.get("/referrals/<uuid:referral_id>")
def get_referral(referral_id: uuid.UUID) -> Response:
    query_params(request.args, {"type": "object", "additionalProperties": False})
    return _answer(referrals.view(db.session, g.api_user, str(referral_id)))


@api_bp.post("/referrals/<uuid:referral_id>/log")
def log_progress(referral_id: uuid.UUID) -> Response:
    body = json_body(LOG_CREATE)
    entry = receiving.add_log_entry(db.session, g.api_user, str(referral_id), body["text"], body.get("next_step"))
    response = jsonify(_log_entry(entry))
    response.status_code = 201
    return response


@api_bp.post("/referrals/<uuid:referral_id>/open-case")
def open_own_case(referral_id: uuid.UUID) -> Response:
    _body({"type": "object", "additionalProperties": False, "properties": {}})
    case = receiving.open_own_case(db.session, g.api_user, str(referral_id))
    response = jsonify({"id": case.id, "case_code": case.case_code, "referral_id": str(referral_id)})
    response.status_code = 201
    response.headers["Location"] = f"{api_bp.url_prefix}/cases/{case.id}"
    return response


@api_bp.post("/referrals/<uuid:referral_id>/<action>")
def move_referral(referral_id: uuid.UUID, action: str) -> Response:
    if action not in TARGET_STATES:
        from ..errors import NotFound

        raise NotFound("action")
    body = _body(TRANSITION_BODIES[action])
    expected = expected_version()
    referral = referrals.transition(
        db.session,
        g.api_user,
        str(referral_id),
        TARGET_STATES[action],
        reason=body.get("reason_code") or body.get("reason"),
        outcome=body.get("outcome"),
        note=body.get("note"),
        expected_version=expected,
    )
    return _answer(referral)
