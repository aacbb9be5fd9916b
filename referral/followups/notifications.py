"""In-app notifications: who is told what, created only once the change that caused them is
durable, at most once per (cause, user), and worded from a fixed list of kinds that carry the
case code and what happened, nothing more."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..extensions import db
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..transaction import after_commit
from .models import Notification

log = logging.getLogger(__name__)

# kind -> text. Each text may hold the case code and nothing else about the case: it says what
# happened in a few words ("NBL-2026-000009: referral accepted"). "Log in to review" is added by
# the e-mail only (mail.compose): whoever reads these in the app is signed in already.
KINDS: dict[str, Any] = {
    "referral.received": _l("%(code)s: referral received"),
    "referral.accepted": _l("%(code)s: referral accepted"),
    "referral.declined": _l("%(code)s: referral declined"),
    "referral.in_progress": _l("%(code)s: referral in progress"),
    "referral.completed": _l("%(code)s: referral completed"),
    "referral.closed_unresolved": _l("%(code)s: referral closed unresolved"),
    "referral.answered": _l("%(code)s: referral answered"),  # written before the states were told apart
    "referral.withdrawn": _l("%(code)s: referral withdrawn"),
    "referral.assigned": _l("%(code)s: referral assigned to you"),
    "referral.progress": _l("%(code)s: progress recorded on the referral"),
    "referral.reminder": _l("%(code)s: referral waiting for a response"),
    "referral.escalation": _l("%(code)s: referral overdue"),
    "case.transfer_requested": _l("%(code)s: transfer waiting for you"),
    "case.transfer_answered": _l("%(code)s: transfer answered"),
    "case.breakglass": _l("%(code)s: case opened by emergency access"),
    "case.plan_returned": _l("%(code)s: action plan returned"),
    "case.closure_returned": _l("%(code)s: closure returned"),
    "breakglass.limit_reached": _l("A supervisor reached the daily limit of emergency accesses and was refused."),
    "followup.assigned": _l("%(code)s: follow-up assigned to you"),
    "followup.reminder": _l("%(code)s: follow-up due soon"),
    "followup.due": _l("%(code)s: follow-up due"),
    "followup.escalation": _l("%(code)s: follow-up overdue"),
    "statistics.release_review": _l("A statistics release is waiting for your organisation's approval."),
    "statistics.release_published": _l("A statistics release of your network was published."),
    "meeting.invitation": _l("You are invited to a network meeting."),
    "meeting.changed": _l("The time or place of a network meeting changed."),
    "meeting.cancelled": _l("A network meeting was cancelled."),
    "minutes.circulated": _l("Minutes of a network meeting are circulated for comment."),
    "minutes.reminder": _l("Minutes of a network meeting are waiting for approval."),
    "action_point.assigned": _l("Your organisation owns a new action point."),
    "action_point.reminder": _l("An action point of your organisation is due soon."),
    "action_point.escalation": _l("An action point of the network is overdue."),
    "conference.requested": _l("A case conference is requested from you."),
    "conference.scheduled": _l("Your organisation has a seat at a case conference."),
    "account.mfa_reset": _l(
        "An administrator reset your two-step sign-in: you will set up your authenticator again at your next "
        "sign-in. If you did not ask for this, tell your administrator."
    ),
    "system.alert": _l("Reminders are running late."),
    "audit.verification_failed": _l("The audit trail failed verification."),
    "security.integrity_failure": _l("A stored value failed its integrity check."),
}
# What each state a referral reaches tells the other side (the sender, or the receiving side).
REFERRAL_STATE_KINDS = {
    "sent": "referral.received",
    "accepted": "referral.accepted",
    "declined": "referral.declined",
    "in_progress": "referral.in_progress",
    "completed": "referral.completed",
    "closed_unresolved": "referral.closed_unresolved",
    "withdrawn": "referral.withdrawn",
}
TARGET_TYPES = (
    "referral",
    "case",
    "followup",
    "transfer",
    "system",
    "escalation",
    "release",
    "meeting",
    "action_point",
    "conference",
)


@dataclass(frozen=True)
class Message:
    """What to tell: a kind, the case code, and the id of what it is about (for the link)."""

    kind: str
    case_code: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    key: str | None = None  # names the cause; with the user id it makes a delivery idempotent

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}")
        if self.target_type is not None and self.target_type not in TARGET_TYPES:
            raise ValueError(f"unknown notification target {self.target_type!r}")


def text(notification: Notification | Message) -> str:
    return str(KINDS[notification.kind]) % {"code": notification.case_code or "—"}


def focal_points(session: DbSession, organization_id: str) -> list[str]:
    """Who receives an organisation's referrals: its active supervisors."""
    return focal_points_of(session, [organization_id]).get(organization_id, [])


