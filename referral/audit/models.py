"""The audit event table and the checkpoints of its hash chain.

Rows are only ever inserted. The seal columns (`chain_position`, `prev_hash`, `event_hash`)
are empty when written and filled once by the sealer that chains events for tamper evidence
(see `chain.py`); on PostgreSQL a trigger refuses any other UPDATE and every DELETE. A
checkpoint is the chain's head at one moment, signed with the worker's Ed25519 key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UTCDateTime, new_id

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_actor_time", "actor_id", "occurred_at"),
        Index("ix_audit_event_case_time", "case_code", "occurred_at"),
        Index("ix_audit_event_org_time", "organization_id", "occurred_at"),
        # A case history's refused attempts: `access.denied` events on the case's objects.
        Index("ix_audit_event_action_object", "action", "object_id", "occurred_at"),
        # The sealer's queue: only events not yet chained (a handful at any time).
        Index(
            "ix_audit_event_unsealed",
            "id",
            postgresql_where=text("chain_position IS NULL"),
            sqlite_where=text("chain_position IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), unique=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    outcome: Mapped[str] = mapped_column(String(12), default="success")
    actor_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    actor_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    actor_organization_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    # The organisation the object belongs to (whose auditors and supervisors may see the event).
    organization_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    object_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    case_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    route: Mapped[str | None] = mapped_column(String(120), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # Seal (tamper evidence): set once by the sealer, never by the request that wrote the event.
    chain_position: Mapped[int | None] = mapped_column(_BIGINT, unique=True, nullable=True)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    event_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class AuditCheckpoint(db.Model):  # type: ignore[name-defined, misc]
    """The chain's head hash at `chain_position`, signed by the sealer's key. Append-only."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    chain_position: Mapped[int] = mapped_column(_BIGINT, unique=True)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    # SHA-256 of the previous checkpoint's message and signature, which this one signs too (see
    # checkpoints.py); NULL on checkpoints written before checkpoints were linked.
    previous_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
