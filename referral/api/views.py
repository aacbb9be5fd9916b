"""API v1 routes. Each parses input, calls a service, and answers with a published schema."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..directory.models import Organization
from ..extensions import db
from ..pagination import pack, unpack_id
from . import api_bp
from .openapi import document
from .schemas import LIST_QUERY
from .validation import query_params


def _organization(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name_en,
        "name_ar": org.name_ar,
        "kind": org.kind,
        "sectors": list(org.sectors),
        "governorates": list(org.governorates),
        "accepts_referrals": org.accepts_referrals,
    }


@api_bp.get("/me")
def me() -> Response:
    user = g.api_user
    query_params(request.args, {"type": "object", "additionalProperties": False})
    return jsonify(
        {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "locale": user.locale,
            "organization": {
                "id": user.organization.id,
                "name": user.organization.name_en,
                "name_ar": user.organization.name_ar,
            },
        }
    )


@api_bp.get("/directory/organizations")
def organizations() -> Response:
    params = query_params(request.args, LIST_QUERY)
    limit = params.get("limit", 50)
    stmt = select(Organization).where(Organization.active.is_(True)).order_by(Organization.id).limit(limit + 1)
    if params.get("cursor"):  # an empty cursor is the first page, as on every list
        stmt = stmt.where(Organization.id > unpack_id(params["cursor"]))
    rows = list(db.session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "items": [_organization(o) for o in rows],
            "next_cursor": pack(rows[-1].id) if more and rows else None,
        }
    )


@api_bp.get("/openapi.json")
def openapi() -> Response:
    from ..directory.services import governorate_codes

    return jsonify(document(governorate_codes(db.session)))
