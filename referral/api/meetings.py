"""API v1 network coordination routes (API.md): meetings (list, create, read with agenda,
attendance and approved minutes), attendance, action points (create from a meeting, list,
update). The same services and access rules as the pages; another network's meeting is a 404."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..coordination import services
from ..coordination.models import ACTION_STATUSES, ATTENDANCE, PRIORITIES, ActionPoint, Meeting
from ..directory.models import Network
from ..extensions import db
from ..pagination import decode_cursor, encode_cursor, pack, unpack_id, uuid_text
from . import api_bp
from .openapi import _errors, _json, _query, _ref, describe
from .schemas import GOVERNORATE, LIST_QUERY, TIME, UUID, page_of
from .validation import json_body, query_params

DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "YYYY-MM-DD"}
_NULL_UUID = {"anyOf": [UUID, {"type": "null"}]}
_NULL_TIME = {"anyOf": [TIME, {"type": "null"}]}


def _text(limit: int, description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "maxLength": limit}
    if description:
        out["description"] = description
    return out


AGENDA_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "minutes"],
    "properties": {
        "title": {**_text(services.TITLE_LIMIT), "minLength": 1},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 240},
        "presenter": _text(services.NAME_LIMIT),
    },
}
MEETING_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["network", "title", "starts_at", "agenda"],
    "properties": {
        "network": {**GOVERNORATE, "description": "The network's governorate code"},
        "title": {**_text(services.TITLE_LIMIT), "minLength": 1},
        "starts_at": TIME,
        "duration_minutes": {"type": "integer", "minimum": 15, "maximum": 600, "default": 120},
        "place": _text(services.PLACE_LIMIT),
        "online_link": _text(services.LINK_LIMIT, "https:// or http://, no spaces"),
        "agenda": {
            "type": "array",
            "maxItems": services.MAX_AGENDA_ITEMS,
            "items": AGENDA_INPUT,
            "description": "The items after the first, which is always the review of the open action points",
        },
    },
}
MEETING_LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "network": GOVERNORATE,
        "from": {**DATE, "description": "Meetings starting on or after this day (UTC)"},
        "to": {**DATE, "description": "Meetings starting on or before this day (UTC)"},
    },
}
ATTENDANCE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["organization_id", "status"],
    "properties": {
        "organization_id": UUID,
        "status": {"type": "string", "enum": list(ATTENDANCE)},
        "representative": _text(services.NAME_LIMIT, "Who attended (required when attended)"),
        "role": _text(services.NAME_LIMIT, "In what role"),
    },
}
ACTION_POINT_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "owner_organization_id", "due_date", "priority"],
    "properties": {
        "description": {**_text(2000), "minLength": 1},
        "owner_organization_id": UUID,
        "owner_user_id": UUID,
        "due_date": DATE,
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "agenda_item_id": {**UUID, "description": "The agenda item it comes from"},
    },
}
ACTION_POINT_UPDATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": list(ACTION_STATUSES)},
        "note": _text(2000, "Required when dropped"),
    },
    # dropping needs a note that says why
    "if": {"properties": {"status": {"const": "dropped"}}, "required": ["status"]},
    "then": {"required": ["note"], "properties": {"note": {"pattern": "\\S"}}},
}
ACTION_POINT_LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "network": GOVERNORATE,
        "owner": {"type": "string", "enum": ["mine"], "description": "mine: your organisation's"},
        "status": {"type": "string", "enum": list(ACTION_STATUSES)},
        "overdue": {"type": "string", "enum": ["true", "false"]},
    },
}
ACTION_POINT: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "network",
        "meeting_id",
        "description",
        "owner_organization_id",
        "due_date",
        "priority",
        "status",
        "overdue",
    ],
    "properties": {
        "id": UUID,
        "network": {"type": "string"},
        "meeting_id": UUID,
        "agenda_item_id": _NULL_UUID,
        "description": {"type": "string"},
        "owner_organization_id": UUID,
        "owner_user_id": _NULL_UUID,
        "due_date": DATE,
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "status": {"type": "string", "enum": list(ACTION_STATUSES)},
        "note": {"type": "string"},
        "overdue": {"type": "boolean"},
        "created_at": TIME,
        "closed_at": _NULL_TIME,
    },
}
MEETING_SUMMARY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "network", "title", "starts_at", "duration_minutes", "state"],
    "properties": {
        "id": UUID,
        "network": {"type": "string"},
        "title": {"type": "string"},
        "starts_at": TIME,
        "duration_minutes": {"type": "integer"},
        "place": {"type": "string"},
        "online_link": {"type": "string"},
        "state": {"type": "string"},
    },
}
MEETING: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/MeetingSummary"},
        {
            "type": "object",
            "required": ["agenda", "attendance", "quorum", "minutes"],
            "properties": {
                "agenda": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "position", "kind", "title", "minutes"],
                        "properties": {
                            "id": UUID,
                            "position": {"type": "integer"},
                            "kind": {"type": "string", "enum": ["review", "item"]},
                            "title": {"type": "string"},
                            "minutes": {"type": "integer"},
                            "presenter": {"type": "string"},
                            "action_points": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/ActionPoint"},
                                "description": "The first item only: every open action point of the network",
                            },
                        },
                    },
                },
                "attendance": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["organization_id", "status"],
                        "properties": {
                            "organization_id": UUID,
                            "status": {"type": "string", "enum": list(ATTENDANCE)},
                            "representative": {"type": "string"},
                            "role": {"type": "string"},
                        },
                    },
                },
                "quorum": {
                    "type": "object",
                    "required": ["attended", "members", "needed", "reached"],
                    "properties": {
                        "attended": {"type": "integer"},
                        "members": {"type": "integer"},
                        "needed": {"type": "integer"},
                        "reached": {"type": "boolean"},
                    },
                },
                "minutes": {
                    "description": "The latest approved version, or null",
                    "anyOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["version", "items"],
                            "properties": {
                                "version": {"type": "integer"},
                                "approved_at": _NULL_TIME,
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "agenda_item_id": UUID,
                                            "discussion": {"type": "string"},
                                            "decisions": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    ],
                },
            },
        },
    ]
}
ATTENDANCE_RECORDED: dict[str, Any] = {
    "type": "object",
    "required": ["organization_id", "status", "quorum"],
    "properties": {
        "organization_id": UUID,
        "status": {"type": "string", "enum": list(ATTENDANCE)},
        "representative": {"type": "string"},
        "role": {"type": "string"},
        "quorum": {"type": "object"},
    },
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _codes() -> dict[str, str]:
    return dict(db.session.execute(db.select(Network.id, Network.governorate)).all())


def _point(point: ActionPoint, codes: dict[str, str]) -> dict[str, Any]:
    return {
        "id": point.id,
        "network": codes.get(point.network_id, ""),
        "meeting_id": point.meeting_id,
        "agenda_item_id": point.agenda_item_id,
        "description": point.description,
        "owner_organization_id": point.owner_organization_id,
        "owner_user_id": point.owner_user_id,
        "due_date": point.due_date.isoformat(),
        "priority": point.priority,
        "status": point.status,
        "note": point.status_note,
        "overdue": services.is_overdue(db.session, point),
        "created_at": _iso(point.created_at),
        "closed_at": _iso(point.closed_at),
    }


def _summary(meeting: Meeting, codes: dict[str, str]) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "network": codes.get(meeting.network_id, ""),
        "title": meeting.title,
        "starts_at": _iso(meeting.starts_at),
        "duration_minutes": meeting.duration_minutes,
        "place": meeting.place,
        "online_link": meeting.online_link,
        "state": meeting.state,
    }


def _quorum(q: services.Quorum) -> dict[str, Any]:
    return {"attended": q.attended, "members": q.members, "needed": q.needed, "reached": q.reached}


def _meeting(view: services.MeetingView) -> dict[str, Any]:
    codes = _codes()
    agenda = []
    for item in view.meeting.items:
        entry: dict[str, Any] = {
            "id": item.id,
            "position": item.position,
            "kind": item.kind,
            "title": item.title,
            "minutes": item.minutes,
            "presenter": item.presenter,
        }
        if item.kind == "review":
            entry["action_points"] = [_point(p, codes) for p in view.review]
        agenda.append(entry)
    approved = view.approved
    return {
        **_summary(view.meeting, codes),
        "agenda": agenda,
        "attendance": [
            {
                "organization_id": a.organization_id,
                "status": a.status,
                "representative": a.representative,
                "role": a.role,
            }
            for a in view.attendance.values()
        ],
        "quorum": _quorum(view.quorum),
        "minutes": None
        if approved is None
        else {
            "version": approved.version,
            "approved_at": _iso(approved.approved_at),
            "items": [
                {"agenda_item_id": e.agenda_item_id, "discussion": e.discussion, "decisions": e.decisions}
                for e in approved.entries
            ],
        },
    }


def _network_id(code: str | None) -> str | None:
    if code is None:
        return None
    net = services.network_by_code(db.session, g.api_user, code)
    return str(net.id)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# ---------------------------------------------------------------------------------- routes
@api_bp.get("/meetings")
def list_meetings() -> Response:
    params = query_params(request.args, MEETING_LIST_QUERY)
    limit = params.get("limit", 50)
    before = decode_cursor(params["cursor"], uuid_text) if params.get("cursor") else None
    rows = services.list_meetings(
        db.session,
        g.api_user,
        network_id=_network_id(params.get("network")),
        first=_day(params.get("from")),
        last=_day(params.get("to")),
        limit=limit + 1,
        before=before,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    codes = _codes()
    return jsonify(
        {
            "items": [_summary(m, codes) for m in rows],
            "next_cursor": encode_cursor(rows[-1].starts_at, rows[-1].id) if more and rows else None,
        }
    )


@api_bp.post("/meetings")
def create_meeting() -> Response:
    body = json_body(MEETING_CREATE)
    net = services.network_by_code(db.session, g.api_user, body["network"], write=True)
    data = services.MeetingInput(
        title=body["title"],
        starts_at=datetime.fromisoformat(body["starts_at"].replace("Z", "+00:00")),
        duration_minutes=body.get("duration_minutes", 120),
        place=body.get("place", ""),
        online_link=body.get("online_link", ""),
        agenda=[services.AgendaInput(i["title"], i["minutes"], i.get("presenter", "")) for i in body["agenda"]],
    )
    meeting = services.create_meeting(db.session, g.api_user, net.id, data)
    response = jsonify(_meeting(services.meeting_view(db.session, meeting)))
    response.status_code = 201
    response.headers["Location"] = f"{api_bp.url_prefix}/meetings/{meeting.id}"
    return response


@api_bp.get("/meetings/<uuid:meeting_id>")
def get_meeting(meeting_id: uuid.UUID) -> Response:
    query_params(request.args, {"type": "object", "additionalProperties": False})
    return jsonify(_meeting(services.view_meeting(db.session, g.api_user, str(meeting_id))))


@api_bp.post("/meetings/<uuid:meeting_id>/attendance")
def record_attendance(meeting_id: uuid.UUID) -> Response:
    services.meeting_for(db.session, g.api_user, str(meeting_id), write=True)
    body = json_body(ATTENDANCE_BODY)
    found = services.record_attendance(
        db.session,
        g.api_user,
        str(meeting_id),
        body["organization_id"],
        body["status"],
        body.get("representative", ""),
        body.get("role", ""),
    )
    meeting = services.meeting_for(db.session, g.api_user, str(meeting_id))
    return jsonify(
        {
            "organization_id": found.organization_id,
            "status": found.status,
            "representative": found.representative,
            "role": found.role,
            "quorum": _quorum(services.quorum(db.session, meeting)),
        }
    )


@api_bp.post("/meetings/<uuid:meeting_id>/action-points")
def create_action_point(meeting_id: uuid.UUID) -> Response:
    services.meeting_for(db.session, g.api_user, str(meeting_id), write=True)
    body = json_body(ACTION_POINT_CREATE)
    point = services.create_action_point(
        db.session,
        g.api_user,
        str(meeting_id),
        services.ActionPointInput(
            description=body["description"],
            owner_organization_id=body["owner_organization_id"],
            due_date=date.fromisoformat(body["due_date"]),
            priority=body["priority"],
            owner_user_id=body.get("owner_user_id"),
            agenda_item_id=body.get("agenda_item_id"),
        ),
    )
    response = jsonify(_point(point, _codes()))
    response.status_code = 201
    return response


@api_bp.get("/action-points")
def list_action_points() -> Response:
    params = query_params(request.args, ACTION_POINT_LIST_QUERY)
    overdue = {"true": True, "false": False}.get(params.get("overdue", ""))
    page = services.list_action_points(
        db.session,
        g.api_user,
        network_id=_network_id(params.get("network")),
        mine=params.get("owner") == "mine",
        status=params.get("status"),
        overdue=overdue,
        limit=params.get("limit", 50),
        after=unpack_id(params["cursor"]) if params.get("cursor") else None,
    )
    codes = _codes()
    return jsonify(
        {
            "items": [_point(p, codes) for p in page.items],
            "next_cursor": pack(page.next_cursor) if page.next_cursor else None,
        }
    )


@api_bp.patch("/action-points/<uuid:point_id>")
def update_action_point(point_id: uuid.UUID) -> Response:
    services.action_point_for(db.session, g.api_user, str(point_id), write=True)
    body = json_body(ACTION_POINT_UPDATE)
    point = services.update_action_point(db.session, g.api_user, str(point_id), body["status"], body.get("note"))
    return jsonify(_point(point, _codes()))


# ---------------------------------------------------------------------------------- OpenAPI
def _paths() -> dict[str, Any]:
    meeting_id = {"name": "id", "in": "path", "required": True, "description": "The meeting's id", "schema": UUID}
    point_id = {"name": "id", "in": "path", "required": True, "description": "The action point's id", "schema": UUID}

    def body(name: str, description: str) -> dict[str, Any]:
        return {"required": True, "description": description, "content": {"application/json": {"schema": _ref(name)}}}

    return {
        "/meetings": {
            "get": {
                "summary": "Meetings of the networks you read (member organisations' staff, coordinators), "
                "newest first",
                "parameters": _query(MEETING_LIST_QUERY),
                "responses": {"200": _json(_ref("MeetingPage"), "A page"), **_errors(400, 401, 422)},
            },
            "post": {
                "summary": "Schedule a meeting (the network's coordinator or the national one); "
                "invites the representatives",
                "requestBody": body("MeetingCreate", "The meeting and its agenda"),
                "responses": {"201": _json(_ref("Meeting"), "Scheduled"), **_errors(400, 401, 422)},
            },
        },
        "/meetings/{id}": {
            "get": {
                "summary": "A meeting: agenda (the first item lists the open action points), attendance, "
                "quorum, the approved minutes (audited as a view)",
                "parameters": [meeting_id],
                "responses": {"200": _json(_ref("Meeting"), "The meeting"), **_errors(400, 401, 404)},
            }
        },
        "/meetings/{id}/attendance": {
            "post": {
                "summary": "Record a member organisation's attendance (coordinator)",
                "parameters": [meeting_id],
                "requestBody": body("AttendanceRecord", "The organisation, its attendance, who and in what role"),
                "responses": {
                    "200": _json(_ref("AttendanceRecorded"), "Recorded, with the quorum"),
                    **_errors(400, 401, 404, 422),
                },
            }
        },
        "/meetings/{id}/action-points": {
            "post": {
                "summary": "Record an action point agreed at the meeting (coordinator); its reminders start",
                "parameters": [meeting_id],
                "requestBody": body("ActionPointCreate", "What, who owns it, by when"),
                "responses": {"201": _json(_ref("ActionPoint"), "Recorded"), **_errors(400, 401, 404, 422)},
            }
        },
        "/action-points": {
            "get": {
                "summary": "Action points of the networks you read, soonest due first",
                "parameters": _query(ACTION_POINT_LIST_QUERY),
                "responses": {"200": _json(_ref("ActionPointPage"), "A page"), **_errors(400, 401, 422)},
            }
        },
        "/action-points/{id}": {
            "patch": {
                "summary": "Move an action point on (the owner organisation's staff, the coordinator); "
                "done and dropped are final",
                "parameters": [point_id],
                "requestBody": body("ActionPointUpdate", "The new status and a note"),
                "responses": {"200": _json(_ref("ActionPoint"), "Updated"), **_errors(400, 401, 404, 409)},
            }
        },
    }


describe(
    _paths,
    {
        "MeetingCreate": MEETING_CREATE,
        "MeetingSummary": MEETING_SUMMARY,
        "Meeting": MEETING,
        "MeetingPage": page_of(_ref("MeetingSummary")),
        "AttendanceRecord": ATTENDANCE_BODY,
        "AttendanceRecorded": ATTENDANCE_RECORDED,
        "ActionPointCreate": ACTION_POINT_CREATE,
        "ActionPointUpdate": ACTION_POINT_UPDATE,
        "ActionPoint": ACTION_POINT,
        "ActionPointPage": page_of(_ref("ActionPoint")),
    },
)
