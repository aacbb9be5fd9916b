"""Notifications (what a user is told in the app) and follow-up tasks.

A notification holds a kind, the case code and the id of what it is about, never text: the
words are rendered at display time from the kind, so no name, GBV type, place or time can ever
be stored in one (DOMAIN.md, "Safety in communication")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow
from ..security.fields import encrypted_column, register_model


class Notification(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_created", "user_id", "created_at"),)

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    case_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    target_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    target_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    # One notification per (cause, user): a second delivery of the same cause is a no-op.
    dedupe_key: Mapped[str | None] = mapped_column(String(160), nullable=True, unique=True)
    created_at: Mapped[datetime] = created_column()
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


OUTBOX_STATES = ("pending", "sending", "sent", "failed")


class EmailOutbox(db.Model):  # type: ignore[name-defined, misc]
    """One e-mail to send for one notification: written in the notification's transaction,
    sent afterwards by `mail.send_pending`. It holds ids and delivery state only; the words
    and the address are read at sending time."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_state_created", "state", "created_at"),)

    id: Mapped[str] = id_column()
    notification_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("notification.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()


KINDS = ("call", "visit", "service_check", "safety_plan_review", "document", "other")
STATES = ("open", "done", "cancelled")


class FollowUp(db.Model):  # type: ignore[name-defined, misc]
    """A task on a case (and optionally one of its referrals): what to do, by when, by whom.

    The note and the completion note are confidential and encrypted under the case's
    organisation; everything else is ids, codes and times, so lists, reminders and
    notifications never need to decrypt anything. Reminders and clocks read `(state, due_at)`.
    """

    __tablename__ = "followup"
    __encryption_owner__ = "organization_id"
    __table_args__ = (
        Index("ix_followup_state_due", "state", "due_at"),
        Index("ix_followup_assignee_state_due", "assignee_id", "state", "due_at"),
        Index("ix_followup_org_state_due", "organization_id", "state", "due_at"),
    )

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    referral_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("referral.id", ondelete="SET NULL"), nullable=True
    )
    case_code: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    kind: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assignee_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id"))
    note: Mapped[str | None] = encrypted_column()
    done_note: Mapped[str | None] = encrypted_column()
    state: Mapped[str] = mapped_column(String(10), default="open")
    # The follow-up this one was created after ("done, and the next one is ..."), if any.
    follows_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("followup.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    done_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    case: Mapped[Case] = relationship()

    __mapper_args__ = {"version_id_col": version}


register_model(FollowUp)


CLOCKS = ("referral_response", "referral_completion", "followup", "action_point", "minutes_approval")
STEP_STATES = ("pending", "sent", "cancelled")


class ReminderStep(db.Model):  # type: ignore[name-defined, misc]
    """One rung of a reminder or escalation ladder: written in the same transaction as the change
    that starts its clock, cancelled when the clock stops, delivered once when due. The pair
    (clock, target, step) is unique: it is the key that makes a second delivery a no-op."""

    __tablename__ = "reminder_step"
    __table_args__ = (
        UniqueConstraint("clock", "target_id", "step", name="uq_reminder_step_clock_target_step"),
        # The sweeper's question ("what is due and not yet sent?") reads only pending rows.
        Index(
            "ix_reminder_step_pending_due",
            "due_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_reminder_step_target", "target_id"),
    )

    id: Mapped[str] = id_column()
    clock: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    step: Mapped[str] = mapped_column(String(16))
    case_code: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(10), default="pending")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recipients: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = created_column()


class SweepRun(db.Model):  # type: ignore[name-defined, misc]
    """The last sweep, for `flask reminders status` and the lateness alert (one row)."""

    __tablename__ = "reminder_sweep"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_claimed: Mapped[int] = mapped_column(Integer, default=0)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
