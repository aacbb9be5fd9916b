"""API v1 case routes: open, list (masked), read (audited; masked for a supervisor outside the
case team until revealed) and update a case file. Each validates its input against a published
schema, calls the case services, and answers with a published schema.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from ..access.policy import can
from ..cases import services
from ..cases.models import Case, Incident
from ..errors import Conflict, Forbidden, InvalidInput
from ..extensions import db
from ..models_base import get_by_id
from ..referrals import disclosure
from ..referrals import services as referrals
from . import api_bp
from .schemas import CASE_CREATE, CASE_LIST_QUERY, CASE_SEARCH, CASE_UPDATE, CASE_VIEW_QUERY
from .validation import NOT_VALID, check_version, expected_version, json_body, query_params, validate


# ---------------------------------------------------------------------------------- input
def _body() -> dict[str, Any]:
    return json_body()


# ---------------------------------------------------------------------------------- output
def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_item(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "case_code": case.case_code,
        "status": case.status,
        "full_name_masked": services.masked_name(case),
        "governorate": case.governorate,
        "age_group": case.age_group,
        "sex": case.sex,
        "risk_level": case.risk_level,
        "gbv_type": case.gbv_type,
        "opened_at": _iso(case.opened_at),
    }


def _incident(incident: Incident) -> dict[str, Any]:
    """The narrative is confidential but not an identifier: whoever may view the case reads it
    (as on the case page); only the identifying fields wait for a reveal."""
    return {
        "id": incident.id,
        "gbv_type": incident.gbv_type,
        "contexts": list(incident.contexts or []),
        "perpetrator_relationship": incident.perpetrator_relationship,
        "month": incident.month,
        "narrative": incident.narrative,
    }


def _case(case: Case, masked: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": case.id,
        "case_code": case.case_code,
        "status": case.status,
        "organization_id": case.organization_id,
        "opened_at": _iso(case.opened_at),
        "updated_at": _iso(case.updated_at),
        "closed_at": _iso(case.closed_at),
        "version": case.version,
        "identifiers_masked": masked,
        "full_name_masked": services.masked_name(case),
    }
    if not masked:
        out.update(
            full_name=case.full_name,
            national_id=case.national_id,
            date_of_birth=case.date_of_birth,
            phone=case.phone,
            address=case.address,
            safe_contact=case.safe_contact,
        )
    for name in services.STATISTICAL:
        out[name] = getattr(case, name)
    out["incidents"] = [_incident(i) for i in case.incidents]
    return out


def _answer(body: dict[str, Any], case: Case, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(case.version))
    return response


def _on_team(actor: Any, case: Case) -> bool:
    """The case team sees identifiers; a supervisor who sees the case only as supervisor of the
    owning organisation sees them masked until she reveals them. Editing is the team's right,
    so the policy's `case.edit` answers "is she on the team"."""
    return can(actor, "case.edit", case)


# ---------------------------------------------------------------------------------- routes
@api_bp.post("/cases")
def create_case() -> Response:
    actor = g.api_user
    if not can(actor, "case.create"):  # before reading the body: the role may never do this
        raise Forbidden("Your role may not open cases.")
    body = _body()
    validate(body, CASE_CREATE)
    case, returning = services.create_case(db.session, actor, services.CaseInput(body))
    response = jsonify(
        {"id": case.id, "case_code": case.case_code, "status": case.status, "returning_survivor": returning}
    )
    response.status_code = 201
    response.headers["Location"] = f"{api_bp.url_prefix}/cases/{case.id}"
    return response


@api_bp.get("/cases")
def list_cases() -> Response:
    """The list; `q` matches a case code only (an identifier in a URL is refused)."""
    params = query_params(request.args, CASE_LIST_QUERY)
    return _case_page(params, q=params.get("q"))


@api_bp.post("/cases/search")
def search_cases() -> Response:
    """The same list, searched by a case code or an exact national id / phone sent in the body."""
    query_params(request.args, {"type": "object", "additionalProperties": False})
    body = _body()
    validate(body, CASE_SEARCH)
    return _case_page(body, identifier=body["q"])


def _case_page(params: dict[str, Any], *, q: str | None = None, identifier: str | None = None) -> Response:
    page = services.list_cases(
        db.session,
        g.api_user,
        status=params.get("status"),
        risk_level=params.get("risk_level"),
        q=q,
        identifier=identifier,
        limit=params.get("limit", 50),
        cursor=params.get("cursor"),
    )
    return jsonify({"items": [_list_item(c) for c in page.items], "next_cursor": page.next_cursor})


@api_bp.get("/cases/<uuid:case_id>")
def get_case(case_id: uuid.UUID) -> Response:
    actor = g.api_user
    params = query_params(request.args, CASE_VIEW_QUERY)
    found = get_by_id(db.session, Case, case_id)
    if found is not None and not can(actor, "case.view", found) and actor.organization_id != found.organization_id:
        return _shared_answer(referrals.case_through_referrals(db.session, actor, str(case_id)))
    # One read, one event: a reveal asked for by someone off the team is recorded as the reveal
    # alone (it checks the view first), anything else as a view.
    if found is not None and params.get("reveal") == "true" and not _on_team(actor, found):
        case = services.reveal(db.session, actor, str(case_id))
        return _answer(_case(case, False), case)
    case = services.view_case(db.session, actor, str(case_id))
    return _answer(_case(case, not _on_team(actor, case)), case)


def _shared_answer(shared: Any) -> Response:
    """A recipient's view: the case code, its state and only the shared field groups."""
    case = shared.case
    shown = disclosure.of_case(db.session, case, shared.groups)
    body = {
        "id": case.id,
        "case_code": case.case_code,
        "status": case.status,
        "shared_field_groups": sorted(shared.groups),
        "via_referrals": list(shared.referral_ids),
        "shared": disclosure.as_json(shown),
        "not_shared": list(shown.not_shared),
    }
    return jsonify(body)


@api_bp.patch("/cases/<uuid:case_id>")
def update_case(case_id: uuid.UUID) -> Response:
    actor = g.api_user
    query_params(request.args, {"type": "object", "additionalProperties": False})
    expected = expected_version()  # a malformed If-Match is refused before anything changes
    body = _body()
    if "narrative" in body:
        raise InvalidInput(NOT_VALID, fields={"narrative": "not changed here: incidents are recorded separately"})
    validate(body, CASE_UPDATE)
    case = services.update_case(db.session, actor, str(case_id), services.CaseInput(body))
    check_version(expected, case.version)
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict("The case changed since you read it; reload and try again.") from None
    case = services.view_case(db.session, actor, str(case_id))  # the answer shows the case: a view
    return _answer(_case(case, masked=not _on_team(actor, case)), case)
