"""Thin tasks: take ids or nothing, call one service, let the task edge commit."""

from __future__ import annotations

from datetime import timedelta

from .celery_app import celery


@celery.task(name="workers.purge_expired_sessions")
def purge_expired_sessions() -> dict[str, int]:
    from referral.extensions import db
    from referral.models_base import utcnow
    from referral.runtime import runtime
    from referral.security.maintenance import purge_expired

    rt = runtime()
    result = purge_expired(
        db.session,
        rt.sessions,
        idle=timedelta(minutes=rt.settings.session_idle_minutes),
        absolute=timedelta(hours=rt.settings.session_absolute_hours),
        now=utcnow(),
    )
    return {"sessions": result.sessions, "login_failures": result.login_failures}


@celery.task(name="workers.reencrypt_keys")
def reencrypt_keys() -> int:
    """Move values to their organisation's current data key, a batch per commit (resumable)."""
    from referral.audit.services import record
    from referral.extensions import db
    from referral.security.rotation import reencrypt

    done = reencrypt(db.session, db.session.commit)
    record("keys.reencrypt", None, values=done)
    return done


@celery.task(name="workers.purge_closed_cases")
def purge_closed_cases() -> int:
    """Purge cases closed longer ago than the retention period, a batch per commit (idempotent)."""
    from referral.cases.retention import purge_closed_cases as purge
    from referral.extensions import db

    return purge(db.session, commit=db.session.commit)
