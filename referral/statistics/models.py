"""Statistics releases (frozen, protected numbers a network agrees to let out), the member
organisations' approvals of them, and the register of outside requests for data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column

RELEASE_STATES = ("draft", "in_review", "published", "superseded")
DECISIONS = ("approved", "refused")
REQUEST_DECISIONS = ("pending", "approved", "refused")


class StatisticsRelease(db.Model):  # type: ignore[name-defined, misc]
    """One version of a network's (or the national) statistics for a period. Its numbers are
    protected once, when it is prepared, and stored: they are never recomputed."""

    __tablename__ = "statistics_release"
    __table_args__ = (
        UniqueConstraint("scope_key", "period_first", "period_last", "version"),
        Index("ix_statistics_release_scope_state", "scope_key", "state"),
    )

    id: Mapped[str] = id_column()
    # "network:<governorate>" or "national"
    scope_key: Mapped[str] = mapped_column(String(48))
    network_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"), nullable=True
    )
    period_first: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    period_last: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(12), default="draft")
    threshold: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    checksum: Mapped[str] = mapped_column(String(64))
    prepared_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    prepared_at: Mapped[datetime] = created_column()
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)

    approvals: Mapped[list[ReleaseApproval]] = relationship(
        back_populates="release", cascade="all, delete-orphan", order_by="ReleaseApproval.decided_at"
    )


class ReleaseApproval(db.Model):  # type: ignore[name-defined, misc]
    """A member organisation's answer to a release, given by one of its administrators."""

    __tablename__ = "statistics_release_approval"
    __table_args__ = (UniqueConstraint("release_id", "organization_id"),)

    id: Mapped[str] = id_column()
    release_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("statistics_release.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("organization.id"))
    decision: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    decided_at: Mapped[datetime] = created_column()

    release: Mapped[StatisticsRelease] = relationship(back_populates="approvals")


class DataRequest(db.Model):  # type: ignore[name-defined, misc]
    """An outside request for the network's numbers: who asked, for what, why, the decision,
    and the release sent in answer."""

    __tablename__ = "statistics_data_request"

    id: Mapped[str] = id_column()
    scope_key: Mapped[str] = mapped_column(String(48), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    requester: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(10), default="pending")
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    release_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("statistics_release.id", ondelete="SET NULL"), nullable=True
    )
    recorded_by: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    recorded_at: Mapped[datetime] = created_column()


class StatisticsSnapshot(db.Model):  # type: ignore[name-defined, misc]
    """The protected numbers of a live view (a scope, a period, a sector), kept for a few minutes
    so that a page does not count and protect again on every request; refreshed by the worker
    for the views everybody opens and for those read lately. Only shown numbers are stored, as in a release."""

    __tablename__ = "statistics_snapshot"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When a user last read it (at most one write an hour): the worker keeps refreshing the
    # snapshots read in the last days and drops the others.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
