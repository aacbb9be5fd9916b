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
    """Move values to their organisation's current data key, a batch per commit, each recorded
    with it (resumable)."""
    from referral.extensions import db
    from referral.security.rotation import reencrypt

    return reencrypt(db.session, db.session.commit)


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
    from referral.followups import clocks, mail
    from referral.models_base import utcnow

    ids = clocks.sweep(db.session)
    for first in range(0, len(ids), clocks.DELIVERY_BATCH):
        enqueue("workers.deliver_reminders", *ids[first : first + clocks.DELIVERY_BATCH])
    if len(ids) == clocks.SWEEP_BATCH:
        enqueue("workers.sweep_reminders")
    clocks.alert_if_late(db.session)
    stuck = mail.pending_ids(db.session, utcnow() - mail.STALE_AFTER)
    if stuck:
        enqueue("workers.send_mail", stuck)
    return len(ids)


@celery.task(name="workers.deliver_reminders")
def deliver_reminders(*step_ids: str) -> int:
    """Deliver a batch of rungs; a repeat (redelivery, a second sweep) is a no-op for each."""
    from referral.extensions import db
    from referral.followups import clocks, mail
    from referral.models_base import utcnow
    from referral.transaction import after_commit

    delivered = clocks.deliver_many(db.session, step_ids)
    if delivered and runtime_mail_enabled():

        def send_after_commit() -> None:  # the e-mails these deliveries queued, once durable
            from sqlalchemy.orm import Session

            with Session(bind=db.engine) as fresh:
                queued = mail.pending_ids(fresh, utcnow() + timedelta(seconds=1))
            if queued:
                _send(queued)

        after_commit(send_after_commit)
    return delivered


def runtime_mail_enabled() -> bool:
    from referral.runtime import runtime

    return bool(runtime().settings.mail_enabled)


@celery.task(name="workers.deliver_reminder")
def deliver_reminder(step_id: str) -> bool:
    """Deliver one rung; a repeat (redelivery, a second sweep) is a no-op. (Still accepted for
    messages published before deliveries went out in batches.)"""
    from referral.extensions import db
    from referral.followups import clocks
    from referral.transaction import after_commit

    done = clocks.deliver(db.session, step_id)
    if done.outbox_ids:  # sent from here once the notifications are durable
        outbox = list(done.outbox_ids)

        def send_after_commit() -> None:
            _send(outbox)

        after_commit(send_after_commit)
    return done.delivered


@celery.task(name="workers.send_mail")
def send_mail(outbox_ids: list[str]) -> int:
    """Send these queued e-mails (each claimed and marked on its own commit)."""
    return _send(outbox_ids)


def _send(outbox_ids: list[str]) -> int:
    from sqlalchemy.orm import Session

    from referral.extensions import db
    from referral.followups import mail
    from referral.runtime import runtime

    settings = runtime().settings
    if not settings.mail_enabled:
        return 0
    return mail.send_pending(lambda: Session(bind=db.engine), outbox_ids, settings)


@celery.task(name="workers.seal_audit")
def seal_audit() -> int:
    """Every few seconds, from the beat: chain the new audit events and sign a checkpoint when
    one is due. A run that finds another sealer at work returns at once."""
    from referral.audit import chain, checkpoints
    from referral.extensions import db
    from referral.runtime import runtime

    every = timedelta(seconds=runtime().settings.audit_checkpoint_seconds)
    done = chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=every, wait=False)
    return done.sealed


@celery.task(name="workers.verify_audit")
def verify_audit() -> bool:
    """Nightly: verify the whole audit chain; on failure the auditors are told in the app."""
    from referral.extensions import db
    from referral.followups.audit_alerts import verify_nightly

    return verify_nightly(db.session).ok


@celery.task(name="workers.refresh_statistics")
def refresh_statistics() -> int:
    """Every few minutes, from the beat: count and protect the statistics views everybody opens
    (each network's and the national usual periods) and those read lately, so their pages answer
    from a snapshot; one commit per view."""
    from referral.extensions import db
    from referral.statistics.services import refresh_snapshots

    return refresh_snapshots(db.session, commit=db.session.commit)


@celery.task(name="workers.generate_meeting_pack")
def generate_meeting_pack(pack_id: str) -> str:
    """Make one version of a meeting's pack (its content frozen, its PDFs drawn); a second run
    of the same version does nothing. Shows "generating" on its own commit first."""
    from referral.coordination.pack import generate
    from referral.extensions import db

    return generate(db.session, pack_id, commit=db.session.commit)
