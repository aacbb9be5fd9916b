"""Server-side sessions that can be listed and ended.

The cookie carries a random session id; the store keeps only its SHA-256, so a copy of the
store cannot be replayed. Idle and absolute timeouts are enforced on the server. Two stores:
the database (embedded default) and Redis (production). Ending a user's sessions from a
service happens with the service's transaction (database) or right after it commits (Redis).
A request that fails (5xx) changes no session.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from flask import Flask, Request, Response, request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, select, update
from werkzeug.datastructures import CallbackDict

from ..extensions import db
from ..models_base import DbSession, utcnow
from ..transaction import after_commit
from .models import StoredSession

_serializer = TaggedJSONSerializer()
_TOUCH_EVERY = timedelta(seconds=60)
USER_KEYS = ("_user_id", "pending_user_id")


def hash_sid(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass
class SessionRecord:
    sid_hash: str
    handle: str
    user_id: str | None
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    client: str = ""


class ServerSession(CallbackDict, SessionMixin):  # type: ignore[type-arg]
    """A session whose contents live on the server."""

    def __init__(self, record: SessionRecord | None = None, sid: str | None = None) -> None:
        def on_update(_: object) -> None:
            self.modified = True

        super().__init__(record.data if record else {}, on_update)
        self.sid = sid
        self.record = record
        self.new = record is None
        self.modified = False
        self.rotate = False
        self.ended = False
        self.expired = False
        self.persist = True

    def regenerate(self) -> None:
        """Give this session a new id at the next save (at login and privilege changes)."""
        self.rotate = True
        self.modified = True

    def end(self) -> None:
        """Forget this session on the server and in the browser."""
        self.clear()
        self.ended = True


class SessionStore(Protocol):
    def load(self, sid_hash: str) -> SessionRecord | None: ...
    def save(self, record: SessionRecord, previous_hash: str | None) -> None: ...
    def touch(self, record: SessionRecord) -> None: ...
    def delete(self, sid_hash: str) -> None: ...
    def for_user(self, user_id: str) -> list[SessionRecord]: ...
    def end_for_user(self, session: DbSession, user_id: str, keep_hash: str | None = None) -> None: ...
    def end_by_handle(self, session: DbSession, user_id: str, handle: str) -> bool: ...
    def purge_expired(self, session: DbSession, idle_before: datetime, created_before: datetime) -> int: ...


# --------------------------------------------------------------------------- database store
class DatabaseStore:
    """Sessions as rows of `auth_session`; reads and saves use their own short transactions."""

    def load(self, sid_hash: str) -> SessionRecord | None:
        with db.engine.connect() as conn:
            row = conn.execute(select(StoredSession.__table__).where(StoredSession.sid_hash == sid_hash)).first()
        if row is None:
            return None
        t = StoredSession.__table__.c
        return SessionRecord(
            sid_hash=row._mapping[t.sid_hash],
            handle=row._mapping[t.handle],
            user_id=row._mapping[t.user_id],
            data=_serializer.loads(row._mapping[t.data]),
            created_at=_aware(row._mapping[t.created_at]),
            last_seen_at=_aware(row._mapping[t.last_seen_at]),
            client=row._mapping[t.client],
        )

    def save(self, record: SessionRecord, previous_hash: str | None) -> None:
        table = StoredSession.__table__
        values = {
            "handle": record.handle,
            "user_id": record.user_id,
            "data": _serializer.dumps(record.data),
            "created_at": record.created_at,
            "last_seen_at": record.last_seen_at,
            "client": record.client,
        }
        with db.engine.begin() as conn:
            if previous_hash:
                conn.execute(delete(table).where(table.c.sid_hash == previous_hash))
            done = conn.execute(update(table).where(table.c.sid_hash == record.sid_hash).values(**values))
            if done.rowcount == 0:
                conn.execute(table.insert().values(sid_hash=record.sid_hash, **values))

    def touch(self, record: SessionRecord) -> None:
        table = StoredSession.__table__
        with db.engine.begin() as conn:
            conn.execute(
                update(table).where(table.c.sid_hash == record.sid_hash).values(last_seen_at=record.last_seen_at)
            )

    def delete(self, sid_hash: str) -> None:
        table = StoredSession.__table__
        with db.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.sid_hash == sid_hash))

    def for_user(self, user_id: str) -> list[SessionRecord]:
        rows = db.session.scalars(
            select(StoredSession).where(StoredSession.user_id == user_id).order_by(StoredSession.created_at)
        )
        return [
            SessionRecord(r.sid_hash, r.handle, r.user_id, {}, r.created_at, r.last_seen_at, r.client) for r in rows
        ]

    def end_for_user(self, session: DbSession, user_id: str, keep_hash: str | None = None) -> None:
        stmt = delete(StoredSession).where(StoredSession.user_id == user_id)
        if keep_hash:
            stmt = stmt.where(StoredSession.sid_hash != keep_hash)
        session.execute(stmt)

    def end_by_handle(self, session: DbSession, user_id: str, handle: str) -> bool:
        done = session.execute(
            delete(StoredSession).where(StoredSession.user_id == user_id, StoredSession.handle == handle)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def purge_expired(self, session: DbSession, idle_before: datetime, created_before: datetime) -> int:
        done = session.execute(
            delete(StoredSession).where(
                (StoredSession.last_seen_at < idle_before) | (StoredSession.created_at < created_before)
            )
        )
        return int(done.rowcount)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ redis store
class RedisStore:
    """Sessions in Redis: one key per session (expiring at the absolute timeout) and a set per user."""

    def __init__(self, url: str, absolute: timedelta, prefix: str = "shabaka:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._absolute = absolute
        self._prefix = prefix

    def _key(self, sid_hash: str) -> str:
        return f"{self._prefix}session:{sid_hash}"

    def _user_key(self, user_id: str) -> str:
        return f"{self._prefix}user-sessions:{user_id}"

    def _encode(self, record: SessionRecord) -> str:
        return json.dumps(
            {
                "handle": record.handle,
                "user_id": record.user_id,
                "data": _serializer.dumps(record.data),
                "created_at": record.created_at.isoformat(),
                "last_seen_at": record.last_seen_at.isoformat(),
                "client": record.client,
            }
        )

    def _decode(self, sid_hash: str, raw: Any) -> SessionRecord:
        doc = json.loads(raw)
        return SessionRecord(
            sid_hash=sid_hash,
            handle=doc["handle"],
            user_id=doc["user_id"],
            data=_serializer.loads(doc["data"]),
            created_at=datetime.fromisoformat(doc["created_at"]),
            last_seen_at=datetime.fromisoformat(doc["last_seen_at"]),
            client=doc.get("client", ""),
        )

    def load(self, sid_hash: str) -> SessionRecord | None:
        raw = self._redis.get(self._key(sid_hash))
        return None if raw is None else self._decode(sid_hash, raw)

    def save(self, record: SessionRecord, previous_hash: str | None) -> None:
        ttl = max(1, int((record.created_at + self._absolute - utcnow()).total_seconds()))
        pipe = self._redis.pipeline()
        if previous_hash:
            pipe.delete(self._key(previous_hash))
            if record.user_id:
                pipe.srem(self._user_key(record.user_id), previous_hash)
        pipe.set(self._key(record.sid_hash), self._encode(record), ex=ttl)
        if record.user_id:
            pipe.sadd(self._user_key(record.user_id), record.sid_hash)
            pipe.expire(self._user_key(record.user_id), int(self._absolute.total_seconds()))
        pipe.execute()

    def touch(self, record: SessionRecord) -> None:
        self.save(record, None)

    def delete(self, sid_hash: str) -> None:
        self._redis.delete(self._key(sid_hash))

    def _members(self, user_id: str) -> Iterator[SessionRecord]:
        hashes = [h.decode() for h in cast(set[bytes], self._redis.smembers(self._user_key(user_id)))]
        if not hashes:
            return
        for sid_hash, raw in zip(hashes, self._redis.mget([self._key(h) for h in hashes]), strict=True):
            if raw is None:
                self._redis.srem(self._user_key(user_id), sid_hash)
            else:
                yield self._decode(sid_hash, raw)

    def for_user(self, user_id: str) -> list[SessionRecord]:
        return sorted(self._members(user_id), key=lambda r: r.created_at)

    def end_for_user(self, session: DbSession, user_id: str, keep_hash: str | None = None) -> None:
        def end() -> None:
            for record in list(self._members(user_id)):
                if record.sid_hash != keep_hash:
                    self._redis.delete(self._key(record.sid_hash))
                    self._redis.srem(self._user_key(user_id), record.sid_hash)

        after_commit(end, session)

    def end_by_handle(self, session: DbSession, user_id: str, handle: str) -> bool:
        for record in self._members(user_id):
            if record.handle == handle:
                after_commit(functools.partial(self._drop, user_id, record.sid_hash), session)
                return True
        return False

    def _drop(self, user_id: str, sid_hash: str) -> None:
        self._redis.delete(self._key(sid_hash))
        self._redis.srem(self._user_key(user_id), sid_hash)

    def purge_expired(self, session: DbSession, idle_before: datetime, created_before: datetime) -> int:
        return 0  # keys expire by themselves; idle sessions are refused when read


# --------------------------------------------------------------------------- the interface
@dataclass
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    cookie_name: str
    secure: bool
    skip_prefixes: tuple[str, ...] = field(default=("/api/", "/static/"))


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore, policy: SessionPolicy) -> None:
        self.store = store
        self.policy = policy

    def open_session(self, app: Flask, req: Request) -> ServerSession:
        if req.path.startswith(self.policy.skip_prefixes):
            session = ServerSession()
            session.persist = False  # the API and static files never use browser sessions
            return session
        sid = req.cookies.get(self.policy.cookie_name)
        if not sid or len(sid) > 128:
            return ServerSession()
        record = self.store.load(hash_sid(sid))
        if record is None:
            return ServerSession()
        now = utcnow()
        if now - record.last_seen_at > self.policy.idle or now - record.created_at > self.policy.absolute:
            self.store.delete(record.sid_hash)
            session = ServerSession()
            session.expired = True
            return session
        return ServerSession(record, sid)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        if not session.persist:
            return
        if response.status_code >= 500:
            # The request failed and its transaction rolled back (an audit event that could not
            # be written, say): the session stays as it was, so a sign-in is not half made.
            return
        name, secure = self.policy.cookie_name, self.policy.secure
        if session.ended or (session.record is not None and not session and session.modified):
            if session.record is not None:
                self.store.delete(session.record.sid_hash)
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Strict")
            return
        now = utcnow()
        if session.record is None or session.rotate:
            if not session and not session.rotate:
                return  # nothing worth a session yet
            sid = secrets.token_urlsafe(32)
            record = SessionRecord(
                sid_hash=hash_sid(sid),
                handle=str(uuid.uuid4()),
                user_id=_user_of(session),
                data=dict(session),
                created_at=now if session.record is None else session.record.created_at,
                last_seen_at=now,
                client=_client_summary(request),
            )
            previous = session.record.sid_hash if session.record is not None else None
            self.store.save(record, previous)
            response.set_cookie(name, sid, path="/", secure=secure, httponly=True, samesite="Strict")
            return
        record = session.record
        touch_due = now - record.last_seen_at >= _TOUCH_EVERY
        record.last_seen_at = now
        if session.modified:
            record.data = dict(session)
            record.user_id = _user_of(session)
            self.store.save(record, None)
        elif touch_due:
            self.store.touch(record)


def _user_of(session: ServerSession) -> str | None:
    for key in USER_KEYS:
        if session.get(key):
            return str(session[key])
    return None


def _client_summary(req: Request) -> str:
    agent = (req.user_agent.string or "")[:150]
    return agent


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
