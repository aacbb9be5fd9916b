"""The audit trail's hash chain: canonical encoding, the sealer, and the verifier.

Requests insert events unsealed (a plain insert, no lock). The sealer, alone under one lock,
takes committed unsealed events in id order and gives each the next chain position, the
previous event's hash, and its own hash:

    event_hash = SHA-256(prev_hash || canonical(event))       prev_hash of position 1 = 32 zero bytes

`canonical(event)` is the UTF-8 of sorted-key JSON without spaces (`ensure_ascii=False`) of the
fields in `HASHED_FIELDS`: ids as lowercase UUID text, `occurred_at` as UTC to the microsecond
(`2026-11-29T10:00:00.000000Z`), `details` as its JSON object (keys sorted too), absent values
and empty text as null, and `chain_position` as a number. scripts/verify_audit.py repeats this, for auditors, offline.

Positions are given in sealing order, not occurrence order: an event committed late by a slow
transaction is sealed by a later run. A rolled-back request leaves nothing to seal, so no gap.
The verifier reads the chain in position order and reports the first position that does not
hold: a missing position (deleted event), a link or hash that does not match (edited,
inserted or reordered events), or a checkpoint that disagrees (see `checkpoints.py`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, bindparam, func, literal_column, select, text, update

from ..models_base import DbSession, utcnow
from .models import AuditCheckpoint, AuditEvent
from .services import record

if TYPE_CHECKING:
    from .pg_pages import Page as PgPage
    from .sqlite_pages import Page

log = logging.getLogger(__name__)

GENESIS = bytes(32)
HASHED_FIELDS: tuple[str, ...] = (
    "action",
    "actor_id",
    "actor_organization_id",
    "actor_role",
    "case_code",
    "chain_position",
    "details",
    "event_id",
    "object_id",
    "object_type",
    "occurred_at",
    "organization_id",
    "outcome",
    "reason",
    "request_id",
    "route",
)
# What the sealer and the verifier select: the seal first, then every hashed field but the position.
_CONTENT = tuple(name for name in HASHED_FIELDS if name != "chain_position")
_TEXT = tuple(name for name in _CONTENT if name not in ("details", "occurred_at"))
_T = AuditEvent.__table__
_SEAL_COLUMNS = (_T.c.chain_position, _T.c.prev_hash, _T.c.event_hash)
_ADVISORY_LOCK = 0x5348424B41554454  # "SHBKAUDT": the sealer's PostgreSQL advisory lock
SEAL_BATCH = 1000
SQLITE_SEAL_BATCH = 200  # SQLite has one writer: each batch's transaction holds it, so keep it short
VERIFY_PAGE = 5000

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def timestamp(value: datetime) -> str:
    """The canonical text of a time: UTC, to the microsecond, with a Z."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in the audit trail")
    if value.utcoffset():
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S.%fZ}"


