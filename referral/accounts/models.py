"""User accounts, their recovery codes and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..directory.models import Network, Organization
from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column
from ..security.fields import encrypted_column, register_model


class User(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "user_account"
    __encryption_owner__ = "organization_id"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    # A coordinator runs one network; empty for every other role.
    network_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("network.id", ondelete="SET NULL"), nullable=True
    )
    role: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    locale: Mapped[str] = mapped_column(String(8), default="ar")
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # her own clock; None: her network's
    # In-app notifications always; also by e-mail (to `email`) when she chooses it.
    notify_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = created_column()
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    # The TOTP seed, encrypted under the organisation's data key and bound to this row.
    totp_secret: Mapped[str | None] = encrypted_column()
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The last accepted TOTP time step: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = created_column()
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    organization: Mapped[Organization] = relationship()
    network: Mapped[Network | None] = relationship()

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.id

    @property
    def mfa_enrolled(self) -> bool:
        return self.totp_enrolled_at is not None


register_model(User)


class RecoveryCode(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "recovery_code"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiToken(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "api_token"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship()
