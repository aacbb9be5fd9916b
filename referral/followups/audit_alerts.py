"""The nightly verification of the audit trail, and who is told when it fails: the auditors.
Stored values that fail their integrity check: the event auditors see flagged, and the system
administrators told."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..accounts.models import User
from ..audit import chain
from ..audit.services import Event, event
from ..models_base import DbSession, utcnow
from ..security.fields import Unreadable
from . import notifications

log = logging.getLogger(__name__)


def verify_nightly(session: DbSession, now: datetime | None = None) -> chain.VerifyResult:
    """Verify the whole chain; on failure log it and tell every active auditor in the app (once
    a day, however often it runs). The verification itself is audited."""
    now = now or utcnow()
    result = chain.verify(session)
    session.rollback()  # the verifier only read; what follows is one short transaction
    chain.record_verification(session, None, result)
    if result.ok:
        log.info("audit chain verified: %d events, %d checkpoints", result.checked, result.checkpoints_checked)
        return result
    log.error(
        "audit chain verification FAILED at position %s (%s) after %d events",
        result.first_bad_position,
        result.problem,
        result.checked,
    )
    auditors = session.scalars(select(User.id).where(User.role == "auditor", User.active.is_(True)))
    message = notifications.Message(
        "audit.verification_failed", None, "system", None, key=f"audit:verify:{now:%Y-%m-%d}"
    )
    notifications.deliver(session, list(auditors), message)
    return result


def integrity_failures(session: DbSession, actor: Any | None, failures: list[Unreadable]) -> list[Event]:
    """The audit events of values that failed their integrity check (their place: table, column,
    row and owner; never a value), for the caller to write; and every active system
    administrator told in the app once the events are durable, once per broken value."""
    events: list[Event] = []
    for failure in failures:
        found = event(
            "security.integrity_failure",
            actor,
            outcome="failure",
            case_code=failure.case_code,
            organization_id=failure.organization_id or None,
            table=failure.table,
            column=failure.column,
        )
        found.update(object_type=failure.table, object_id=failure.row_id[:64])
        events.append(found)
    if failures:
        admins = list(session.scalars(select(User.id).where(User.role == "sysadmin", User.active.is_(True))))
        for failure in failures:
            key = f"integrity:{failure.table}:{failure.column}:{failure.row_id}"
            message = notifications.Message("security.integrity_failure", None, "system", None, key=key)
            notifications.notify(admins, message, session)
    return events