def canonical(event: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers; `event` maps every name in HASHED_FIELDS to its value."""
    values = {name: event.get(name) for name in HASHED_FIELDS}
    for name in _TEXT:
        if values[name] == "":
            values[name] = None  # empty text is null, so that a CSV export round-trips
    when = values["occurred_at"]
    if isinstance(when, datetime):
        values["occurred_at"] = timestamp(when)
    for name in ("actor_id", "actor_organization_id", "organization_id", "event_id"):
        if values[name] is not None:
            values[name] = str(values[name]).lower()
    return _dumps(values).encode()


def link(prev_hash: bytes, encoded: bytes) -> bytes:
    return hashlib.sha256(prev_hash + encoded).digest()


# The sealer and the verifier do not build `canonical`'s dictionary for every event: the
# database hands over each hashed field as its canonical text (PostgreSQL: UUIDs with dashes;
# both: the UTC timestamp, empty text as NULL), and `_encode_row` quotes each with the JSON
# encoder's own C function into a fixed template (on SQLite it also puts the dashes into the
# UUIDs, stored there as 32 hex digits). The bytes are `canonical`'s: tests check it on tricky
# values on each backend. This is the sealer's way, and the verifier's "exact path"; on SQLite
# the verifier first tries a page at a time formatted by one statement (`sqlite_pages`).
_UUIDS = ("actor_id", "actor_organization_id", "organization_id", "event_id")
_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in HASHED_FIELDS) + "}"
_AT_POSITION = HASHED_FIELDS.index("chain_position")
_AT_DETAILS = _CONTENT.index("details")
_AT_UUIDS = tuple(_CONTENT.index(name) for name in _UUIDS)
_quote = json.encoder.encode_basestring  # a JSON string, exactly as the encoder above writes it
# json.loads's own scanner (default options), without loads's wrapping around it
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _normalised_columns(dialect: str) -> list[Any]:
    """SQL for each of `_CONTENT` as canonical text (details: the stored JSON text)."""
    columns: list[Any] = []
    for name in _CONTENT:
        if name in _UUIDS:
            sql = f"CAST({name} AS TEXT)" if dialect == "postgresql" else name
        elif name == "occurred_at":
            if dialect == "postgresql":
                sql = f"""to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
            else:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
                sql = f"replace({name}, ' ', 'T') || 'Z'"
        elif name == "details":
            sql = f"CAST({name} AS TEXT)" if dialect == "postgresql" else name
        else:
            sql = f"NULLIF({name}, '')"
        columns.append(literal_column(sql).label(name))
    return columns


def _details(stored: str | bytes | None) -> str:
    """The canonical JSON of the stored details (a flat object of scalars, as `record` writes)."""
    if stored == "{}":
        return "{}"
    if stored is None:
        return "null"
    value: Any
    if type(stored) is str:  # the scanner alone, when it reads the whole text: json.loads's value
        try:
            value, end = _scan(stored, 0)
        except StopIteration:
            end = -1
        if end != len(stored):
            value = json.loads(stored)  # surrounding blanks, or an error to raise
    else:
        value = json.loads(stored)
    if type(value) is not dict:
        return _dumps(value)
    parts = []
    for key in sorted(value):
        item = value[key]
        kind = type(item)
        if kind is str:
            parts.append(f"{_quote(key)}:{_quote(item)}")
        elif kind is int:
            parts.append(f"{_quote(key)}:{int.__repr__(item)}")
        else:  # anything else as the encoder writes it
            return _dumps(value)
    return "{" + ",".join(parts) + "}"


def _encode_row(position: int, content: Sequence[Any]) -> bytes:
    """`canonical` from a row's `_normalised_columns` on PostgreSQL."""
    parts = ["null" if value is None else _quote(value) for value in content]
    parts[_AT_DETAILS] = _details(content[_AT_DETAILS])
    parts.insert(_AT_POSITION, str(position))
    return (_TEMPLATE % tuple(parts)).encode()


def _encode_sqlite_row(position: int, content: Sequence[Any]) -> bytes:
    """`canonical` from a row's `_normalised_columns` on SQLite (UUIDs without dashes)."""
    values = list(content)
    for at in _AT_UUIDS:
        value = values[at]
        if value is not None and len(value) == 32:
            values[at] = f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}".lower()
    return _encode_row(position, values)


def _encoder(session: DbSession) -> Callable[[int, Sequence[Any]], bytes]:
    return _encode_row if _dialect(session) == "postgresql" else _encode_sqlite_row


# ------------------------------------------------------------------------------------ sealing
@dataclass
class SealResult:
    sealed: int = 0
    head_position: int = 0
    head_hash: bytes | None = None
    checkpoint_position: int | None = None  # the checkpoint written by this run, if any
    busy: bool = False  # another sealer held the lock (only when not waiting for it)


def seal(
    session: DbSession,
    commit: Callable[[], None],
    *,
    signer: Any | None = None,
    checkpoint_every: timedelta | None = timedelta(seconds=60),
    batch: int = SEAL_BATCH,
    wait: bool = True,
    now: Callable[[], datetime] = utcnow,
) -> SealResult:
    """Chain every committed unsealed event, `batch` per transaction (each ends with `commit`).

    One sealer at a time: on PostgreSQL an advisory lock held for each batch's transaction (with
    `wait=False`, a run that finds it taken returns at once with `busy`); on SQLite the
    database's single writer. With a `signer` (see `checkpoints.Signer`), the head is signed
    into a checkpoint when it moved and the last checkpoint is older than `checkpoint_every`
    (`None`: whenever it moved). Returns what was done; safe to run at any time, and twice.
    """
    from . import checkpoints

    result = SealResult()
    if _dialect(session) == "sqlite":
        batch = min(batch, SQLITE_SEAL_BATCH)
    while True:
        if not _lock(session, wait):
            session.rollback()
            result.busy = True
            return result
        position, head = _head(session)
        rows = session.execute(
            select(_T.c.id, *_normalised_columns(_dialect(session)))
            .where(_T.c.chain_position.is_(None))
            .order_by(_T.c.id)
            .limit(batch)
        ).all()
        updates = []
        encode = _encoder(session)
        for row in rows:
            position += 1
            event_hash = link(head, encode(position, row[1:]))
            updates.append({"_id": row[0], "_position": position, "_prev": head, "_hash": event_hash})
            head = event_hash
        if updates:
            session.execute(
                update(_T)
                .where(_T.c.id == bindparam("_id"), _T.c.chain_position.is_(None))
                .values(
                    chain_position=bindparam("_position"), prev_hash=bindparam("_prev"), event_hash=bindparam("_hash")
                ),
                updates,
                execution_options={"synchronize_session": False},
            )
        result.sealed += len(updates)
        result.head_position, result.head_hash = position, head if position else None
        last_batch = len(rows) < batch
        if last_batch and signer is not None and position:
            written = checkpoints.write_if_due(session, signer, position, head, now(), checkpoint_every)
            if written is not None:
                result.checkpoint_position = written.chain_position
        commit()
        if last_batch:
            if result.sealed:
                log.info("audit: sealed %d events, head at %d", result.sealed, position)
            return result


