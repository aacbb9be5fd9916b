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


@celery.task(name="workers.sweep_reminders")
def sweep_reminders() -> int:
    """Every minute, from the beat: claim the due reminder rungs and publish their deliveries, a
    batch per task, after commit. A sweep that claimed a full batch publishes the next sweep, so
    a backlog drains at the workers' pace, not a batch a minute. A second beat's sweep in the
    same minute finds nothing to do."""
    from referral.dispatch import enqueue
    from referral.extensions import db
    from referral.followups import clocks

    ids = clocks.sweep(db.session)
    for first in range(0, len(ids), clocks.DELIVERY_BATCH):
        enqueue("workers.deliver_reminders", *ids[first : first + clocks.DELIVERY_BATCH])
    if len(ids) == clocks.SWEEP_BATCH:
        enqueue("workers.sweep_reminders")
    clocks.alert_if_late(db.session)
    return len(ids)


@celery.task(name="workers.deliver_reminders")
def deliver_reminders(*step_ids: str) -> int:
    """Deliver a batch of rungs; a repeat (redelivery, a second sweep) is a no-op for each."""
    from referral.extensions import db
    from referral.followups import clocks

    return clocks.deliver_many(db.session, step_ids)


@celery.task(name="workers.deliver_reminder")
def deliver_reminder(step_id: str) -> bool:
    """Deliver one rung; a repeat (redelivery, a second sweep) is a no-op. (Still accepted for
    messages published before deliveries went out in batches.)"""
    from referral.extensions import db
    from referral.followups import clocks

    return clocks.deliver(db.session, step_id).delivered
