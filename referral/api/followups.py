"""API v1 follow-up routes (API.md): add a follow-up to a case, list your own by due window,
read one (with its notes; audited), complete it (optionally with the next one, in one step),
cancel it, and move it to another time or person. Notes appear only when one follow-up is read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..extensions import db
from ..followups import services
from ..followups.models import KINDS, STATES, FollowUp
from . import api_bp
from .openapi import IF_MATCH, _errors, _json, _query, _ref, describe
from .schemas import LIST_QUERY, UUID, page_of
from .validation import expected_version, json_body, query_params

TIME = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
    "description": "UTC, e.g. 2026-11-29T10:00:00Z",
}
NOTE = {"type": "string", "maxLength": services.NOTE_LIMIT, "description": "Confidential: stored encrypted"}
KIND = {"type": "string", "enum": list(KINDS)}

FOLLOWUP_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["due_at", "kind"],
    "properties": {
        "due_at": TIME,
        "kind": KIND,
        "assignee_id": {**UUID, "description": "Default: the case owner. Must be on the case team or a supervisor"},
        "note": NOTE,
        "referral_id": {**UUID, "description": "One of the case's referrals, if the task is about it"},
    },
}
FOLLOWUP_COMPLETE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "note": {**NOTE, "description": "What was done (encrypted)"},
        "next": {**FOLLOWUP_CREATE, "description": "The next follow-up, added in the same step"},
    },
}
FOLLOWUP_CANCEL: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
FOLLOWUP_UPDATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {"due_at": TIME, "assignee_id": UUID},
}
FOLLOWUP_LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "due": {
            "type": "string",
            "enum": list(services.DUE_FILTERS),
            "description": "overdue: past due; today: from now to local midnight; week: from now to the end of"
            " the sixth day after today (days in the network's time zone). Without it: all open ones.",
        },
    },
}
_OPTIONAL_TIME = {"anyOf": [TIME, {"type": "null"}]}
_OPTIONAL_UUID = {"anyOf": [UUID, {"type": "null"}]}
FOLLOWUP: dict[str, Any] = {
    "type": "object",
    "required": ["id", "case_id", "case_code", "kind", "due_at", "assignee_id", "state", "has_note", "version"],
    "properties": {
        "id": UUID,
        "case_id": UUID,
        "case_code": {"type": "string"},
        "referral_id": _OPTIONAL_UUID,
        "kind": KIND,
        "due_at": TIME,
        "assignee_id": UUID,
        "state": {"type": "string", "enum": list(STATES)},
        "has_note": {"type": "boolean"},
        "note": {"type": ["string", "null"], "description": "Only when one follow-up is read"},
        "done_note": {"type": ["string", "null"], "description": "Only when one follow-up is read"},
        "follows_id": _OPTIONAL_UUID,
        "created_by": UUID,
        "created_at": TIME,
        "done_by": _OPTIONAL_UUID,
        "done_at": _OPTIONAL_TIME,
        "cancelled_by": _OPTIONAL_UUID,
        "cancelled_at": _OPTIONAL_TIME,
        "version": {"type": "integer"},
    },
}
FOLLOWUP_COMPLETED: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/FollowUp"},
        {
            "type": "object",
            "required": ["next"],
            "properties": {"next": {"anyOf": [{"$ref": "#/components/schemas/FollowUp"}, {"type": "null"}]}},
        },
    ]
}


# ---------------------------------------------------------------------------------- helpers
def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return json_body(schema, empty_is_object=True)


def _input(body: dict[str, Any]) -> services.FollowUpInput:
    return services.FollowUpInput(
        due_at=_time(body.get("due_at")),
        kind=body.get("kind"),
        assignee_id=body.get("assignee_id"),
        note=body.get("note"),
        referral_id=body.get("referral_id"),
    )


def _item(followup: FollowUp, *, notes: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": followup.id,
        "case_id": followup.case_id,
        "case_code": followup.case_code,
        "referral_id": followup.referral_id,
        "kind": followup.kind,
        "due_at": _iso(followup.due_at),
        "assignee_id": followup.assignee_id,
        "state": followup.state,
        "has_note": bool(followup.note),
        "follows_id": followup.follows_id,
        "created_by": followup.created_by,
        "created_at": _iso(followup.created_at),
        "done_by": followup.done_by,
        "done_at": _iso(followup.done_at),
        "cancelled_by": followup.cancelled_by,
        "cancelled_at": _iso(followup.cancelled_at),
        "version": followup.version,
    }
    if notes:
        out["note"] = followup.note
        out["done_note"] = followup.done_note
    return out


def _answer(body: dict[str, Any], followup: FollowUp, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(followup.version))
    return response


# ---------------------------------------------------------------------------------- routes
@api_bp.post("/cases/<uuid:case_id>/followups")
def create_followup(case_id: uuid.UUID) -> Response:
    body = _body(FOLLOWUP_CREATE)
    followup = services.create(db.session, g.api_user, str(case_id), _input(body))
    response = _answer(_item(followup), followup, 201)
    response.headers["Location"] = f"{api_bp.url_prefix}/followups/{followup.id}"
    return response


@api_bp.get("/followups")
def list_followups() -> Response:
    params = query_params(request.args, FOLLOWUP_LIST_QUERY)
    page = services.listing(
        db.session, g.api_user, due=params.get("due"), limit=params.get("limit", 50), cursor=params.get("cursor")
    )
    return jsonify({"items": [_item(f) for f in page.items], "next_cursor": page.next_cursor})


@api_bp.get("/followups/<uuid:followup_id>")
def get_followup(followup_id: uuid.UUID) -> Response:
    query_params(request.args, {"type": "object", "additionalProperties": False})
    followup = services.view(db.session, g.api_user, str(followup_id))
    return _answer(_item(followup, notes=True), followup)


@api_bp.post("/followups/<uuid:followup_id>/complete")
def complete_followup(followup_id: uuid.UUID) -> Response:
    body = _body(FOLLOWUP_COMPLETE)
    done, following = services.complete(
        db.session,
        g.api_user,
        str(followup_id),
        note=body.get("note"),
        next_followup=_input(body["next"]) if "next" in body else None,
        expected_version=expected_version(),
    )
    return _answer({**_item(done), "next": _item(following) if following else None}, done)


@api_bp.post("/followups/<uuid:followup_id>/cancel")
def cancel_followup(followup_id: uuid.UUID) -> Response:
    _body(FOLLOWUP_CANCEL)
    followup = services.cancel(db.session, g.api_user, str(followup_id), expected_version=expected_version())
    return _answer(_item(followup), followup)


@api_bp.patch("/followups/<uuid:followup_id>")
def update_followup(followup_id: uuid.UUID) -> Response:
    body = _body(FOLLOWUP_UPDATE)
    followup = services.reschedule(
        db.session,
        g.api_user,
        str(followup_id),
        due_at=_time(body.get("due_at")),
        assignee_id=body.get("assignee_id"),
        expected_version=expected_version(),
    )
    return _answer(_item(followup), followup)


# ---------------------------------------------------------------------------------- OpenAPI
def _paths() -> dict[str, Any]:
    case_id = {"name": "id", "in": "path", "required": True, "description": "The case's id", "schema": UUID}
    followup_id = {"name": "id", "in": "path", "required": True, "description": "The follow-up's id", "schema": UUID}
    if_match = IF_MATCH
    one = _json(_ref("FollowUp"), "The follow-up (ETag: its version)")

    def body(name: str, description: str, required: bool = True) -> dict[str, Any]:
        content = {"application/json": {"schema": _ref(name)}}
        return {"required": required, "description": description, "content": content}

    return {
        "/cases/{id}/followups": {
            "post": {
                "summary": "Add a follow-up to an open case (case team or a supervisor of its organisation)",
                "parameters": [case_id],
                "requestBody": body("FollowUpCreate", "When, what, for whom (default: the case owner), a note"),
                "responses": {"201": one, **_errors(400, 401, 404, 409)},
            }
        },
        "/followups": {
            "get": {
                "summary": "Your open follow-ups, soonest first, by due window; no notes in lists",
                "parameters": _query(FOLLOWUP_LIST_QUERY),
                "responses": {"200": _json(_ref("FollowUpPage"), "A page"), **_errors(400, 401)},
            }
        },
        "/followups/{id}": {
            "get": {
                "summary": "One follow-up with its notes (audited as a view)",
                "parameters": [followup_id],
                "responses": {"200": one, **_errors(400, 401, 404)},
            },
            "patch": {
                "summary": "Move an open follow-up to another time and/or person",
                "parameters": [followup_id, if_match],
                "requestBody": body("FollowUpUpdate", "The new due time and/or assignee"),
                "responses": {"200": one, **_errors(400, 401, 404, 409)},
            },
        },
        "/followups/{id}/complete": {
            "post": {
                "summary": "Mark done (assignee or case team); with `next`, add the next one in the same step",
                "parameters": [followup_id, if_match],
                "requestBody": body("FollowUpComplete", "An optional note and next follow-up", required=False),
                "responses": {
                    "200": _json(_ref("FollowUpCompleted"), "Done, with the next follow-up or null"),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
        "/followups/{id}/cancel": {
            "post": {
                "summary": "Cancel an open follow-up (case team or a supervisor of its organisation)",
                "parameters": [followup_id, if_match],
                "requestBody": body("FollowUpCancel", "Nothing", required=False),
                "responses": {"200": one, **_errors(400, 401, 404, 409)},
            }
        },
    }


describe(
    _paths,
    {
        "FollowUpCreate": FOLLOWUP_CREATE,
        "FollowUpComplete": FOLLOWUP_COMPLETE,
        "FollowUpCancel": FOLLOWUP_CANCEL,
        "FollowUpUpdate": FOLLOWUP_UPDATE,
        "FollowUp": FOLLOWUP,
        "FollowUpCompleted": FOLLOWUP_COMPLETED,
        "FollowUpPage": page_of(_ref("FollowUp")),
    },
)
