"""Column helpers shared by every domain's models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, also on SQLite, which forgets the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def id_column() -> Mapped[str]:
    return mapped_column(Uuid(as_uuid=False), primary_key=True, default=new_id)


def created_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


# What services accept as "the session": a plain Session or Flask-SQLAlchemy's scoped one.
DbSession = Session | scoped_session[Any]


def get_by_id(session: DbSession, model: Any, raw: object) -> Any:
    """The row with this id, or None; a malformed id is simply not found (PostgreSQL would
    otherwise refuse the query and end the transaction)."""
    try:
        return session.get(model, str(uuid.UUID(str(raw))))
    except ValueError:
        return None
