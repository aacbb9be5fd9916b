"""Break-the-glass grants: a supervisor's emergency, read-only access to another organisation's
case, for a stated reason and a few hours.

The reason is free text that may name the survivor, so it is encrypted. Its owner is the case's
organisation (`case_organization_id`): the reason is about that organisation's case, the owning
organisation's supervisors read it when they decide whether to revoke, and it goes with the
case's data (retention purge, crypto-shredding of the owning organisation's keys).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UTCDateTime, created_column, id_column
from ..security.fields import encrypted_column, register_model

END_KINDS = ("ended", "revoked")  # ended early by the grantee; revoked by the owning organisation


class BreakGlassGrant(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "breakglass_grant"
    __encryption_owner__ = "case_organization_id"
    __table_args__ = (
        Index("ix_breakglass_grant_user_case", "user_id", "case_id"),
        Index("ix_breakglass_grant_case_org_opened", "case_organization_id", "opened_at"),
    )

    id: Mapped[str] = id_column()
    case_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("case_file.id", ondelete="CASCADE"), index=True
    )
    case_code: Mapped[str] = mapped_column(String(20))
    case_organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))  # the owner when it was opened
    # The grantee and her organisation (no foreign keys: the record outlives her account).
    user_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    organization_id: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    reason: Mapped[str | None] = encrypted_column()  # None only once the case is purged
    opened_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    end_kind: Mapped[str | None] = mapped_column(String(8), nullable=True)

    def active_at(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at

    def state_at(self, now: datetime) -> str:
        """`active`, `expired`, `ended` or `revoked`."""
        if self.ended_at is not None:
            return self.end_kind or "ended"
        return "active" if now < self.expires_at else "expired"


register_model(BreakGlassGrant)
