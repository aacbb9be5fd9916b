"""`record()`: write an audit event in the caller's transaction. Ids and codes, never values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import insert

from ..extensions import db
from ..models_base import DbSession, new_id, utcnow
from .actions import ACTIONS, OUTCOMES
from .models import AuditEvent

_SCALARS = (str, int, float, bool, type(None))
_INSERT = insert(AuditEvent.__table__)


class UnknownAuditAction(ValueError):
    """The action name is not in the registry."""


Event = dict[str, Any]  # the column values of one audit event row


def event(
    action: str,
    actor: Any | None,
    obj: Any | None = None,
    *,
    outcome: str = "success",
    reason: str | None = None,
    case_code: str | None = None,
    organization_id: str | None = None,
    **ids: str | int | bool | None,
) -> Event:
    """The row of one event, checked against the registry; `write` stores it.

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
    in_request = has_request_context()
    return {
        "event_id": new_id(),
        "occurred_at": utcnow(),
        "action": action,
        "outcome": outcome,
        "actor_id": getattr(actor, "id", None),
        "actor_role": getattr(actor, "role", None),
        "actor_organization_id": getattr(actor, "organization_id", None),
        "organization_id": organization_id or _owning_org(obj),
        "object_type": getattr(obj, "__tablename__", None) if obj is not None else None,
        "object_id": str(obj.id) if obj is not None and getattr(obj, "id", None) is not None else None,
        "case_code": case_code,
        "route": request.endpoint if in_request else None,
        "request_id": g.get("request_id") if in_request else None,
        "reason": reason,
        "details": dict(ids),
    }


def write(session: DbSession, events: Sequence[Event]) -> None:
    """Store events in `session`'s transaction (and its savepoint, if one is open): one plain
    INSERT on its connection, no unit of work and no autoflush (the action's own changes flush
    when it says so), so the audit write costs a request as little as it can. If it fails, the
    exception reaches the action, which fails with it."""
    if events:
        session.connection().execute(_INSERT, list(events) if len(events) > 1 else events[0])


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
) -> None:
    """Write an event in the current transaction now; it commits or rolls back with the action."""
    target = session or db.session
    if obj is not None and getattr(obj, "id", 0) is None:
        target.flush()  # give a new object its id before naming it
    found = event(
        action, actor, obj, outcome=outcome, reason=reason, case_code=case_code, organization_id=organization_id, **ids
    )
    write(target, [found])


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
    denial = event("access.denied", actor, outcome="denied")
    # the id as asked for, typed by anyone: PostgreSQL refuses a NUL in text, so it is replaced
    denial.update(object_type=object_type, object_id=object_id[:64].replace("\x00", "\ufffd"))
    target.info.setdefault(_DENIALS, []).append(denial)


def take_denials(session: DbSession) -> list[Event]:
    return list(session.info.pop(_DENIALS, []))
