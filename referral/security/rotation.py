"""Key operations over every encrypted column: counting rows per key, re-encrypting old rows,
rewrapping data keys under a new root key, retiring and destroying keys.

Knows no domain: it finds encrypted columns through the ORM registry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, delete, func, select
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import flag_modified

from ..audit.services import record
from ..extensions import db
from ..models_base import DbSession, utcnow
from .crypto import FieldCipher
from .fields import encrypted_attributes
from .keys import DATA, PLATFORM, DatabaseKeyring, current_row
from .models import DataKey


class KeyInUse(Exception):
    """A key cannot be retired while rows still use it."""


@dataclass(frozen=True)
class SealedStore:
    """Encrypted data kept outside the encrypted columns (document files, say), so that key
    status, re-encryption and retirement account for it too. Registered by its owner.

    Its `reencrypt` calls the `commit` it is given once per value moved, right after moving it."""

    name: str
    count: Callable[[DbSession], Counter[int]]  # values per key id
    reencrypt: Callable[[DbSession, Callable[[], None]], int]  # returns how many it moved


_STORES: dict[str, SealedStore] = {}


def register_store(store: SealedStore) -> None:
    _STORES[store.name] = store


@dataclass(frozen=True)
class EncryptedModel:
    mapper: Mapper[Any]
    attributes: tuple[str, ...]
    owner: str | None

    @property
    def name(self) -> str:
        return str(self.mapper.class_.__tablename__)


def encrypted_models() -> list[EncryptedModel]:
    found = []
    registry = db.Model.registry  # type: ignore[attr-defined]
    for mapper in sorted(registry.mappers, key=lambda m: m.class_.__name__):
        attrs = encrypted_attributes(mapper)
        if attrs:
            owner = getattr(mapper.class_, "__encryption_owner__", None)
            found.append(EncryptedModel(mapper, tuple(sorted(attrs)), owner))
    return found


def rows_per_key(session: DbSession) -> Counter[int]:
    """How many stored values use each key id, over every encrypted column."""
    counts: Counter[int] = Counter()
    for model in encrypted_models():
        table = model.mapper.local_table
        for attribute in model.attributes:
            column = table.c[attribute]
            head = func.substr(column, 2, 4, type_=LargeBinary)
            for raw, count in session.execute(select(head, func.count()).where(column.is_not(None)).group_by(head)):
                counts[int.from_bytes(bytes(raw), "big")] += int(count)
    for store in _STORES.values():
        counts.update(store.count(session))
    return counts


def _current_ids(session: DbSession) -> dict[str, int | None]:
    cache: dict[str, int | None] = {}

    def lookup(scope: str) -> int | None:
        if scope not in cache:
            row = current_row(session, scope, DATA)
            cache[scope] = row.id if row else None
        return cache[scope]

    return lookup  # type: ignore[return-value]


def pending(session: DbSession) -> int:
    """Values (and stored files) not yet under their scope's current data key."""
    current = _current_ids(session)
    columns = sum(len(stale) for _model, _pk, stale in _scan(session, current))
    return columns + sum(_stale_in_stores(session).values())


def _stale_in_stores(session: DbSession) -> Counter[str]:
    """Per store, how many of its values use a data key that is not its scope's current one."""
    live = {row.id for row in session.scalars(select(DataKey).where(DataKey.purpose == DATA))}
    current = {
        current_row(session, row.scope, DATA).id  # type: ignore[union-attr]
        for row in session.scalars(select(DataKey).where(DataKey.purpose == DATA, DataKey.retired_at.is_(None)))
    }
    stale: Counter[str] = Counter()
    for store in _STORES.values():
        for key_id, count in store.count(session).items():
            if key_id in live and key_id not in current:
                stale[store.name] += count
    return stale


