"""Network coordination records: who represents an organisation in a network, meeting series and
meetings with their agendas, invitations and answers, attendance, minutes (versioned) with their
comments, and the action points agreed.

These are network records, not case data: they are stored in the clear, and their free text
refuses anything that looks like a case code (`text.py` here), so no case can be named in them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow

RECURRENCES = ("monthly_day", "monthly_weekday", "one_off")
MEETING_STATES = ("scheduled", "cancelled")
RESPONSES = ("pending", "attending", "excused", "delegating")
ATTENDANCE = ("attended", "excused", "absent")
MINUTES_STATES = ("draft", "circulated", "approved", "superseded")
PRIORITIES = ("high", "medium", "low")
ACTION_STATUSES = ("open", "in_progress", "done", "dropped")
OPEN_STATUSES = ("open", "in_progress")
PACK_STATES = ("queued", "generating", "ready", "failed")
REVIEW_KIND = "review"  # the first agenda item: the review of the previous action points


class Representative(db.Model):  # type: ignore[name-defined, misc]
    """A member organisation's focal person in one network, named by its administrator."""

    __tablename__ = "network_representative"
    __table_args__ = (UniqueConstraint("network_id", "user_id"),)

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"))
    named_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    created_at: Mapped[datetime] = created_column()


class MeetingSeries(db.Model):  # type: ignore[name-defined, misc]
    """How a network's meetings recur: monthly on a day of the month, monthly on the nth weekday
    (week 5 = the last one), or once. Times are local to the network's zone."""

    __tablename__ = "meeting_series"

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    recurrence: Mapped[str] = mapped_column(String(16))
    day_of_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    week_of_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)
    local_time: Mapped[str] = mapped_column(String(5))  # HH:MM in the network's zone
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    place: Mapped[str] = mapped_column(String(300), default="")
    online_link: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()


class Meeting(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "meeting"
    __table_args__ = (Index("ix_meeting_network_starts", "network_id", "starts_at"),)

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    series_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("meeting_series.id", ondelete="SET NULL"), nullable=True
    )
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    place: Mapped[str] = mapped_column(String(300), default="")
    online_link: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(12), default="scheduled")
    minute_taker_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    invitations_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # raised by every change or cancellation: the calendar file's SEQUENCE (RFC 5545)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()

    items: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="AgendaItem.position"
    )


class AgendaItem(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "agenda_item"
    __table_args__ = (UniqueConstraint("meeting_id", "position"),)

    id: Mapped[str] = id_column()
    meeting_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12), default="item")
    title: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[int] = mapped_column(Integer, default=15)
    presenter: Mapped[str] = mapped_column(String(200), default="")

    meeting: Mapped[Meeting] = relationship(back_populates="items")


class Invitation(db.Model):  # type: ignore[name-defined, misc]
    """One representative invited to one meeting, and her answer."""

    __tablename__ = "meeting_invitation"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[str] = id_column()
    meeting_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"))
    response: Mapped[str] = mapped_column(String(12), default="pending")
    delegate_name: Mapped[str] = mapped_column(String(200), default="")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()


class Attendance(db.Model):  # type: ignore[name-defined, misc]
    """What the coordinator recorded for one member organisation at one meeting."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "organization_id"),)

    id: Mapped[str] = id_column()
    meeting_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    representative: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Minutes(db.Model):  # type: ignore[name-defined, misc]
    """One version of a meeting's minutes. An approved version is never changed again: reopening
    marks it superseded (kept, readable) and starts the next version as a draft copy."""

    __tablename__ = "meeting_minutes"
    __table_args__ = (UniqueConstraint("meeting_id", "version"),)

    id: Mapped[str] = id_column()
    meeting_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(12), default="draft")
    circulated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = created_column()

    entries: Mapped[list[MinuteEntry]] = relationship(back_populates="minutes", cascade="all, delete-orphan")


class MinuteEntry(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "minute_entry"
    __table_args__ = (UniqueConstraint("minutes_id", "agenda_item_id"),)

    id: Mapped[str] = id_column()
    minutes_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting_minutes.id", ondelete="CASCADE"))
    agenda_item_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("agenda_item.id", ondelete="CASCADE"))
    discussion: Mapped[str] = mapped_column(Text, default="")
    decisions: Mapped[str] = mapped_column(Text, default="")

    minutes: Mapped[Minutes] = relationship(back_populates="entries")


class MinutesComment(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "minutes_comment"

    id: Mapped[str] = id_column()
    minutes_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("meeting_minutes.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_column()


class ActionPoint(db.Model):  # type: ignore[name-defined, misc]
    """A task a meeting agreed: an owner organisation (and person), a due date, a status. It is
    carried into every later meeting's first item until it is done or dropped."""

    __tablename__ = "action_point"
    __table_args__ = (
        Index("ix_action_point_network_status", "network_id", "status", "due_date"),
        Index("ix_action_point_owner_status", "owner_organization_id", "status"),
    )

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    meeting_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="CASCADE"))
    agenda_item_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("agenda_item.id", ondelete="SET NULL"), nullable=True
    )
    description: Mapped[str] = mapped_column(Text)
    owner_organization_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE")
    )
    owner_user_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    due_date: Mapped[date] = mapped_column(Date)
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    status: Mapped[str] = mapped_column(String(12), default="open")
    status_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class MeetingPack(db.Model):  # type: ignore[name-defined, misc]
    """One version of a meeting's pack: its content frozen as JSON when the worker made it (the
    agenda, the open action points, the network's protected numbers, plan progress, engagement)
    and the PDF drawn from it in Arabic and in English. A new generation is a new version; the
    old ones are kept. It holds no case data, so it is stored in the clear."""

    __tablename__ = "meeting_pack"
    __table_args__ = (UniqueConstraint("meeting_id", "version"),)

    id: Mapped[str] = id_column()
    meeting_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("meeting.id", ondelete="CASCADE"))
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="queued")
    requested_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    requested_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failure: Mapped[str] = mapped_column(String(40), default="")
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    pdf_ar: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pdf_en: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
