"""Signed checkpoints of the audit chain, and the document auditors download.

A checkpoint says "at position N the chain's head hash was H" at a time, signed with the
worker's Ed25519 key (`AUDIT_SIGNING_KEY`). The web process does not hold that key, so it
cannot forge a checkpoint; whoever rewrites history in the database must also rewrite every
later checkpoint, which the published public key exposes. The signed message is

    b"shabaka audit checkpoint v1\\n" + f"{position}\\n{head_hash_hex}\\n{signed_at}\\n"

with `signed_at` in the chain's timestamp format (`2026-11-29T10:00:00.000000Z`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..models_base import DbSession
from ..security import signing
from .chain import CheckpointInfo, timestamp
from .models import AuditCheckpoint

FORMAT = "shabaka-audit-checkpoints/1"
_PREFIX = b"shabaka audit checkpoint v1\n"


def message(position: int, head_hash: bytes, signed_at: datetime) -> bytes:
    return _PREFIX + f"{position}\n{head_hash.hex()}\n{timestamp(signed_at)}\n".encode()


def signer() -> signing.Signer | None:
    """The checkpoint signer of this process: only where AUDIT_SIGNING_KEY is set (the worker)."""
    seed = current_app.config["SHABAKA_SETTINGS"].audit_signing_key
    return signing.Signer(seed) if seed else None


def trusted_keys() -> dict[str, bytes]:
    """The public keys verification trusts: AUDIT_PUBLIC_KEY, and this process's own key."""
    settings = current_app.config["SHABAKA_SETTINGS"]
    keys = {signing.key_id(key): key for key in settings.audit_public_keys}
    own = signer()
    if own is not None:
        keys[own.key_id] = own.public_key
    return keys


def write_if_due(
    session: DbSession,
    by: signing.Signer,
    position: int,
    head_hash: bytes,
    now: datetime,
    every: timedelta | None,
) -> AuditCheckpoint | None:
    """Sign the head into a checkpoint when it moved past the last one and that one is older
    than `every` (None: whenever it moved). Flushes; the sealer commits."""
    previous = last(session)
    if previous is not None:
        if previous.chain_position >= position:
            return None
        if every is not None and now - previous.signed_at < every:
            return None
    signed_at = now
    row = AuditCheckpoint(
        chain_position=position,
        head_hash=head_hash,
        signed_at=signed_at,
        key_id=by.key_id,
        public_key=by.public_key,
        signature=by.sign(message(position, head_hash, signed_at)),
    )
    session.add(row)
    session.flush()
    return row


def last(session: DbSession) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.chain_position.desc()).limit(1))


def info(row: AuditCheckpoint | None) -> CheckpointInfo | None:
    if row is None:
        return None
    return CheckpointInfo(row.chain_position, bytes(row.head_hash).hex(), row.signed_at, row.key_id)


def stream(session: DbSession, upto: int | None = None, page: int = 5000) -> Iterator[Any]:
    """Checkpoints (as rows with the model's column names) in position order, a page at a time."""
    table = AuditCheckpoint.__table__
    after = 0
    while True:
        stmt = select(table).where(table.c.chain_position > after).order_by(table.c.chain_position).limit(page)
        if upto is not None:
            stmt = stmt.where(table.c.chain_position <= upto)
        rows = session.execute(stmt).all()
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].chain_position


def check(mark: Any, recomputed_head: bytes, keys: dict[str, bytes]) -> str | None:
    """What is wrong with a checkpoint, given the head hash recomputed at its position: None,
    `checkpoint_hash`, `checkpoint_key` (signed by a key auditors do not know) or
    `checkpoint_signature` (the signature does not hold)."""
    if bytes(mark.head_hash) != recomputed_head:
        return "checkpoint_hash"
    public_key = bytes(mark.public_key)
    if keys:
        if keys.get(mark.key_id) != public_key:
            return "checkpoint_key"
    elif signing.key_id(public_key) != mark.key_id:
        return "checkpoint_key"
    signed = message(mark.chain_position, recomputed_head, mark.signed_at)
    if not signing.verify(public_key, bytes(mark.signature), signed):
        return "checkpoint_signature"
    return None


def document(session: DbSession) -> dict[str, Any]:
    """Every checkpoint and the public keys that signed them, for auditors to verify an export
    offline with scripts/verify_audit.py (`audit checkpoints --out FILE`, or the API)."""
    checkpoints = []
    seen: dict[str, bytes] = {}
    for row in stream(session):
        seen.setdefault(row.key_id, bytes(row.public_key))
        checkpoints.append(
            {
                "position": row.chain_position,
                "head_hash": bytes(row.head_hash).hex(),
                "signed_at": timestamp(row.signed_at),
                "key_id": row.key_id,
                "signature": bytes(row.signature).hex(),
            }
        )
    pinned = trusted_keys()
    keys = {**seen, **pinned}
    return {
        "format": FORMAT,
        "hash": "event_hash = SHA-256(prev_hash || canonical JSON of the event); position 1 follows 32 zero bytes",
        "public_keys": [
            {"key_id": kid, "public_key": signing.encode_key(key), "published": kid in pinned}
            for kid, key in sorted(keys.items())
        ],
        "checkpoints": checkpoints,
    }
