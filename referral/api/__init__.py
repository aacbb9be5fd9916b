"""JSON API v1: bearer tokens only, the error format of API.md, and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, g, request
from werkzeug.wrappers import Response

from ..accounts.services import authenticate_token
from ..errors import api_error
from ..extensions import db

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC = frozenset({"api.openapi"})


@api_bp.before_request
def require_token() -> Response | None:
    """Every API route needs a valid personal token, except the published OpenAPI document."""
    if request.endpoint in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    user = authenticate_token(db.session, raw.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        response = api_error(401, "unauthorized", "A valid bearer token is required.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="shabaka"'
        return response
    g.api_user = user
    return None


from . import (  # noqa: E402,F401
    activities,
    audit,
    audit_verify,
    cases,
    directory,
    followups,
    meetings,
    notifications,
    referrals,
    stats,
    views,
)