def _dialect(session: DbSession) -> str:
    return session.get_bind().dialect.name


def _lock(session: DbSession, wait: bool) -> bool:
    """Take the sealer's lock for the current transaction."""
    if _dialect(session) == "postgresql":
        if wait:
            session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
            return True
        return bool(session.scalar(select(func.pg_try_advisory_xact_lock(_ADVISORY_LOCK))))
    # SQLite: a write that changes nothing takes the database's one write lock now, before the
    # head is read, so a second sealer waits here instead of chaining from a stale head.
    session.execute(text("UPDATE audit_event SET chain_position = NULL WHERE 0 = 1"))
    return True


def _head(session: DbSession) -> tuple[int, bytes]:
    """The last sealed position and its hash (0 and the genesis hash for an empty chain)."""
    row = session.execute(
        select(_T.c.chain_position, _T.c.event_hash).where(
            _T.c.chain_position == select(func.max(_T.c.chain_position)).scalar_subquery()
        )
    ).first()
    if row is None:
        return 0, GENESIS
    return int(row[0]), bytes(row[1])


def unsealed_count(session: DbSession) -> int:
    return int(session.scalar(select(func.count()).select_from(_T).where(_T.c.chain_position.is_(None))) or 0)


# ---------------------------------------------------------------------------------- verifying
@dataclass(frozen=True)
class CheckpointInfo:
    position: int
    head_hash: str  # hex
    signed_at: datetime
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "head_hash": self.head_hash,
            "signed_at": timestamp(self.signed_at),
            "key_id": self.key_id,
        }


@dataclass(frozen=True)
class VerifyResult:
    """What the verifier found. `checked` counts the events read (all of them when `ok`)."""

    ok: bool
    checked: int
    first_bad_position: int | None = None
    problem: str | None = (
        None  # gap | link | hash | checkpoint_hash | checkpoint_signature | checkpoint_key | truncated
    )
    head_position: int = 0
    head_hash: bytes | None = None
    checkpoints_checked: int = 0
    signatures_checked: int = 0  # one per run of linked checkpoints, unless one fails
    checkpoint: CheckpointInfo | None = None  # the last checkpoint
    keys_pinned: bool = False  # checkpoints checked against the published keys, not stored ones
    unsealed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the API's `GET /audit/verify` and `audit verify --json`)."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_position": self.first_bad_position,
            "problem": self.problem,
            "head_position": self.head_position,
            "head_hash": self.head_hash.hex() if self.head_hash else None,
            "unsealed": self.unsealed,
            "keys_pinned": self.keys_pinned,
            "checkpoint": self.checkpoint.as_dict() if self.checkpoint else None,
        }


