"""API v1 activity routes (API.md: `GET/POST /activities`, "coordinator; members read"): the
activities of the networks' plans the caller may read, filtered by network (its governorate
code), year, status and type; and a new activity, added by the network's coordinator (or the
national one) to the plan of its network and year, which is made if it does not exist yet.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..cases.models import AGE_GROUPS
from ..enums import SECTORS
from ..errors import Forbidden
from ..extensions import db
from ..pagination import pack, unpack, uuid_text
from ..plans import services
from ..plans.models import ACTIVITY_STATUSES, ACTIVITY_TYPES, Activity, ActivityPlan
from . import api_bp
from .openapi import _errors, _json, _query, _ref, describe
from .schemas import GOVERNORATE, LIST_QUERY, TIME, UUID, page_of
from .validation import json_body, query_params

DAY = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "YYYY-MM-DD"}
TYPE = {"type": "string", "enum": list(ACTIVITY_TYPES)}
STATUS = {"type": "string", "enum": list(ACTIVITY_STATUSES)}
COUNT = {"type": "integer", "minimum": 0, "maximum": services.MAX_PARTICIPANTS}

ACTIVITY_LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **LIST_QUERY["properties"],
        "network": {**GOVERNORATE, "description": "The network's governorate code"},
        "year": {"type": "integer", "minimum": services.FIRST_YEAR, "maximum": services.LAST_YEAR},
        "status": STATUS,
        "type": TYPE,
    },
}
ACTIVITY_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["network", "title", "type", "responsible_organization_id", "planned_start", "planned_end"],
    "properties": {
        "network": {**GOVERNORATE, "description": "The network's governorate code"},
        "title": {"type": "string", "minLength": 1, "maxLength": services.TITLE_MAX},
        "type": TYPE,
        "responsible_organization_id": {**UUID, "description": "A member organisation of the network"},
        "partner_organization_ids": {"type": "array", "maxItems": 50, "items": UUID},
        "planned_start": {**DAY, "description": "In the plan's year (the plan is the network's for this year)"},
        "planned_end": {**DAY, "description": "Not before the start, in the same year"},
        "governorate": {**GOVERNORATE, "description": "Where it takes place; default: the network's"},
        "target_sectors": {
            "type": "array",
            "maxItems": len(SECTORS),
            "items": {"type": "string", "enum": list(SECTORS)},
        },
        "target_participants": COUNT,
        "meeting_id": {**UUID, "description": "The meeting whose decision the activity comes from"},
        "decision_ref": {"type": "string", "maxLength": services.DECISION_REF_MAX},
    },
}
_BY_AGE = {
    "type": "object",
    "required": list(AGE_GROUPS),
    "additionalProperties": False,
    "properties": {g: {"type": "integer"} for g in AGE_GROUPS},
}
ACTIVITY: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "plan_id",
        "network",
        "year",
        "title",
        "type",
        "status",
        "responsible_organization_id",
        "partner_organization_ids",
        "planned_start",
        "planned_end",
        "quarter",
        "governorate",
        "target_sectors",
        "target_participants",
        "participants_reached",
        "deliveries",
        "meeting_id",
        "decision_ref",
        "version",
    ],
    "additionalProperties": False,
    "properties": {
        "id": UUID,
        "plan_id": UUID,
        "network": {"type": "string"},
        "year": {"type": "integer"},
        "title": {"type": "string"},
        "type": TYPE,
        "status": STATUS,
        "responsible_organization_id": UUID,
        "partner_organization_ids": {"type": "array", "items": UUID},
        "planned_start": DAY,
        "planned_end": DAY,
        "quarter": {"type": "integer", "minimum": 1, "maximum": 4},
        "governorate": {"type": "string"},
        "target_sectors": {"type": "array", "items": {"type": "string", "enum": list(SECTORS)}},
        "target_participants": {"type": "integer"},
        "participants_reached": {"type": "integer", "description": "Over every delivery recorded"},
        "deliveries": {
            "type": "array",
            "description": "What was delivered: dates and counts by sex and age group (never names; no report)",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "delivered_from",
                    "delivered_to",
                    "participants",
                    "participants_total",
                    "recorded_at",
                ],
                "additionalProperties": False,
                "properties": {
                    "id": UUID,
                    "delivered_from": DAY,
                    "delivered_to": DAY,
                    "participants": {
                        "type": "object",
                        "required": ["female", "male"],
                        "additionalProperties": False,
                        "properties": {"female": _BY_AGE, "male": _BY_AGE},
                    },
                    "participants_total": {"type": "integer"},
                    "recorded_at": TIME,
                },
            },
        },
        "meeting_id": {"anyOf": [UUID, {"type": "null"}]},
        "decision_ref": {"type": "string"},
        "version": {"type": "integer"},
    },
}


def _item(activity: Activity, plan: ActivityPlan, governorate: str) -> dict[str, Any]:
    return {
        "id": activity.id,
        "plan_id": plan.id,
        "network": governorate,
        "year": plan.year,
        "title": activity.title,
        "type": activity.activity_type,
        "status": activity.status,
        "responsible_organization_id": activity.responsible_organization_id,
        "partner_organization_ids": list(activity.partner_organization_ids),
        "planned_start": activity.planned_start.isoformat(),
        "planned_end": activity.planned_end.isoformat(),
        "quarter": activity.quarter,
        "governorate": activity.governorate,
        "target_sectors": list(activity.target_sectors),
        "target_participants": activity.target_participants,
        "participants_reached": sum(d.participants_total for d in activity.deliveries),
        "deliveries": [
            {
                "id": d.id,
                "delivered_from": d.delivered_from.isoformat(),
                "delivered_to": d.delivered_to.isoformat(),
                "participants": d.participants,
                "participants_total": d.participants_total,
                "recorded_at": d.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for d in activity.deliveries
        ],
        "meeting_id": activity.meeting_id,
        "decision_ref": activity.decision_ref,
        "version": activity.version,
    }


def _cursor(raw: str | None) -> tuple[date, str] | None:
    if not raw:
        return None
    from ..pagination import _invalid

    try:
        start, last_id = unpack(raw).split("|", 1)
        return date.fromisoformat(start), uuid_text(last_id)
    except ValueError:
        raise _invalid() from None


@api_bp.get("/activities")
def list_activities() -> Response:
    params = query_params(request.args, ACTIVITY_LIST_QUERY)
    limit = params.get("limit", 50)
    query = services.ApiQuery(params.get("network"), params.get("year"), params.get("status"), params.get("type"))
    rows = services.api_page(db.session, g.api_user, query, limit=limit, after=_cursor(params.get("cursor")))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1][0] if rows else None
    return jsonify(
        {
            "items": [_item(a, p, n.governorate) for a, p, n in rows],
            "next_cursor": pack(f"{last.planned_start.isoformat()}|{last.id}") if more and last else None,
        }
    )


@api_bp.post("/activities")
def create_activity() -> Response:
    body = json_body(ACTIVITY_CREATE)
    actor = g.api_user
    if getattr(actor, "role", None) != "coordinator":
        raise Forbidden("plan.manage")
    network = services.network_by_code(db.session, body["network"])
    network_id = network.id if network is not None else None
    start = date.fromisoformat(body["planned_start"])
    plan = services.plan_for(db.session, network_id, start.year) if network_id else None
    if plan is None:  # the network's plan of that year begins with its first activity
        plan = services.create_plan(db.session, actor, network_id, start.year)
    data = services.ActivityInput(
        title=body["title"],
        activity_type=body["type"],
        responsible_organization_id=body["responsible_organization_id"],
        partner_organization_ids=body.get("partner_organization_ids", []),
        planned_start=body["planned_start"],
        planned_end=body["planned_end"],
        governorate=body.get("governorate") or (network.governorate if network is not None else None),
        target_sectors=body.get("target_sectors", []),
        target_participants=body.get("target_participants", 0),
        meeting_id=body.get("meeting_id"),
        decision_ref=body.get("decision_ref", ""),
    )
    activity = services.add_activity(db.session, actor, plan.id, data)
    response = jsonify(_item(activity, plan, body["network"]))
    response.status_code = 201
    response.set_etag(str(activity.version))
    return response


def _paths() -> dict[str, Any]:
    return {
        "/activities": {
            "get": {
                "summary": "Activities of the networks' plans you may read (members of the network, its "
                "coordinator, the national coordinator), by planned start; audited as a list",
                "parameters": _query(ACTIVITY_LIST_QUERY),
                "responses": {"200": _json(_ref("ActivityPage"), "A page"), **_errors(400, 401, 404)},
            },
            "post": {
                "summary": "Add an activity to the plan of a network and year (the network's coordinator or the "
                "national one); the plan is made with its first activity",
                "requestBody": {
                    "required": True,
                    "description": "The activity",
                    "content": {"application/json": {"schema": _ref("ActivityCreate")}},
                },
                "responses": {"201": _json(_ref("Activity"), "Added, planned"), **_errors(400, 401, 403, 404, 422)},
            },
        }
    }


describe(
    _paths,
    {"ActivityCreate": ACTIVITY_CREATE, "Activity": ACTIVITY, "ActivityPage": page_of(_ref("Activity"))},
)
