"""The survivor case file: identifying and confidential fields encrypted, statistical ones clear.

Every encrypted column is bound to its row and to the owning organisation (`organization_id`),
under that organisation's data key. Blind indexes (`*_index`) allow exact lookups of a
national id or phone inside the organisation without decrypting anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow
from ..security.fields import encrypted_column, register_model

STATUSES = (
    "intake",
    "assessment",
    "action_plan",
    "implementation",
    "follow_up",
    "closure_pending",
    "closed",
    "reopened",
    "transferred",
)
AGE_GROUPS = ("0-11", "12-17", "18-24", "25-59", "60+")
SEXES = ("female", "male")
MARITAL_STATUSES = ("single", "married", "engaged", "divorced", "separated", "widowed", "unknown")
GBV_TYPES = (
    "rape",
    "sexual_assault",
    "physical_assault",
    "forced_marriage",
    "denial_of_resources",
    "psychological_abuse",
    "non_gbv",
)
PERPETRATOR_RELATIONSHIPS = (
    "intimate_partner",
    "former_partner",
    "family",
    "caregiver",
    "employer",
    "service_provider",
    "neighbour_friend",
    "community_member",
    "stranger",
    "unknown",
    "other",
)
RISK_LEVELS = ("high", "medium", "low")
# How long after the incident the survivor first reported it (asked at intake; a bucket, never a date).
REPORTING_DELAYS = ("0-3d", "4-5d", "6-14d", "15-30d", "1-3m", "3m+")
CLOSURE_REASONS = ("needs_met", "no_contact_30_days", "survivor_request", "moved", "transferred")
INCIDENT_CONTEXTS = (
    "intimate_partner_violence",
    "early_marriage",
    "child_sexual_abuse",
    "sexual_exploitation",
    "conflict_related",
    "online",
)


class CaseSequence(db.Model):  # type: ignore[name-defined, misc]
    """The last case number given per case-code prefix and year."""

    __tablename__ = "case_sequence"

    prefix: Mapped[str] = mapped_column(String(3), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Case(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "case_file"
    __encryption_owner__ = "organization_id"
    __table_args__ = (
        Index("ix_case_file_org_status", "organization_id", "status"),
        Index("ix_case_file_org_national_id_index", "organization_id", "national_id_index"),
        Index("ix_case_file_org_phone_index", "organization_id", "phone_index"),
        Index("ix_case_file_statistics", "governorate", "opened_at"),
        # The case list: an organisation's cases newest first, keyset-paged on (opened_at, id).
        Index("ix_case_file_org_opened", "organization_id", "opened_at", "id"),
    )

    id: Mapped[str] = id_column()
    case_code: Mapped[str] = mapped_column(String(20), unique=True)
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"), index=True)
    owner_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="intake")
    opened_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set when retention purged the case: only its statistical fields remain.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # identifying (encrypted)
    full_name: Mapped[str | None] = encrypted_column()
    national_id: Mapped[str | None] = encrypted_column()
    date_of_birth: Mapped[str | None] = encrypted_column()  # ISO date
    phone: Mapped[str | None] = encrypted_column()
    address: Mapped[str | None] = encrypted_column()
    safe_contact: Mapped[dict[str, Any] | None] = encrypted_column("json")
    caregiver: Mapped[dict[str, Any] | None] = encrypted_column("json")
    # blind indexes of the identifiers (HMAC, per organisation)
    national_id_index: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phone_index: Mapped[str | None] = mapped_column(String(32), nullable=True)

    # confidential (encrypted)
    consent_for_services: Mapped[dict[str, Any] | None] = encrypted_column("json")
    assessment: Mapped[dict[str, Any] | None] = encrypted_column("json")
    action_plan: Mapped[dict[str, Any] | None] = encrypted_column("json")
    safety_plan: Mapped[str | None] = encrypted_column()
    closure: Mapped[dict[str, Any] | None] = encrypted_column("json")

    # statistical (clear, coarse)
    governorate: Mapped[str] = mapped_column(String(32))
    age_group: Mapped[str | None] = mapped_column(String(8), nullable=True)
    sex: Mapped[str | None] = mapped_column(String(8), nullable=True)
    disability: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    marital_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    gbv_type: Mapped[str | None] = mapped_column(String(24), nullable=True)
    perpetrator_relationship: Mapped[str | None] = mapped_column(String(24), nullable=True)
    risk_level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    reporting_delay: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # The survivor agreed that non-identifying data about her case may be counted in network
    # statistics (GBVIMS practice). Without it the case counts in its own organisation's numbers only.
    statistics_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the assessment and the safety plan were first recorded: clear dates for the quality
    # indicators, so that no statistic has to look at the encrypted content.
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    safety_plan_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A new incident within twelve months of an earlier one, flagged by the case team (when, by
    # whom): the case is then eligible for a case conference. Clear: a date and an id, no content.
    repeat_incident_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    repeat_incident_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)

    # approvals (who asked, who approved: never the same person)
    plan_submitted_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    plan_approved_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    plan_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closure_requested_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    closure_approved_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)

    members: Mapped[list[CaseMember]] = relationship(back_populates="case", cascade="all, delete-orphan")
    incidents: Mapped[list[Incident]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Incident.created_at"
    )

    __mapper_args__ = {"version_id_col": version}


class CaseMember(db.Model):  # type: ignore[name-defined, misc]
    """The case team: the owning caseworker and the colleagues assigned to the case."""

    __tablename__ = "case_member"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(8), default="member")  # "owner" or "member"
    added_at: Mapped[datetime] = created_column()

    case: Mapped[Case] = relationship(back_populates="members")


class Incident(db.Model):  # type: ignore[name-defined, misc]
    """One incident, with exactly one GBVIMS core type; contexts are flags, not types."""

    __tablename__ = "incident"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    gbv_type: Mapped[str] = mapped_column(String(24))
    contexts: Mapped[list[str]] = mapped_column(db.JSON, default=list)
    perpetrator_relationship: Mapped[str | None] = mapped_column(String(24), nullable=True)
    month: Mapped[str | None] = mapped_column(String(7), nullable=True)  # YYYY-MM, never finer
    narrative: Mapped[str | None] = encrypted_column()
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()

    case: Mapped[Case] = relationship(back_populates="incidents")


class CaseNote(db.Model):  # type: ignore[name-defined, misc]
    """An append-only note: written once, never edited or deleted."""

    __tablename__ = "case_note"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    author_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = created_column()
    body: Mapped[str | None] = encrypted_column()


class CaseTransition(db.Model):  # type: ignore[name-defined, misc]
    """Every step change of a case: who, when, from where to where, and why (a code, not prose)."""

    __tablename__ = "case_transition"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    at: Mapped[datetime] = created_column()
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


FIELD_GROUPS = ("identity", "contact", "incident", "assessment", "notes")


class CaseDocument(db.Model):  # type: ignore[name-defined, misc]
    """A file attached to a case. Its bytes are encrypted in storage; its title here."""

    __tablename__ = "case_document"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    title: Mapped[str | None] = encrypted_column()
    content_type: Mapped[str] = mapped_column(String(64))  # checked from the content, not the name
    size: Mapped[int] = mapped_column(Integer)
    field_group: Mapped[str] = mapped_column(String(16), default="assessment")  # travels with referrals sharing it
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    uploaded_at: Mapped[datetime] = created_column()


for _model in (Case, Incident, CaseNote, CaseDocument):
    register_model(_model)


RETURNABLE = ("action_plan", "closure")  # what a supervisor may approve, or return for changes


class ApprovalReturn(db.Model):  # type: ignore[name-defined, misc]
    """A supervisor sent an action plan or a closure back to the case team with a comment,
    instead of approving it. Append-only; the comment is confidential (encrypted)."""

    __tablename__ = "case_approval_return"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    what: Mapped[str] = mapped_column(String(16))
    returned_by: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id"))
    returned_at: Mapped[datetime] = created_column()
    comment: Mapped[str | None] = encrypted_column()


register_model(ApprovalReturn)


GIVERS = ("survivor", "caregiver")
CONSENT_METHODS = ("written", "verbal")


class Consent(db.Model):  # type: ignore[name-defined, misc]
    """One grant of consent to share: who gave it, how, to whom (organisations and/or sectors),
    which field groups, for what purpose, until when; withdrawal takes effect at once."""

    __tablename__ = "consent"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    given_by: Mapped[str] = mapped_column(String(12))  # survivor | caregiver
    method: Mapped[str] = mapped_column(String(8))  # written | verbal
    recorded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    recorded_at: Mapped[datetime] = created_column()
    organization_ids: Mapped[list[str]] = mapped_column(db.JSON, default=list)
    sectors: Mapped[list[str]] = mapped_column(db.JSON, default=list)
    field_groups: Mapped[list[str]] = mapped_column(db.JSON, default=list)
    # [{"organization_id": ..., "field_groups": [...]}]: never sent to that party, whatever else says
    withheld: Mapped[list[dict[str, Any]]] = mapped_column(db.JSON, default=list)
    purpose: Mapped[str | None] = encrypted_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    # under 18: caregiver consent plus the child's assent, or a recorded best-interest reason
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    minor_assent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    best_interest_reason: Mapped[str | None] = encrypted_column()


register_model(Consent)


class MandatoryReport(db.Model):  # type: ignore[name-defined, misc]
    """A report to a child-protection counsellor (Palestinian Child Law 2004, art. 53), and
    whether the child or caregiver was told before it was made."""

    __tablename__ = "mandatory_report"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    authority: Mapped[str] = mapped_column(String(200))
    reported_on: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    told_first: Mapped[str] = mapped_column(String(16))  # child | caregiver | both | neither
    notes: Mapped[str | None] = encrypted_column()
    recorded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    recorded_at: Mapped[datetime] = created_column()


register_model(MandatoryReport)
