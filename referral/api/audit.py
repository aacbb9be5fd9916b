"""GET /audit/events: the audit trail for auditors, filtered and paged (the workspace's search)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..audit import search
from ..audit.actions import OUTCOMES
from ..audit.models import AuditEvent
from ..extensions import db
from ..replica import reporting
from . import api_bp
from .openapi import _errors, _json, _query, _ref, describe
from .schemas import LIST_QUERY, TIME, page_of
from .validation import query_params

_UUID_PARAM = {
    "type": "string",
    "format": "uuid",
    "pattern": "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
}
_NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}
_HEX = {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 in hex; null until sealed"}

AUDIT_EVENTS_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "user_id": {**_UUID_PARAM, "description": "The acting user"},
        "organization_id": {
            **_UUID_PARAM,
            "description": "Events on the organisation's objects or cases, or done by its staff",
        },
        "case_code": {"type": "string", "maxLength": 32, "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*$"},
        "action": {
            "type": "string",
            "maxLength": 48,
            "pattern": r"^[a-z_]+\.(\*|[a-z_]+)$",
            "description": "An action name (`case.view`), or a domain (`case.*`)",
        },
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "since": {**TIME, "description": "From this time (included)"},
        "until": {**TIME, "description": "Up to this time (excluded)"},
        "flag": {
            "type": "string",
            "enum": list(search.LISTED_FLAGS),
            "description": "Only flagged events; `out_of_hours` needs a window of at most 31 days",
        },
    },
}

AUDIT_EVENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id",
        "occurred_at",
        "action",
        "outcome",
        "actor_id",
        "actor_role",
        "actor_organization_id",
        "organization_id",
        "object_type",
        "object_id",
        "case_code",
        "route",
        "request_id",
        "reason",
        "details",
        "chain_position",
        "prev_hash",
        "event_hash",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid", "description": "The event's id"},
        "occurred_at": {"type": "string", "format": "date-time", "description": "UTC, to the microsecond"},
        "action": {"type": "string"},
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "actor_id": _NULLABLE_UUID,
        "actor_role": {"type": ["string", "null"]},
        "actor_organization_id": _NULLABLE_UUID,
        "organization_id": {**_NULLABLE_UUID, "description": "The organisation the object belongs to"},
        "object_type": {"type": ["string", "null"]},
        "object_id": {"type": ["string", "null"]},
        "case_code": {"type": ["string", "null"]},
        "route": {"type": ["string", "null"], "description": "The endpoint that wrote it"},
        "request_id": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"]},
        "details": {"type": "object", "description": "Ids, codes and counts only"},
        "chain_position": {"type": ["integer", "null"]},
        "prev_hash": _HEX,
        "event_hash": _HEX,
    },
}


def _item(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.event_id,
        "occurred_at": search.timestamp(e.occurred_at),
        "action": e.action,
        "outcome": e.outcome,
        "actor_id": e.actor_id,
        "actor_role": e.actor_role,
        "actor_organization_id": e.actor_organization_id,
        "organization_id": e.organization_id,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "case_code": e.case_code,
        "route": e.route,
        "request_id": e.request_id,
        "reason": e.reason,
        "details": e.details or {},
        "chain_position": e.chain_position,
        "prev_hash": e.prev_hash.hex() if e.prev_hash else None,
        "event_hash": e.event_hash.hex() if e.event_hash else None,
    }


@api_bp.get("/audit/events")
def audit_events() -> Response:
    search.require_reader(db.session, g.api_user, "search")  # a role that may never read it: 403 first
    params = query_params(request.args, AUDIT_EVENTS_QUERY)
    filters = search.parse_filters(params)
    limit, cursor = params.get("limit", search.DEFAULT_LIMIT), params.get("cursor")
    page = reporting(lambda read: search.search(db.session, g.api_user, filters, limit=limit, cursor=cursor, read=read))
    return jsonify({"items": [_item(e) for e in page.items], "next_cursor": page.next_cursor})


describe(
    lambda: {
        "/audit/events": {
            "get": {
                "summary": "The audit trail, newest first (auditors; the search is itself audited). "
                "Event metadata only: ids, codes, roles, routes, never case content",
                "parameters": _query(AUDIT_EVENTS_QUERY),
                "responses": {"200": _json(_ref("AuditEventPage"), "A page"), **_errors(400, 401, 403)},
            }
        }
    },
    {"AuditEvent": AUDIT_EVENT, "AuditEventPage": page_of(_ref("AuditEvent"))},
)
