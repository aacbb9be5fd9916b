"""Housekeeping of security records: expired sessions and old failed sign-in attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models_base import DbSession
from .sessions import SessionStore
from .throttle import Throttle


@dataclass(frozen=True)
class PurgeResult:
    sessions: int
    login_failures: int


def purge_expired(
    session: DbSession, store: SessionStore, idle: timedelta, absolute: timedelta, now: datetime
) -> PurgeResult:
    """Delete sessions past their idle or absolute timeout and failures outside the throttle window."""
    sessions = store.purge_expired(session, idle_before=now - idle, created_before=now - absolute)
    failures = Throttle.purge(session, now)
    return PurgeResult(sessions=sessions, login_failures=failures)
