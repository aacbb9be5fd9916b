"""The nightly verification of the audit trail, and who is told when it fails: the auditors."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from ..accounts.models import User
from ..audit import chain
from ..models_base import DbSession, utcnow
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
