"""GET /notifications: the token user's own in-app notifications, newest first."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..extensions import db
from ..followups import notifications
from ..followups.models import Notification
from ..pagination import pack, unpack_id
from . import api_bp
from .openapi import _errors, _json, _query, _ref, describe
from .schemas import LIST_QUERY, UUID, page_of
from .validation import query_params

NOTIFICATION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "case_code", "text", "target", "created_at", "read_at"],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "kind": {"type": "string", "enum": sorted(notifications.KINDS)},
        "case_code": {"type": ["string", "null"]},
        "text": {"type": "string", "description": "The case code and what happened ('NBL-...: referral accepted')"},
        "target": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"type": {"type": "string"}, "id": UUID},
        },
        "created_at": {"type": "string", "format": "date-time"},
        "read_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _item(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "case_code": row.case_code,
        "text": notifications.text(row),
        "target": {"type": row.target_type, "id": row.target_id} if row.target_type and row.target_id else None,
        "created_at": row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "read_at": row.read_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.read_at else None,
    }


@api_bp.get("/notifications")
def list_notifications() -> Response:
    params = query_params(request.args, LIST_QUERY)
    limit = params.get("limit", 50)
    before = unpack_id(params["cursor"]) if params.get("cursor") else None
    rows = notifications.listing(db.session, g.api_user, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": [_item(r) for r in rows], "next_cursor": pack(rows[-1].id) if more and rows else None})


describe(
    lambda: {
        "/notifications": {
            "get": {
                "summary": "Your in-app notifications, newest first (the case code at most)",
                "parameters": _query(LIST_QUERY),
                "responses": {"200": _json(_ref("NotificationPage"), "A page"), **_errors(400, 401)},
            }
        }
    },
    {"Notification": NOTIFICATION, "NotificationPage": page_of(_ref("Notification"))},
)