def verify(session: DbSession, trusted_keys: dict[str, bytes] | None = None) -> VerifyResult:
    """Recompute the whole chain and check every checkpoint; stop at the first bad position.

    Reads what is committed (the events on a second connection). Costs 5 to 10 µs an event:
    call it on demand, not on every page load.

    `trusted_keys` maps key ids to the public keys auditors pinned (default: the installation's,
    see `checkpoints.trusted_keys`); when there are none, each checkpoint is checked against the
    public key stored beside it, which proves less, and the result says so (`keys_pinned`).
    """
    from . import checkpoints

    keys = checkpoints.trusted_keys() if trusted_keys is None else trusted_keys
    # Read the checkpoints' end before the chain's: a sealer commits a checkpoint with its events.
    last_checkpoint = checkpoints.last(session)
    head_position, head_hash = _head(session)
    unsealed = unsealed_count(session)
    engine = _engine(session)
    state = _Walk(keys, _encoder(session), checkpoints.stream(session, upto=head_position), engine)
    for page in _pages(engine, head_position):
        if not state.walk(page):
            break
    else:
        state.finish(head_position)
    state.settle()
    if state.bad is None and last_checkpoint is not None and last_checkpoint.chain_position > head_position:
        state.fail(head_position + 1, "truncated")  # events after the head were removed
    return VerifyResult(
        ok=state.bad is None,
        checked=state.checked,
        first_bad_position=state.bad,
        problem=state.problem,
        head_position=head_position,
        head_hash=head_hash if head_position else None,
        checkpoints_checked=state.links.checked,
        signatures_checked=state.links.signatures_checked,
        checkpoint=checkpoints.info(last_checkpoint),
        keys_pinned=bool(keys),
        unsealed=unsealed,
    )


def _engine(session: DbSession) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _rows_sql(dialect: str, first: int, last: int) -> str:
    """The exact path's query: positions `first` to `last` in order, the seal and `_CONTENT`."""
    columns = ", ".join(str(column.element) for column in _normalised_columns(dialect))
    # Only our own column expressions and integers: nothing from outside reaches this text.
    return (
        f"SELECT chain_position, prev_hash, event_hash, {columns} FROM audit_event "  # noqa: S608
        f"WHERE chain_position BETWEEN {int(first)} AND {int(last)} ORDER BY chain_position"
    )


def _read_rows(engine: Engine, first: int, last: int) -> list[Sequence[Any]]:
    """Positions `first` to `last` for the exact path, as plain tuples, on a connection of their own."""
    with engine.connect() as connection:
        raw: Any = connection.connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.execute(_rows_sql(engine.dialect.name, first, last))
            return list(cursor.fetchall())
        finally:
            cursor.close()
            connection.rollback()


