"""Server-side session rows (embedded default) and failed sign-in attempts for throttling.

Only hashes of session ids are stored, so a copy of this table cannot be replayed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column


class StoredSession(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "auth_session"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # A public handle used to name the session on "my sessions" pages; never the id itself.
    handle: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"), index=True, nullable=True
    )
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = created_column()
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    client: Mapped[str] = mapped_column(String(200), default="")


class LoginFailure(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "login_failure"

    id: Mapped[str] = id_column()
    # Keyed hashes: the table names neither the account nor the address.
    account_key: Mapped[str] = mapped_column(String(64), index=True)
    client_key: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DataKey(db.Model):  # type: ignore[name-defined, misc]
    """A data key of one scope (an organisation's id, or "platform"), stored wrapped by a root key.

    `id` is the key id written into every value encrypted with it. Destroying an organisation's
    rows here makes its data unreadable for good (crypto-shredding).
    """

    __tablename__ = "data_key"
    __table_args__ = (UniqueConstraint("scope", "purpose", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(8))  # "data" (encryption) or "index" (blind indexes)
    version: Mapped[int] = mapped_column(Integer)
    root_key_id: Mapped[str] = mapped_column(String(16))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_column()
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
