"""Case conferences for high-risk cases (multi-agency risk conferences): a meeting of the
organisations already involved in one or more cases of one organisation, chaired by the network's
coordinator, with an agenda of cases, a risk summary per case, actions that land on the case as
follow-ups, and minutes.

Everything confidential is encrypted under the owning organisation's key (the conference's and
each agenda item's `organization_id`): the place or link, the minutes, the reason for convening on
professional judgement and the risk summary. A conference is the owning organisation's record,
not the network's (docs/decisions.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow
from ..security.fields import encrypted_column, register_model

# requested: the owning organisation's supervisor asked the coordinator to convene it;
# scheduled: convened (a date and a place); in_progress: the chair opened it; closed: held.
STATES = ("requested", "scheduled", "in_progress", "closed")
OPEN_STATES = ("requested", "scheduled", "in_progress")
# Why a case is on the agenda (DOMAIN.md: high risk, a repeat incident within 12 months, or
# professional judgement, whose reason is recorded).
GROUNDS = ("high_risk", "repeat_incident", "judgement")
MINUTES_PER_CASE = (10, 11, 12, 13, 14, 15)


class CaseConference(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "case_conference"
    __encryption_owner__ = "organization_id"
    __table_args__ = (
        Index("ix_case_conference_org_state", "organization_id", "state"),
        Index("ix_case_conference_chair_state", "chair_id", "state"),
    )

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id"))
    # the organisation whose cases are discussed (every case on the agenda is one of its own)
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    state: Mapped[str] = mapped_column(String(12), default="scheduled")
    # the network's coordinator who chairs it (and who convenes it when asked to)
    chair_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id"))
    requested_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    convened_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    convened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    place: Mapped[str | None] = encrypted_column()  # a room or an online link
    minutes: Mapped[str | None] = encrypted_column()
    minutes_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    minutes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    items: Mapped[list[ConferenceItem]] = relationship(
        back_populates="conference", cascade="all, delete-orphan", order_by="ConferenceItem.position"
    )

    __mapper_args__ = {"version_id_col": version}


class ConferenceItem(db.Model):  # type: ignore[name-defined, misc]
    """One case on a conference's agenda: why it is there, its time, its risk summary."""

    __tablename__ = "conference_item"
    __encryption_owner__ = "organization_id"
    __table_args__ = (UniqueConstraint("conference_id", "case_id"),)

    id: Mapped[str] = id_column()
    conference_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_conference.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    case_code: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    position: Mapped[int] = mapped_column(Integer)
    minutes_allotted: Mapped[int] = mapped_column(Integer, default=15)
    grounds: Mapped[str] = mapped_column(String(16))
    judgement_reason: Mapped[str | None] = encrypted_column()  # confidential: why, on judgement
    risk_summary: Mapped[str | None] = encrypted_column()  # confidential: entered by the owner
    risk_summary_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    # the chair's timer: when the discussion of this case started and ended
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    added_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    added_at: Mapped[datetime] = created_column()

    conference: Mapped[CaseConference] = relationship(back_populates="items")


class ConferenceAction(db.Model):  # type: ignore[name-defined, misc]
    """An action agreed at a conference: the follow-up it became (what, by whom, by when, its
    state and reminders live there), and the organisation that took it on."""

    __tablename__ = "conference_action"

    id: Mapped[str] = id_column()
    conference_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_conference.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("conference_item.id", ondelete="CASCADE"), index=True
    )
    followup_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("followup.id", ondelete="CASCADE"), unique=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()


register_model(CaseConference)
register_model(ConferenceItem)
