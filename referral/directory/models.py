"""Protection networks (one per governorate) and their member organisations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column, utcnow


class Network(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "network"

    id: Mapped[str] = id_column()
    governorate: Mapped[str] = mapped_column(String(32), unique=True)
    case_prefix: Mapped[str] = mapped_column(String(3), unique=True)
    name_ar: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_column()
    # The calendar its clocks run on (referral/followups/calendar.py): weekend days as Python
    # weekday numbers (Monday = 0; Friday and Saturday by default) and an IANA time zone.
    weekend_days: Mapped[list[int]] = mapped_column(JSON, default=lambda: [4, 5], server_default="[4, 5]")
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Hebron", server_default="Asia/Hebron")

    memberships: Mapped[list[NetworkMembership]] = relationship(
        back_populates="network", cascade="all, delete-orphan", passive_deletes=True
    )
    holidays: Mapped[list[NetworkHoliday]] = relationship(
        back_populates="network", cascade="all, delete-orphan", passive_deletes=True, order_by="NetworkHoliday.day"
    )

    def name(self, locale: str) -> str:
        return self.name_ar if locale == "ar" else self.name_en


class Organization(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "organization"

    id: Mapped[str] = id_column()
    name_ar: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    governorates: Mapped[list[str]] = mapped_column(JSON, default=list)
    accepts_referrals: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_column()
    # The public directory entry, kept by the organisation's own admin: what it does and how
    # partner organisations reach it (an office's contact, never a survivor's).
    description_ar: Mapped[str | None] = mapped_column(Text, nullable=True)
    description_en: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    website: Mapped[str | None] = mapped_column(String(200), nullable=True)

    memberships: Mapped[list[NetworkMembership]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )

    def name(self, locale: str) -> str:
        return self.name_ar if locale == "ar" else self.name_en

    @classmethod
    def name_column(cls, locale: str) -> Any:
        """The column of the name in `locale`, for queries that read names alone."""
        return cls.name_ar if locale == "ar" else cls.name_en

    def description(self, locale: str) -> str:
        return (self.description_ar if locale == "ar" else self.description_en) or ""


class NetworkMembership(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "network_membership"
    __table_args__ = (UniqueConstraint("network_id", "organization_id"),)

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    joined_at: Mapped[datetime] = created_column()

    network: Mapped[Network] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(back_populates="memberships")


class NetworkHoliday(db.Model):  # type: ignore[name-defined, misc]
    """A public holiday on a network's calendar: no working time runs on that local day.
    The names are public (a holiday's name), so they are stored in the clear."""

    __tablename__ = "network_holiday"
    __table_args__ = (UniqueConstraint("network_id", "day"),)

    id: Mapped[str] = id_column()
    network_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey("network.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name_ar: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = created_column()

    network: Mapped[Network] = relationship(back_populates="holidays")

    def name(self, locale: str) -> str:
        return self.name_ar if locale == "ar" else self.name_en


CAPACITY_STATUSES = ("available", "limited", "full", "waitlist")
SERVICE_LANGUAGES = ("ar", "en", "he")


class Service(db.Model):  # type: ignore[name-defined, misc]
    """A service a member organisation offers, as the directory lists it.

    A confidential location (a shelter's) is never stored: `front_door` is the public contact
    shown in its place, and `public_address` is what any output may show.
    """

    __tablename__ = "service"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    name_ar: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_ar: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    sector: Mapped[str] = mapped_column(String(32))
    governorates: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligibility: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    opening_hours: Mapped[str] = mapped_column(String(500), default="")
    capacity_status: Mapped[str] = mapped_column(String(16), default="available")
    accepting_referrals: Mapped[bool] = mapped_column(Boolean, default=True)
    focal_points: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    confidential_location: Mapped[bool] = mapped_column(Boolean, default=False)
    front_door: Mapped[str] = mapped_column(String(500), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)

    organization: Mapped[Organization] = relationship()

    def name(self, locale: str) -> str:
        return self.name_ar if locale == "ar" else self.name_en

    def description(self, locale: str) -> str:
        first, second = (self.description_ar, self.description_en)
        if locale != "ar":
            first, second = second, first
        return first or second

    @property
    def public_address(self) -> str | None:
        """The address any page, API answer or export may show: none for a confidential location."""
        if self.confidential_location:
            return None
        return self.address or None