def _pages(engine: Engine, upto: int) -> Iterator[Any]:
    """The sealed events up to `upto` in position order, a page at a time.

    A helper thread reads them on a connection of its own while the caller hashes the page
    before: the database's work and Python's overlap. On PostgreSQL a page is a list of plain
    tuples from a server-side cursor; on SQLite, a `sqlite_pages.Page` that one statement
    formatted (see there: read a row at a time, SQLite and Python would take turns instead).
    The events up to `upto` never change (sealed rows are append-only), so the other
    connection sees what the caller's session would.
    """
    from . import pg_pages, sqlite_pages

    dialect = engine.dialect.name
    pages: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(page: Any) -> bool:
        """Hand a page (or the end, or an error) over; False once the caller stopped reading."""
        while not stop.is_set():
            try:
                pages.put(page, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read_rows(raw: Any) -> None:
        cursor = raw.cursor(name="shabaka_audit_verify") if dialect == "postgresql" else raw.cursor()
        try:
            cursor.execute(_rows_sql(dialect, 1, upto))
            while not stop.is_set():
                rows = cursor.fetchmany(VERIFY_PAGE)
                if not rows or not put(rows):
                    break
        finally:
            cursor.close()

    def read() -> None:
        try:
            with engine.connect() as connection:
                raw: Any = connection.connection.driver_connection
                try:
                    if dialect == "sqlite" and sqlite_pages.usable(raw):
                        for page in sqlite_pages.read(raw, upto, VERIFY_PAGE, stop.is_set):
                            if not put(page):
                                break
                    elif dialect == "postgresql" and pg_pages.ENABLED:
                        for pg_page in pg_pages.read(raw, upto, VERIFY_PAGE, stop.is_set):
                            if not put(pg_page):
                                break
                    else:
                        read_rows(raw)
                finally:
                    connection.rollback()
        except BaseException as error:  # handed to the caller
            put(error)
            return
        put(None)

    reader = threading.Thread(target=read, name="audit-verify-reader", daemon=True)
    reader.start()
    try:
        while True:
            page = pages.get()
            if page is None:
                return
            if isinstance(page, BaseException):
                raise page
            yield page
    finally:
        stop.set()
        reader.join()


class _Walk:
    """The verifier's running state across pages."""

    def __init__(
        self,
        keys: dict[str, bytes],
        encode: Callable[[int, Sequence[Any]], bytes],
        marks: Iterator[Any],
        engine: Engine,
    ) -> None:
        from . import checkpoints

        self.links = checkpoints.Links(keys)
        self.keys = keys
        self.encode = encode
        self.marks = marks
        self.engine = engine
        self.expected = 1
        self.prev = GENESIS
        self.checked = 0
        self.bad: int | None = None
        self.problem: str | None = None
        self.next_mark: Any | None = next(marks, None)

    def fail(self, position: int, problem: str) -> None:
        if self.bad is None or position < self.bad:
            self.bad, self.problem = position, problem

    def walk(self, rows: Sequence[Sequence[Any]] | Page | PgPage) -> bool:
        """Check a page; False once a bad position is found."""
        from . import pg_pages, sqlite_pages

        if isinstance(rows, (sqlite_pages.Page, pg_pages.Page)):
            taken = self._take(rows)
            if taken is not None:
                return taken
            # Not vouched for in bulk: event by event, the exact way, finds what is wrong.
            rows = _read_rows(self.engine, rows.first, rows.last)
        return self._walk_rows(rows)

    def settle(self) -> None:
        """Check the signatures still owed for the checkpoints walked (see `checkpoints.Links`)."""
        problem = self.links.settle()
        if problem is not None:
            self.fail(*problem)

    def _mark(self, mark: Any, recomputed_head: bytes, claim_checked: bool = False) -> bool:
        problem = self.links.add(mark, recomputed_head, claim_checked=claim_checked)
        if problem is not None:
            self.fail(*problem)
            return False
        return True

    def _take(self, page: Page | PgPage) -> bool | None:
        """Take a whole formatted page when its hashes, links and checkpoints' claims all hold (True);
        False when a checkpoint's signature fails; None to walk the page the exact way."""
        from . import checkpoints

        if page.first != self.expected:
            return None
        digests = page.digests(self.prev)
        if digests is None:
            return None
        due = []  # the checkpoints at positions of this page
        mark = self.next_mark
        while mark is not None and mark.chain_position <= page.last:
            due.append(mark)
            mark = next(self.marks, None)
        for item in due:
            at = item.chain_position - page.first
            if at < 0 or checkpoints.claim_problem(item, digests[at], self.keys) is not None:
                # put them back for the exact path, which reports the problem
                self.marks = itertools.chain(due[1:], [mark] if mark is not None else [], self.marks)
                self.next_mark = due[0]
                return None
        self.expected, self.prev, self.next_mark = page.last + 1, digests[-1], mark
        self.checked += len(digests)
        return all(self._mark(item, digests[item.chain_position - page.first], claim_checked=True) for item in due)

    def _walk_rows(self, rows: Sequence[Sequence[Any]]) -> bool:
        expected, prev = self.expected, self.prev
        sha256, encode = hashlib.sha256, self.encode
        mark = self.next_mark
        mark_at = mark.chain_position if mark is not None else -1
        for row in rows:
            position = row[0]
            self.checked += 1
            if position != expected:
                self.fail(expected, "gap")
                return False
            if row[1] != prev:
                self.fail(position, "link")
                return False
            prev = sha256(prev + encode(position, row[3:])).digest()
            if prev != row[2]:
                self.fail(position, "hash")
                return False
            if position == mark_at:
                if not self._mark(mark, prev):
                    return False
                mark = next(self.marks, None)
                mark_at = mark.chain_position if mark is not None else -1
            expected += 1
        self.expected, self.prev, self.next_mark = expected, prev, mark
        return True

    def finish(self, head_position: int) -> None:
        if self.bad is None and self.expected <= head_position:
            self.fail(self.expected, "gap")  # positions missing up to the head
        if self.bad is None and self.next_mark is not None:
            # a checkpoint at a position the chain never reached, or out of order
            self.fail(self.next_mark.chain_position, "checkpoint_hash")


def record_verification(session: DbSession, actor: Any | None, result: VerifyResult) -> None:
    """The verification's own event (`audit.verify`): who asked (None: the nightly run or an
    operator's command), how many events were read, and where and why the chain broke. The
    auditors' verification page shows the latest one."""
    record(
        "audit.verify",
        actor,
        outcome="success" if result.ok else "failure",
        session=session,
        checked=result.checked,
        first_bad_position=result.first_bad_position,
        problem=result.problem,
    )


__all__ = [
    "GENESIS",
    "HASHED_FIELDS",
    "AuditCheckpoint",
    "CheckpointInfo",
    "SealResult",
    "VerifyResult",
    "canonical",
    "link",
    "record_verification",
    "seal",
    "timestamp",
    "unsealed_count",
    "verify",
]
