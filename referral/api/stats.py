"""GET /stats/summary (live numbers, protected) and GET /stats/releases[/{id}] (published ones)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..errors import Forbidden, NotFound
from ..extensions import db
from ..replica import reporting
from ..statistics import releases, services
from ..statistics.indicators import DIMENSIONS, INDICATORS
from . import api_bp
from .openapi import _errors, _json, _query, _ref, describe
from .schemas import UUID
from .validation import query_params

_MONTH = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "description": "A month, YYYY-MM"}
SUMMARY_QUERY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "network": {
            "type": "string",
            "pattern": "^[a-z][a-z_]{0,31}$",
            "description": "A network's governorate code, or `national` (the national coordinator only). "
            "A network coordinator may name only her own; an organisation's admin or supervisor none.",
        },
        "from": {**_MONTH, "description": "First month (default: January of this year)"},
        "to": {**_MONTH, "description": "Last month, at most 36 months after `from` (default: this month)"},
        "by": {
            "type": "string",
            "enum": sorted(DIMENSIONS),
            "description": "Only the tables broken down by this dimension (they were protected with all the others)",
        },
        "indicator": {"type": "string", "enum": [i.id for i in INDICATORS], "description": "Only this indicator"},
        "compare": {
            "type": "string",
            "enum": ["true", "false"],
            "description": "Add the previous period of as many months (`period: previous`), protected together",
        },
    },
}
_COUNT = {
    "oneOf": [
        {"type": "integer", "minimum": 0, "description": "0, or at least the threshold"},
        {"type": "string", "description": "The suppression label (`<5` for the default threshold)"},
    ]
}
_NUMBER = {
    "type": ["number", "null"],
    "description": "null when it rests on fewer than the threshold or a hidden count",
}
STATS_TABLE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "indicator", "period", "from", "to", "measure", "dims", "fixed", "categories", "cells"],
    "properties": {
        "id": {"type": "string"},
        "indicator": {"type": "string"},
        "period": {"type": "string", "enum": ["current", "previous"]},
        "from": _MONTH,
        "to": _MONTH,
        "measure": {"type": "string", "description": "The population counted"},
        "dims": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "fixed": {"type": "object", "additionalProperties": {"type": "string"}},
        "categories": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "cells": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "count"],
                "properties": {
                    "key": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "A category per dimension; a dimension left out is its total",
                    },
                    "count": _COUNT,
                },
            },
        },
    },
}
STATS_DERIVED: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "indicator", "period", "kind", "by", "values"],
    "properties": {
        "id": {"type": "string"},
        "indicator": {"type": "string"},
        "period": {"type": "string", "enum": ["current", "previous"]},
        "kind": {"type": "string", "enum": ["percent", "median", "p90"]},
        "by": {"type": ["string", "null"]},
        "values": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key"],
                "properties": {
                    "key": {"type": "object", "additionalProperties": {"type": "string"}},
                    "percent": _NUMBER,
                    "median": _NUMBER,
                    "p90": _NUMBER,
                },
            },
        },
    },
}
STATS_SUMMARY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "threshold",
        "suppressed_label",
        "scope",
        "from",
        "to",
        "previous",
        "sector",
        "generated_at",
        "tables",
        "derived",
    ],
    "properties": {
        "threshold": {"type": "integer", "minimum": 1, "description": "Counts from 1 to threshold - 1 are suppressed"},
        "suppressed_label": {"type": "string"},
        "scope": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "network"],
            "properties": {
                "kind": {"type": "string", "enum": ["network", "national", "organization"]},
                "network": {"type": ["string", "null"]},
            },
        },
        "from": _MONTH,
        "to": _MONTH,
        "previous": {
            "type": ["object", "null"],
            "properties": {"from": _MONTH, "to": _MONTH},
            "description": "The period of the comparison tables (`period: previous`)",
        },
        "sector": {"type": ["string", "null"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "tables": {"type": "array", "items": _ref("StatsTable")},
        "derived": {"type": "array", "items": _ref("StatsDerived")},
    },
}
RELEASE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "network", "from", "to", "version", "state", "threshold", "published_at", "checksum"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "network": {"type": ["string", "null"], "description": "null for a national release"},
        "from": _MONTH,
        "to": _MONTH,
        "version": {"type": "integer", "minimum": 1},
        "state": {"type": "string", "enum": ["published", "superseded"]},
        "threshold": {"type": "integer"},
        "published_at": {"type": "string", "format": "date-time"},
        "checksum": {"type": "string", "description": "SHA-256 of the frozen numbers"},
        "numbers": _ref("StatsSummary"),
    },
}


def _filtered(payload: dict[str, Any], by: str | None, indicator: str | None) -> dict[str, Any]:
    """A subset of a protected answer (fewer numbers: still protected)."""
    tables = [
        t
        for t in payload["tables"]
        if (by is None or by in t["dims"]) and (indicator is None or t["indicator"] == indicator)
    ]
    kept = {t["indicator"] for t in tables}
    derived = [d for d in payload["derived"] if d["indicator"] in kept and (by is None or d["by"] == by)]
    return {**payload, "tables": tables, "derived": derived}


@api_bp.get("/stats/summary")
def stats_summary() -> Response:
    params = query_params(request.args, SUMMARY_QUERY)
    actor = g.api_user
    if not services.may_compute(actor):
        raise Forbidden(
            "Live statistics are for coordinators and an organisation's admins and supervisors; "
            "read the published releases at /stats/releases."
        )
    scope = services.scope_for(db.session, actor, params.get("network"))
    window = services.parse_window(params.get("from"), params.get("to"))
    compare = params.get("compare") == "true"
    _view, payload = reporting(lambda read: services.live(db.session, actor, scope, window, compare=compare, read=read))
    return jsonify(_filtered(payload, params.get("by"), params.get("indicator")))


def _release(r: Any, with_numbers: bool) -> dict[str, Any]:
    out = {
        "id": r.id,
        "network": None if r.scope_key == "national" else r.scope_key.split(":", 1)[1],
        "from": r.period_first,
        "to": r.period_last,
        "version": r.version,
        "state": r.state,
        "threshold": r.threshold,
        "published_at": r.published_at.isoformat() if r.published_at else None,
        "checksum": r.checksum,
    }
    if with_numbers:
        out["numbers"] = r.payload
    return out


@api_bp.get("/stats/releases")
def stats_releases() -> Response:
    query_params(request.args, {"type": "object", "additionalProperties": False, "properties": {}})
    rows = releases.published(db.session, g.api_user, limit=500)
    return jsonify({"items": [_release(r, False) for r in rows]})


@api_bp.get("/stats/releases/<id>")
def stats_release(id: str) -> Response:
    found = releases.get(db.session, g.api_user, id)
    if found.published_at is None:
        raise NotFound("release")
    from ..audit.services import record

    record("statistics.release_view", g.api_user, None, release_id=found.id)
    return jsonify(_release(found, True))


_ID = {"name": "id", "in": "path", "required": True, "description": "The release's id", "schema": UUID}
describe(
    lambda: {
        "/stats/summary": {
            "get": {
                "summary": "De-identified statistics with small-cell suppression (coordinators: their network or, "
                "for the national coordinator, any network or `national`; an organisation's admins and "
                "supervisors: their own organisation). Every count is 0, at least `threshold`, or the "
                "suppression label; audited",
                "parameters": _query(SUMMARY_QUERY),
                "responses": {
                    "200": _json(_ref("StatsSummary"), "The protected numbers"),
                    **_errors(400, 401, 403, 404, 422),
                },
            }
        },
        "/stats/releases": {
            "get": {
                "summary": "Published statistics releases of the networks your organisation belongs to "
                "(auditors: all), newest first",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": _ref("StatsRelease")}},
                        },
                        "Releases (without their numbers)",
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/stats/releases/{id}": {
            "get": {
                "summary": "One published release with its frozen numbers; audited",
                "parameters": [_ID],
                "responses": {"200": _json(_ref("StatsRelease"), "The release"), **_errors(400, 401, 404)},
            }
        },
    },
    {"StatsTable": STATS_TABLE, "StatsDerived": STATS_DERIVED, "StatsSummary": STATS_SUMMARY, "StatsRelease": RELEASE},
)
