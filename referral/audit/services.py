"""`record()`: write an audit event in the caller's transaction. Ids and codes, never values."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request

from ..extensions import db
from ..models_base import DbSession, utcnow
from .actions import ACTIONS, OUTCOMES
from .models import AuditEvent

_SCALARS = (str, int, float, bool, type(None))


class UnknownAuditAction(ValueError):
    """The action name is not in the registry."""


def record(
    action: str,
    actor: Any | None,
    obj: Any | None = None,
    *,
    outcome: str = "success",
    reason: str | None = None,
    case_code: str | None = None,
    organization_id: str | None = None,
    session: DbSession | None = None,
    **ids: str | int | bool | None,
) -> AuditEvent:
    """Add an event to the current transaction; it commits or rolls back with the action.

    `obj` is any model with an `id` (its table name becomes the object type). `ids` are extra
    identifiers (other ids, codes, counts): only scalars are accepted, never free text.
    """
    if action not in ACTIONS:
        raise UnknownAuditAction(action)
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    for key, value in ids.items():
        if not isinstance(value, _SCALARS):
            raise TypeError(f"audit detail {key!r} must be a scalar id or code")
    target = session or db.session
    if obj is not None and getattr(obj, "id", 0) is None:
        target.flush()  # give a new object its id before naming it
    event = AuditEvent(
        occurred_at=utcnow(),
        action=action,
        outcome=outcome,
        actor_id=getattr(actor, "id", None),
        actor_role=getattr(actor, "role", None),
        actor_organization_id=getattr(actor, "organization_id", None),
        organization_id=organization_id or _owning_org(obj),
        object_type=getattr(obj, "__tablename__", None) if obj is not None else None,
        object_id=str(obj.id) if obj is not None and getattr(obj, "id", None) is not None else None,
        case_code=case_code,
        reason=reason,
        details=dict(ids),
    )
    if has_request_context():
        event.route = request.endpoint
        event.request_id = g.get("request_id")
    target.add(event)
    return event


def _owning_org(obj: Any | None) -> str | None:
    if obj is None:
        return None
    if getattr(obj, "__tablename__", None) == "organization":
        return str(obj.id)
    org = getattr(obj, "organization_id", None) or getattr(obj, "from_organization_id", None)
    return str(org) if org is not None else None


_DENIALS = "shabaka.audit_denials"


def record_denial(actor: Any | None, object_type: str, object_id: str, session: DbSession | None = None) -> None:
    """Note a refused access to an object (answered as "not found").

    The request that met the refusal usually rolls back; the denial must survive that, so it
    is kept aside and written by the request edge after the commit or rollback.
    """
    target = session or db.session
    event = AuditEvent(
        occurred_at=utcnow(),
        action="access.denied",
        outcome="denied",
        actor_id=getattr(actor, "id", None),
        actor_role=getattr(actor, "role", None),
        actor_organization_id=getattr(actor, "organization_id", None),
        object_type=object_type,
        object_id=object_id[:64],
        details={},
    )
    if has_request_context():
        event.route = request.endpoint
        event.request_id = g.get("request_id")
    target.info.setdefault(_DENIALS, []).append(event)


def take_denials(session: DbSession) -> list[AuditEvent]:
    return list(session.info.pop(_DENIALS, []))
