"""Signed checkpoints of the audit chain, and the document auditors download.

A checkpoint says "at position N the chain's head hash was H" at a time, signed with the
worker's Ed25519 key (`AUDIT_SIGNING_KEY`). The web process does not hold that key, so it
cannot forge a checkpoint; whoever rewrites history in the database must also rewrite every
later checkpoint, which the published public key exposes. The signed message is

    b"shabaka audit checkpoint v1\\n" + f"{position}\\n{head_hash_hex}\\n{signed_at}\\n"

with `signed_at` in the chain's timestamp format (`2026-11-29T10:00:00.000000Z`). Checkpoints are
linked: since version 2 each one also signs the digest of the checkpoint before it,

    b"shabaka audit checkpoint v2\\n" + f"{position}\\n{head_hash_hex}\\n{signed_at}\\n{previous_hex}\\n"

where `previous` = SHA-256(previous checkpoint's message || its signature), or 32 zero bytes when
it links to nothing (the first checkpoint; or the one after a checkpoint whose signature did not
hold when the sealer read it). The sealer checks the previous checkpoint's signature before it
links to it, so a checkpoint that links to its predecessor vouches for it: the verifier checks
the signature of the last checkpoint of each unbroken run (`Links`) and, only when that fails,
every checkpoint of the run to name the first bad one. Version 1 checkpoints (written before
links, `previous_digest` NULL) are checked one by one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..models_base import DbSession
from ..security import signing
from .chain import CheckpointInfo, timestamp
from .models import AuditCheckpoint

log = logging.getLogger(__name__)

FORMAT = "shabaka-audit-checkpoints/2"
_PREFIX = b"shabaka audit checkpoint v1\n"
_PREFIX_LINKED = b"shabaka audit checkpoint v2\n"
NO_LINK = bytes(32)


def message(position: int, head_hash: bytes, signed_at: datetime, previous: bytes | None = None) -> bytes:
    """What a checkpoint signs: version 1 without `previous`, version 2 (linked) with it."""
    body = f"{position}\n{head_hash.hex()}\n{timestamp(signed_at)}\n"
    if previous is None:
        return _PREFIX + body.encode()
    return _PREFIX_LINKED + f"{body}{previous.hex()}\n".encode()


def _message_of(mark: Any) -> bytes:
    previous = mark.previous_digest
    return message(
        mark.chain_position, bytes(mark.head_hash), mark.signed_at, None if previous is None else bytes(previous)
    )


def digest(mark: Any) -> bytes:
    """What the next checkpoint signs of this one: SHA-256 of its message and signature."""
    return hashlib.sha256(_message_of(mark) + bytes(mark.signature)).digest()


def signature_holds(mark: Any) -> bool:
    """Whether a checkpoint's signature holds under the public key stored beside it."""
    return signing.verify(bytes(mark.public_key), bytes(mark.signature), _message_of(mark))


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
    than `every` (None: whenever it moved), linked to the last one when its signature holds.
    Flushes; the sealer commits."""
    previous = last(session)
    link = NO_LINK
    if previous is not None:
        if previous.chain_position >= position:
            return None
        if every is not None and now - previous.signed_at < every:
            return None
        if signature_holds(previous):
            link = digest(previous)
        else:  # never vouch for it: left unlinked, the verifier checks it alone and reports it
            log.error("audit: the checkpoint at %d does not hold its signature; not linked", previous.chain_position)
    signed_at = now
    row = AuditCheckpoint(
        chain_position=position,
        head_hash=head_hash,
        signed_at=signed_at,
        key_id=by.key_id,
        public_key=by.public_key,
        signature=by.sign(message(position, head_hash, signed_at, link)),
        previous_digest=link,
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


def claim_problem(mark: Any, recomputed_head: bytes, keys: dict[str, bytes]) -> str | None:
    """What is wrong with a checkpoint short of its signature, given the head hash recomputed at
    its position: None, `checkpoint_hash`, or `checkpoint_key` (signed by a key auditors do not
    know, or a key id that is not its key's)."""
    if bytes(mark.head_hash) != recomputed_head:
        return "checkpoint_hash"
    public_key = bytes(mark.public_key)
    if keys:
        if keys.get(mark.key_id) != public_key:
            return "checkpoint_key"
    elif signing.key_id(public_key) != mark.key_id:
        return "checkpoint_key"
    return None


class Links:
    """The verifier's checkpoints, in position order: each one's claim is checked as it comes,
    and one signature per run of linked checkpoints, when the run ends (see the module's doc).

    `add` and `settle` answer None or the first bad (position, problem) they found."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys
        self.run: list[Any] = []  # checkpoints since the last settled one, each vouching for the one before
        self.last_digest: bytes | None = None
        self.checked = 0  # checkpoints found to hold
        self.signatures_checked = 0

    def add(self, mark: Any, recomputed_head: bytes, *, claim_checked: bool = False) -> tuple[int, str] | None:
        """Take the next checkpoint; `claim_checked`: the caller already found its claim holds."""
        problem = None if claim_checked else claim_problem(mark, recomputed_head, self.keys)
        if problem is not None:
            return self.settle() or (mark.chain_position, problem)
        previous = mark.previous_digest
        linked = self.run and previous is not None and bytes(previous) == self.last_digest
        if not linked:
            earlier = self.settle()
            if earlier is not None:
                return earlier
        self.run.append(mark)
        self.last_digest = digest(mark)
        return None

    def settle(self) -> tuple[int, str] | None:
        """Check the signature that vouches for the run so far: its last checkpoint's. When it
        does not hold, check each of the run's own signatures to name the first that fails."""
        run, self.run = self.run, []
        if not run:
            return None
        self.signatures_checked += 1
        if signature_holds(run[-1]):
            self.checked += len(run)
            return None
        for mark in run:
            self.signatures_checked += 1
            if not signature_holds(mark):
                return (mark.chain_position, "checkpoint_signature")
            self.checked += 1
        return (run[-1].chain_position, "checkpoint_signature")


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
                "previous": None if row.previous_digest is None else bytes(row.previous_digest).hex(),
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
