"""Reporting reads on a PostgreSQL read replica (REPLICA_DATABASE_URL); everything else, and
every write, on the primary.

Only the reporting queries come here: the statistics pages and API, their exports, and the
audit search, histories, flags and export (pages and API). Their views run the query through
`reporting()` with the session it hands them; the same request's audit event and any other write
still go through `db.session`, the primary's. The replica's connections are read-only twice over:
a hot standby refuses writes, and its sessions start with `default_transaction_read_only`.

Read-your-writes. After a request that wrote commits, the primary's WAL insert position
(`pg_current_wal_insert_lsn()`) is kept for its user (in Redis when REDIS_URL is set, which
production requires; else in this process). A reporting read uses the replica only if the
replica has replayed up to her last kept position (`pg_last_wal_replay_lsn()`); otherwise it
reads the primary, so lag never shows her an older version of what she wrote. Other users'
writes may reach her a moment later, as on any replica.

A replica that cannot be reached, or is not in recovery (promoted, or a primary named by
mistake), is not used: reads go to the primary, a warning names the reason (never a user, a
query or the URL), and the replica is tried again after RETRY_SECONDS. A reporting query that
fails on the replica (a connection lost, a query cancelled by a conflict with recovery) is run
again on the primary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from flask import Flask, g, has_request_context
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from config import Settings

from .extensions import db
from .models_base import DbSession

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_SECONDS = 30  # after the replica failed to answer, the primary serves every reporting read this long
CONNECT_TIMEOUT_SECONDS = 3
WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "WITH")  # statements that may change data (WITH: to be sure)
PAGE_BYTES = 8192  # PostgreSQL's WAL page size
PAGE_HEADERS = (24, 40)  # a WAL page's short header, and the long one that starts a segment
_SESSION = "shabaka_reporting_session"
_WROTE = "shabaka_wrote"
_FAILED = "shabaka_replica_failed"


def parse_lsn(value: str) -> int:
    """A WAL position written as PostgreSQL writes it ("16/B374D848") as a number."""
    high, low = value.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def commit_position(insert_lsn: int) -> int:
    """The WAL position that a replica must have replayed to hold every commit before
    `insert_lsn`. When the last record ended on a page boundary, pg_current_wal_insert_lsn()
    points past the next page's header while the replica's replay position stays at the
    boundary; nothing lies between the two."""
    if insert_lsn % PAGE_BYTES in PAGE_HEADERS:
        return insert_lsn - insert_lsn % PAGE_BYTES
    return insert_lsn


class WritePositions(Protocol):
    """Each user's last committed write, as a WAL position."""

    def get(self, user_id: str) -> int | None: ...
    def raise_to(self, user_id: str, position: int) -> None: ...


class MemoryPositions:
    """In this process only: for development and tests with one process (production has Redis)."""

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str) -> int | None:
        return self._positions.get(user_id)

    def raise_to(self, user_id: str, position: int) -> None:
        with self._lock:
            if position > self._positions.get(user_id, -1):
                self._positions[user_id] = position


# Keep the larger of the stored and the given position (two requests of one user finishing at once).
# Positions are 16 hex digits, so comparing them as strings compares them as numbers.
_RAISE_TO = """
local current = redis.call('GET', KEYS[1])
if not current or ARGV[1] > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class RedisPositions:
    """In Redis, shared by every web process: one small key per user who wrote."""

    def __init__(self, url: str, prefix: str = "shabaka:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2)
        self._prefix = prefix
        self._raise = self._redis.register_script(_RAISE_TO)

    def _key(self, user_id: str) -> str:
        return f"{self._prefix}last-write-lsn:{user_id}"

    def get(self, user_id: str) -> int | None:
        raw = self._redis.get(self._key(user_id))
        return int(raw, 16) if raw else None

    def raise_to(self, user_id: str, position: int) -> None:
        self._raise(keys=[self._key(user_id)], args=[f"{position:016x}"])


class Replica:
    """The replica's engine and sessions, whether it is answering, and the users' write positions."""

    def __init__(self, url: str, positions: WritePositions) -> None:
        self.engine: Engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "options": "-c default_transaction_read_only=on",
            },
        )
        self.sessions = sessionmaker(bind=self.engine)
        self.positions = positions
        self.down_until = 0.0
        event.listen(self.engine, "handle_error", self._failed)

    def _failed(self, context: ExceptionContext) -> None:
        if has_request_context():
            setattr(g, _FAILED, True)

    def mark_down(self, reason: str) -> None:
        self.down_until = time.monotonic() + RETRY_SECONDS
        log.warning("read replica not used for %s s: %s; reporting reads go to the primary", RETRY_SECONDS, reason)

    def choose(self, user_id: str | None) -> DbSession:
        """A session on the replica if it may serve this user's reporting read now, else the
        primary's session."""
        if time.monotonic() < self.down_until:
            return db.session
        session = self.sessions()
        try:
            replayed = session.scalar(text("SELECT pg_last_wal_replay_lsn()::text"))
        except DBAPIError as error:
            session.close()
            self.mark_down(f"unreachable ({type(error.orig).__name__})")
            return db.session
        if replayed is None:
            session.close()
            self.mark_down("it is not in recovery (promoted, or not a replica)")
            return db.session
        try:
            needed = self.positions.get(user_id) if user_id else None
        except Exception as error:  # without her last write position, only the primary is safe
            session.close()
            log.warning("last write positions unreadable (%s); reporting read on the primary", type(error).__name__)
            return db.session
        if needed is not None and parse_lsn(replayed) < needed:
            session.close()
            log.debug("replica behind the user's last write; reporting read on the primary")
            return db.session
        return session


