"""A referral asks another member organisation, or a provider outside the network, to provide a
service to a survivor.

An external referral (a hospital or court not on Shabaka) has no receiving organisation: it names
the provider (encrypted: the name can hint at the survivor's situation) and its sector (clear, a
code for statistics and for consent by sector). Its whole follow-up is recorded by the sending side.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow
from ..security.fields import encrypted_column, register_model

STATES = ("draft", "sent", "accepted", "declined", "in_progress", "completed", "closed_unresolved", "withdrawn")
OPEN_STATES = ("sent", "accepted", "in_progress")  # the receiving side sees shared data only here
PRIORITIES = ("emergency", "urgent", "normal")
DECLINE_REASONS = (
    "no_capacity",
    "not_eligible",
    "service_not_offered",
    "unable_to_contact_safely",
    "survivor_declined",
    "duplicate",
    "other",
)


class Referral(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "referral"
    __encryption_owner__ = "from_organization_id"
    __stays_on_transfer__ = True  # what the sending organisation did stays its history
    __table_args__ = (
        # The inbox's referrals waiting for an answer, soonest due first; its counts by state.
        Index("ix_referral_to_state_due", "to_organization_id", "state", "due_at"),
        Index("ix_referral_from_state", "from_organization_id", "state"),
        # Both boxes newest first, keyset-paged on (created_at, id).
        Index("ix_referral_to_created", "to_organization_id", "created_at", "id"),
        Index("ix_referral_from_created", "from_organization_id", "created_at", "id"),
        # A caseworker's inbox (the referrals assigned to her) newest first; the case a received
        # referral was opened as.
        Index("ix_referral_assigned_created", "assigned_to", "created_at", "id"),
        Index("ix_referral_receiver_case", "receiver_case_id"),
        # "With news": the referrals on which the other side stepped lately, of each side's box.
        Index("ix_referral_from_receiver_step", "from_organization_id", "receiver_step_at"),
        Index("ix_referral_to_sender_step", "to_organization_id", "sender_step_at"),
        # exactly one receiver: a member organisation, or an external provider (named by its sector)
        CheckConstraint("(to_organization_id IS NULL) <> (external_sector IS NULL)", name="ck_referral_one_receiver"),
    )

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    case_code: Mapped[str] = mapped_column(String(20))
    from_organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    # None for a referral to a provider outside the network (then `external_*` name it)
    to_organization_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id"), nullable=True
    )
    external_provider: Mapped[str | None] = encrypted_column()  # identifying: the provider's name
    external_sector: Mapped[str | None] = mapped_column(String(16), nullable=True)
    service_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    priority: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="draft")
    field_groups: Mapped[list[str]] = mapped_column(db.JSON, default=list)
    consent_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), ForeignKey("consent.id"), nullable=True)
    # Sending without consent: only with the override permission and a legal basis (flagged).
    override_legal_basis: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = encrypted_column()  # confidential: why the referral is made
    outcome: Mapped[str | None] = encrypted_column()  # confidential: what the service achieved
    note: Mapped[str | None] = encrypted_column()  # confidential: a note with a decline or an outcome
    decline_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    # The receiving organisation's own case file opened from this referral (its record, kept by it)
    receiver_case_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="SET NULL"), nullable=True
    )
    # When the sending / the receiving organisation's people last made a step (a transition):
    # kept with each transition, so that "with news from the other side" reads an index.
    sender_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    receiver_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    transitions: Mapped[list[ReferralTransition]] = relationship(
        back_populates="referral", cascade="all, delete-orphan", order_by="ReferralTransition.at"
    )
    log: Mapped[list[ReferralLogEntry]] = relationship(cascade="all, delete-orphan", order_by="ReferralLogEntry.at")
    assignments: Mapped[list[ReferralAssignment]] = relationship(
        cascade="all, delete-orphan", order_by="ReferralAssignment.at"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def external(self) -> bool:
        """Made to a provider outside the network: followed up by the sending side alone."""
        return self.to_organization_id is None


class ReferralTransition(db.Model):  # type: ignore[name-defined, misc]
    """Every change of a referral's state: shown as a timeline to both sides. The clear `reason`
    holds codes only; the note the sender writes at each step of an external referral's follow-up
    is encrypted under the organisation that made the step."""

    __tablename__ = "referral_transition"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    referral_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("referral.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    at: Mapped[datetime] = created_column()
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = encrypted_column()  # confidential: the sender's follow-up note

    referral: Mapped[Referral] = relationship(back_populates="transitions")


class ReferralLogEntry(db.Model):  # type: ignore[name-defined, misc]
    """A dated progress entry of the service, written by the receiving side: what was done and,
    optionally, the next step. Confidential, encrypted under the receiving organisation's key
    (its record of its own work); read by the sending side's case team and the receiving side."""

    __tablename__ = "referral_log_entry"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    referral_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("referral.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    author_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    at: Mapped[datetime] = created_column()
    text: Mapped[str | None] = encrypted_column()  # confidential: what was done
    next_step: Mapped[str | None] = encrypted_column()  # confidential: what comes next


class ReferralAssignment(db.Model):  # type: ignore[name-defined, misc]
    """Each (re)assignment of a referral inside the receiving organisation: ids and a time only,
    for the referral's timeline."""

    __tablename__ = "referral_assignment"

    id: Mapped[str] = id_column()
    referral_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("referral.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    assigned_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    at: Mapped[datetime] = created_column()


register_model(Referral)
register_model(ReferralTransition)
register_model(ReferralLogEntry)


TRANSFER_STATES = ("requested", "accepted", "declined", "cancelled")


class CaseTransfer(db.Model):  # type: ignore[name-defined, misc]
    """A request to move ownership of a whole case to another organisation (DOMAIN.md: a
    different act from a referral). The receiving organisation's supervisor accepts, naming the
    new owner, or declines with a coded reason; the requesting side may cancel while it waits.

    The record belongs to the requesting organisation (its reason is encrypted under that
    organisation's key) and stays with it after the case has gone: its history of the case.
    """

    __tablename__ = "case_transfer"
    __encryption_owner__ = "from_organization_id"
    __stays_on_transfer__ = True
    __table_args__ = (
        Index("ix_case_transfer_to_state", "to_organization_id", "state"),
        Index("ix_case_transfer_from_state", "from_organization_id", "state"),
        # one waiting transfer per case, also when two people ask at once
        Index(
            "uq_case_transfer_pending",
            "case_id",
            unique=True,
            sqlite_where=text("state = 'requested'"),
            postgresql_where=text("state = 'requested'"),
        ),
    )

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    case_code: Mapped[str] = mapped_column(String(20))
    from_organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    to_organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    state: Mapped[str] = mapped_column(String(12), default="requested")
    reason: Mapped[str | None] = encrypted_column()  # confidential: why the case moves
    consent_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), ForeignKey("consent.id"), nullable=True)
    # Transferring without consent: only with the override permission and a legal basis (flagged).
    override_legal_basis: Mapped[str | None] = mapped_column(String(32), nullable=True)
    requested_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    requested_at: Mapped[datetime] = created_column()
    answered_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    new_owner_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    case: Mapped[Case] = relationship()

    __mapper_args__ = {"version_id_col": version}


register_model(CaseTransfer)
