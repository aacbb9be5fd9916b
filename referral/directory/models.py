"""Protection networks (one per governorate) and their member organisations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import created_column, id_column


class Network(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "network"

    id: Mapped[str] = id_column()
    governorate: Mapped[str] = mapped_column(String(32), unique=True)
    case_prefix: Mapped[str] = mapped_column(String(3), unique=True)
    name_ar: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_column()

    memberships: Mapped[list[NetworkMembership]] = relationship(
        back_populates="network", cascade="all, delete-orphan", passive_deletes=True
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

    memberships: Mapped[list[NetworkMembership]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )

    def name(self, locale: str) -> str:
        return self.name_ar if locale == "ar" else self.name_en


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
