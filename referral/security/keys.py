"""The key hierarchy: a root key outside the database wraps one data key per scope and version.

A scope is an organisation's id (its case data) or "platform". Each scope has data keys
(versions 1, 2, ... for encryption; the newest unretired one takes new writes) and one index
key (for blind indexes). Data keys are stored wrapped in `data_key`; unwrapped keys are cached
per process for a bounded time. A key created inside a transaction enters the cache only once
that transaction commits, so a rolled-back request can never leave a phantom key id behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models_base import DbSession, utcnow
from ..transaction import after_commit
from .crypto import Context, UnknownKey, key_fingerprint, new_key, unwrap_key, wrap_key
from .models import DataKey

PLATFORM = "platform"
DATA, INDEX = "data", "index"


class RootKeyProvider(Protocol):
    """Wraps and unwraps data keys. The local provider holds the key; a KMS adapter would call out."""

    @property
    def current_id(self) -> str: ...

    def wrap(self, key: bytes, associated: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, root_key_id: str, wrapped: bytes, associated: bytes) -> bytes: ...


class LocalRootKeys:
    """Root keys from the environment or a file: the current one, and previous ones during rotation."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        self._current_id = key_fingerprint(current)
        self._keys = {key_fingerprint(k): k for k in (*previous, current)}

    @property
    def current_id(self) -> str:
        return self._current_id

    def wrap(self, key: bytes, associated: bytes) -> tuple[str, bytes]:
        return self._current_id, wrap_key(self._keys[self._current_id], key, associated)

    def unwrap(self, root_key_id: str, wrapped: bytes, associated: bytes) -> bytes:
        root = self._keys.get(root_key_id)
        if root is None:
            raise UnknownKey(f"root key {root_key_id} is not configured")
        return unwrap_key(root, wrapped, associated)


@dataclass(frozen=True)
class KeyRow:
    id: int
    scope: str
    purpose: str
    version: int
    root_key_id: str
    wrapped: bytes


def _associated(row: DataKey | KeyRow) -> bytes:
    return f"shabaka/data-key/{row.scope}/{row.purpose}/{row.version}".encode()


@dataclass
class _Cached:
    key_id: int
    key: bytes
    until: float


class DatabaseKeyring:
    """The keyring field encryption uses: data keys from `data_key`, unwrapped by the root provider."""

    def __init__(self, root: RootKeyProvider, ttl_seconds: float = 300.0) -> None:
        self.root = root
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._by_id: dict[int, _Cached] = {}
        self._current: dict[tuple[str, str], _Cached] = {}

    # ------------------------------------------------------------------ Keyring protocol
    def current(self, context: Context) -> tuple[int, bytes]:
        cached = self._current_key(context.organization_id or PLATFORM, DATA)
        return cached.key_id, cached.key

    def key(self, key_id: int) -> bytes:
        now = time.monotonic()
        hit = self._by_id.get(key_id)  # a dict read is atomic; writes take the lock
        if hit is not None and hit.until > now:
            return hit.key
        table = DataKey.__table__
        found = db.session.execute(select(table).where(table.c.id == key_id)).first()
        row = KeyRow(**{k: found._mapping[k] for k in KeyRow.__dataclass_fields__}) if found else None
        if row is None:
            raise UnknownKey(f"data key {key_id} does not exist (destroyed or never made)")
        key = self.root.unwrap(row.root_key_id, row.wrapped, _associated(row))
        if key_id not in _created_here(db.session):
            self._remember(_Cached(row.id, key, now + self._ttl), None)
        return key

    def index_key(self, scope: str) -> bytes:
        return self._current_key(scope or PLATFORM, INDEX).key

    # ------------------------------------------------------------------ management
    def _current_key(self, scope: str, purpose: str) -> _Cached:
        now = time.monotonic()
        with self._lock:
            hit = self._current.get((scope, purpose))
            if hit is not None and hit.until > now:
                return hit
        row = current_row(db.session, scope, purpose)
        if row is None:
            row = self._create(db.session, scope, purpose, 1)
        key = self.root.unwrap(row.root_key_id, row.wrapped, _associated(row))
        cached = _Cached(row.id, key, now + self._ttl)
        if row.id in _created_here(db.session):
            after_commit(lambda: self._remember(cached, (scope, purpose)))
        else:
            self._remember(cached, (scope, purpose))
        return cached

    def _remember(self, cached: _Cached, current_of: tuple[str, str] | None) -> None:
        with self._lock:
            self._by_id[cached.key_id] = cached
            if current_of is not None:
                self._current[current_of] = cached

    def _create(self, session: DbSession, scope: str, purpose: str, version: int) -> KeyRow:
        """A new key row, written with Core (this may run inside a flush) in a savepoint, so that
        a concurrent creator of the same version wins cleanly and we use hers."""
        probe = KeyRow(0, scope, purpose, version, "", b"")
        root_key_id, wrapped = self.root.wrap(new_key(), _associated(probe))
        connection = session.connection()
        try:
            with connection.begin_nested():  # released on success, rolled back on a clash
                result = connection.execute(
                    DataKey.__table__.insert().values(
                        scope=scope,
                        purpose=purpose,
                        version=version,
                        root_key_id=root_key_id,
                        wrapped=wrapped,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            existing = current_row(session, scope, purpose)
            if existing is None:
                raise
            return existing
        key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        _created_here(session).add(key_id)
        return KeyRow(key_id, scope, purpose, version, root_key_id, wrapped)

    def rotate(self, session: DbSession, scope: str) -> KeyRow:
        """A new data-key version for the scope; new writes use it from now on (after commit)."""
        latest = session.scalar(
            select(DataKey.version)
            .where(DataKey.scope == scope, DataKey.purpose == DATA)
            .order_by(DataKey.version.desc())
            .limit(1)
        )
        row = self._create(session, scope, DATA, (latest + 1) if latest else 1)
        after_commit(self.forget)
        return row

    def rewrap(self, row: DataKey) -> bool:
        """Wrap a data key under the current root key; False when it already is."""
        if row.root_key_id == self.root.current_id:
            return False
        key = self.root.unwrap(row.root_key_id, row.wrapped, _associated(row))
        row.root_key_id, row.wrapped = self.root.wrap(key, _associated(row))
        return True

    def forget(self) -> None:
        """Drop every cached key (after rotation, retirement or destruction)."""
        with self._lock:
            self._by_id.clear()
            self._current.clear()


def _created_here(session: DbSession) -> set[int]:
    """Ids of keys created in this session's transaction: not cached until it commits."""
    created: set[int] = session.info.setdefault("shabaka.keys_created", set())
    return created


def current_row(session: DbSession, scope: str, purpose: str) -> KeyRow | None:
    """The newest unretired key of a scope and purpose (read with Core: safe inside a flush)."""
    table = DataKey.__table__
    found = session.execute(
        select(table.c.id, table.c.scope, table.c.purpose, table.c.version, table.c.root_key_id, table.c.wrapped)
        .where(table.c.scope == scope, table.c.purpose == purpose, table.c.retired_at.is_(None))
        .order_by(table.c.version.desc())
        .limit(1)
    ).first()
    return KeyRow(*found) if found else None


def retire(session: DbSession, row: DataKey) -> None:
    row.retired_at = utcnow()