def init_app(app: Flask, settings: Settings) -> None:
    """Set up the replica when REPLICA_DATABASE_URL is set; without it nothing here runs."""
    if not settings.replica_database_url:
        return
    positions: WritePositions = RedisPositions(settings.redis_url) if settings.redis_url else MemoryPositions()
    app.extensions["shabaka_replica"] = Replica(settings.replica_database_url, positions)
    event.listen(db.engine, "before_cursor_execute", _note_write)
    app.teardown_appcontext(_close)


def _replica() -> Replica | None:
    from flask import current_app

    return current_app.extensions.get("shabaka_replica")  # type: ignore[no-any-return]


def _note_write(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    """Note that this request wrote on the primary (its position is kept after the commit)."""
    if has_request_context() and statement.lstrip()[:6].upper().startswith(WRITES):
        setattr(g, _WROTE, True)


def _close(exc: BaseException | None) -> None:
    session = g.pop(_SESSION, None)
    if isinstance(session, Session):
        session.close()


def reporting_session() -> DbSession:
    """The session for this request's reporting reads: the replica's when it may serve them
    (see the module's docstring), else `db.session`. Chosen once per request."""
    replica = _replica()
    if replica is None or not has_request_context():
        return db.session
    chosen = g.get(_SESSION)
    if chosen is None:
        chosen = replica.choose(_user_id())
        setattr(g, _SESSION, chosen)
    return chosen  # type: ignore[no-any-return]


def reporting(work: Callable[[DbSession], T]) -> T:
    """Run a reporting read, `work(read_session)`, on the replica when it may serve it, else on
    the primary; if it fails on the replica, run it again on the primary. `work` writes (its
    audit event) through `db.session` only, and after its reads."""
    read = reporting_session()
    if read is db.session:
        return work(read)
    g.pop(_FAILED, None)
    try:
        return work(read)
    except DBAPIError as error:
        if not g.pop(_FAILED, False):
            raise  # the primary's error, not the replica's
        replica = _replica()
        if replica is not None and error.connection_invalidated:
            replica.mark_down(f"connection lost ({type(error.orig).__name__})")
        else:
            log.warning(
                "a reporting read failed on the read replica (%s); read again on the primary", type(error.orig).__name__
            )
        read.close()
        setattr(g, _SESSION, db.session)
        return work(db.session)


def note_commit(actor: Any | None) -> None:
    """After the request's commit: keep the primary's WAL position for the user who wrote, so
    her next reporting reads wait for the replica to hold it (or read the primary)."""
    replica = _replica()
    if replica is None or not g.pop(_WROTE, False):
        return
    user_id = getattr(actor, "id", None)
    if user_id is None:
        return
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            position = conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text").scalar_one()
        replica.positions.raise_to(str(user_id), commit_position(parse_lsn(position)))
    except Exception as error:  # the write is durable; only this user's routing is at stake
        log.warning("last write position not kept (%s); the replica may lag behind it", type(error).__name__)


def _user_id() -> str | None:
    from flask_login import current_user

    api_user = g.get("api_user")
    if api_user is not None:
        return str(api_user.id)
    if getattr(current_user, "is_authenticated", False):
        return str(current_user.id)
    return None
