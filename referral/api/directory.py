"""API v1 service directory: the services of member organisations, and the whole directory as
Open Referral HSDS 3.0. A confidential location never appears in either."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..directory import hsds
from ..directory import services as directory
from ..directory.models import Service
from ..errors import InvalidInput
from ..extensions import db
from ..models_base import utcnow
from ..pagination import pack, unpack_id
from . import api_bp
from .schemas import SERVICE_LIST_QUERY
from .validation import NOT_VALID, query_params


def _iso(service: Service) -> str:
    return (service.updated_at or service.created_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_item(service: Service) -> dict[str, Any]:
    """A service as the API publishes it (schema `Service`)."""
    return {
        "id": service.id,
        "organization_id": service.organization_id,
        "name": service.name_en,
        "name_ar": service.name_ar,
        "description": service.description_en,
        "description_ar": service.description_ar,
        "sector": service.sector,
        "governorates": list(service.governorates),
        "eligibility": service.eligibility,
        "languages": list(service.languages),
        "capacity_status": service.capacity_status,
        "accepting_referrals": service.accepting_referrals,
        "opening_hours": service.opening_hours,
        "confidential_location": service.confidential_location,
        "front_door": service.front_door or None,
        "address": service.public_address,
        "focal_points": [dict(point) for point in service.focal_points],
        "updated_at": _iso(service),
    }


def _uuid(value: str, name: str, problem: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput(NOT_VALID, fields={name: problem}) from None


@api_bp.get("/directory/services")
def directory_services() -> Response:
    params = query_params(request.args, SERVICE_LIST_QUERY)
    if "governorate" in params and params["governorate"] not in directory.governorate_codes(db.session):
        raise InvalidInput(NOT_VALID, fields={"governorate": "not a governorate with a network here"})
    filters = directory.ServiceFilters(
        q=params.get("q", ""),
        sector=params.get("sector", ""),
        governorate=params.get("governorate", ""),
        capacity_status=params.get("capacity_status", ""),
        language=params.get("language", ""),
        organization_id=_uuid(params["organization_id"], "organization_id", "invalid")
        if "organization_id" in params
        else "",
    )
    after = unpack_id(params["cursor"]) if params.get("cursor") else None
    rows, more = directory.service_page(db.session, filters, limit=params.get("limit", 50), after=after)
    return jsonify(
        {
            "items": [service_item(s) for s in rows],
            "next_cursor": pack(rows[-1].id) if more and rows else None,
        }
    )


@api_bp.get("/directory/hsds")
def directory_hsds() -> Response:
    query_params(request.args, {"type": "object", "additionalProperties": False})
    organizations, services = directory.directory_export(db.session, g.api_user)
    return jsonify(hsds.document(organizations, services, directory.networks(db.session), utcnow()))
