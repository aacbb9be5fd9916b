"""Notifications: what a user is told in the app. A notification holds a kind, the case code
and the id of what it is about, never text: the words are rendered at display time from the
kind, so no name, GBV type, place or time can ever be stored in one (DOMAIN.md, "Safety in
communication")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column


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