def _scan(session: DbSession, current: Any, batch: int = 500) -> Iterator[tuple[EncryptedModel, Any, list[str]]]:
    """(model, primary key, stale attributes) for every row with a value under an old key."""
    for model in encrypted_models():
        table = model.mapper.local_table
        pk = model.mapper.primary_key[0]
        columns = [pk] + [table.c[a] for a in model.attributes]
        if model.owner:
            columns.append(table.c[model.owner])
        last = None
        while True:
            stmt = select(*columns).order_by(pk).limit(batch)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = session.execute(stmt).all()
            if not rows:
                break
            for row in rows:
                scope = str(row[-1]) if model.owner and row[-1] is not None else PLATFORM
                wanted = current(scope)
                stale = [
                    attribute
                    for attribute, value in zip(model.attributes, row[1 : 1 + len(model.attributes)], strict=True)
                    if value is not None and FieldCipher.key_id_of(value.blob) != wanted
                ]
                if stale:
                    yield model, row[0], stale
            last = rows[-1][0]


def reencrypt(
    session: DbSession, commit: Callable[[], None], batch: int = 200, progress: Callable[[int], None] | None = None
) -> int:
    """Move every value to its scope's current data key, committing each batch.

    Each batch is recorded (`keys.reencrypt` with how many values it moved, and the store for
    files) in the transaction that moves it: a batch whose event cannot be written is not moved.
    Resumable and idempotent: values already current are skipped, so a stopped run simply
    starts again. Returns how many values were re-encrypted.
    """
    done = 0
    current = _current_ids(session)
    work = list(_scan(session, current))
    for start in range(0, len(work), batch):
        moved = 0
        for model, pk, stale in work[start : start + batch]:
            obj = session.get(model.mapper.class_, pk)
            if obj is None:
                continue
            for attribute in stale:
                flag_modified(obj, attribute)
            moved += len(stale)
        if moved:
            record("keys.reencrypt", None, session=session, values=moved)
        session.flush()
        commit()
        done += moved
        if progress:
            progress(min(batch, len(work) - start))
    for store in _STORES.values():

        def commit_one(name: str = store.name) -> None:
            record("keys.reencrypt", None, session=session, values=1, store=name)
            commit()

        moved = store.reencrypt(session, commit_one)
        done += moved
        if progress and moved:
            progress(moved)
    return done


def rewrap_all(session: DbSession, keyring: DatabaseKeyring) -> int:
    """Wrap every data key under the current root key (root-key rotation). Values are untouched."""
    changed = 0
    for row in session.scalars(select(DataKey)):
        changed += keyring.rewrap(row)
    return changed


def retire(session: DbSession, key_id: int) -> None:
    """Destroy an old data key. Refused while any value uses it or while it takes new writes."""
    row = session.get(DataKey, key_id)
    if row is None:
        raise LookupError(f"no data key {key_id}")
    in_use = rows_per_key(session).get(key_id, 0)
    if in_use:
        raise KeyInUse(f"{in_use} values still use key {key_id}; run `keys reencrypt` first")
    current = current_row(session, row.scope, row.purpose)
    if current is not None and current.id == key_id:
        raise KeyInUse(f"key {key_id} is the current {row.purpose} key of its scope; rotate first")
    session.delete(row)


def destroy_scope(session: DbSession, scope: str) -> int:
    """Crypto-shredding: delete every key of a scope; whatever they sealed is unreadable for good."""
    done = session.execute(delete(DataKey).where(DataKey.scope == scope))
    return int(done.rowcount)  # type: ignore[attr-defined]


def status(session: DbSession) -> list[dict[str, Any]]:
    """Every key with its scope, version, purpose, root key, state and rows using it."""
    counts = rows_per_key(session)
    rows = session.scalars(select(DataKey).order_by(DataKey.scope, DataKey.purpose, DataKey.version))
    return [
        {
            "id": k.id,
            "scope": k.scope,
            "purpose": k.purpose,
            "version": k.version,
            "root_key_id": k.root_key_id,
            "retired": k.retired_at is not None,
            "rows": counts.get(k.id, 0) if k.purpose == DATA else None,
            "created_at": k.created_at,
        }
        for k in rows
    ]


def mark_retired(row: DataKey) -> None:
    row.retired_at = utcnow()