def focal_points_of(session: DbSession, organization_ids: Iterable[str]) -> dict[str, list[str]]:
    """The focal points of several organisations at once, by organisation."""
    wanted = sorted(set(organization_ids))
    found: dict[str, list[str]] = {}
    if not wanted:
        return found
    stmt = select(User.id, User.organization_id).where(
        User.organization_id.in_(wanted), User.role == "supervisor", User.active.is_(True)
    )
    for user_id, organization_id in session.execute(stmt):
        found.setdefault(organization_id, []).append(user_id)
    return found


def deliver(session: DbSession, user_ids: Iterable[str], message: Message) -> int:
    """Write the notifications now, in `session`'s transaction; returns how many were new.
    With a key, a user already told about this cause is not told twice."""
    return len(write_many(session, [(user_ids, message)]))


def write_many(session: DbSession, deliveries: Iterable[tuple[Iterable[str], Message]]) -> list[Notification]:
    """Write several messages' notifications in `session`'s transaction with one look-up of the
    keys already used and one flush; returns the new notifications. A (cause, user) told before
    (same key) is not told again."""
    wanted: list[tuple[str, Message, str | None]] = []
    for user_ids, message in deliveries:
        for uid in sorted(set(user_ids)):
            wanted.append((uid, message, f"{message.key}:{uid}" if message.key else None))
    keys = [key for _uid, _message, key in wanted if key is not None]
    known: set[str] = set()
    for first in range(0, len(keys), 500):
        chunk = keys[first : first + 500]
        known.update(session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(chunk))))
    written = []
    for uid, message, key in wanted:
        if key is not None:
            if key in known:
                continue
            known.add(key)
        written.append(
            Notification(
                id=new_id(),
                user_id=uid,
                kind=message.kind,
                case_code=message.case_code,
                target_type=message.target_type,
                target_id=message.target_id,
                dedupe_key=key,
            )
        )
    session.add_all(written)
    session.flush()
    return written


def notify(user_ids: Iterable[str], message: Message, session: DbSession | None = None) -> None:
    """Tell these users once the current transaction commits (nothing if it rolls back)."""
    recipients = sorted(set(user_ids))
    if not recipients:
        return
    engine = db.engine

    def write() -> None:
        from . import mail

        outbox: list[str] = []
        with Session(bind=engine) as fresh:
            try:
                with fresh.begin():  # committed as the block ends, rolled back on an error
                    queued = mail.queue_for(fresh, write_many(fresh, [(recipients, message)]))
                outbox = queued
            except IntegrityError:  # delivered meanwhile by someone else: already told
                pass
            except Exception:
                log.exception("notification %s could not be written", message.kind)
        if outbox:
            from ..dispatch import publish_now

            publish_now("workers.send_mail", outbox)

    after_commit(write, session)


def listing(session: DbSession, user: Any, *, limit: int = 50, before: str | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if before:
        anchor = get_by_id(session, Notification, before)
        if anchor is not None and anchor.user_id == user.id:
            stmt = stmt.where(
                (Notification.created_at < anchor.created_at)
                | ((Notification.created_at == anchor.created_at) & (Notification.id < anchor.id))
            )
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def unread_count(session: DbSession, user: Any) -> int:
    stmt = select(func.count()).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    return int(session.scalar(stmt) or 0)


def open_one(session: DbSession, user: Any, notification_id: str) -> Notification | None:
    """The user's own notification, marked read; None for anyone else's."""
    found = get_by_id(session, Notification, notification_id)
    if found is None or found.user_id != user.id:
        return None
    if found.read_at is None:
        found.read_at = utcnow()
    return found


def mark_all_read(session: DbSession, user: Any) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
