"""Failed sign-in throttling: a few failures a minute per account (`login_attempts_per_minute`,
5) and many more per client address (`login_attempts_per_minute_per_address`, 50), so that one
colleague's mistakes do not lock out everyone behind the same office address."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from ..models_base import DbSession
from .models import LoginFailure

WINDOW = timedelta(minutes=1)


def retry_after_headers(status: int) -> dict[str, str]:
    """A refused sign-in (429) says when to try again: once the window has passed."""
    return {"Retry-After": str(int(WINDOW.total_seconds()))} if status == 429 else {}


class Throttle:
    def __init__(self, pepper: bytes, limit: int, address_limit: int) -> None:
        self._pepper = pepper
        self.limit = limit
        self.address_limit = address_limit

    def _key(self, kind: str, value: str) -> str:
        return hmac.new(self._pepper, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def account_key(self, username: str) -> str:
        return self._key("account", username.strip().lower())

    def client_key(self, address: str) -> str:
        return self._key("client", address)

    def is_limited(self, session: DbSession, username: str, address: str, now: datetime) -> bool:
        account, client = self.account_key(username), self.client_key(address)
        since = now - WINDOW
        by_account = session.scalar(
            select(func.count()).where(LoginFailure.account_key == account, LoginFailure.occurred_at > since)
        )
        if (by_account or 0) >= self.limit:
            return True
        by_client = session.scalar(
            select(func.count()).where(LoginFailure.client_key == client, LoginFailure.occurred_at > since)
        )
        return (by_client or 0) >= self.address_limit

    def record_failure(self, session: DbSession, username: str, address: str, now: datetime) -> None:
        session.add(
            LoginFailure(account_key=self.account_key(username), client_key=self.client_key(address), occurred_at=now)
        )

    def clear_account(self, session: DbSession, username: str) -> None:
        session.execute(delete(LoginFailure).where(LoginFailure.account_key == self.account_key(username)))

    @staticmethod
    def purge(session: DbSession, now: datetime) -> int:
        done = session.execute(delete(LoginFailure).where(LoginFailure.occurred_at < now - WINDOW))
        return int(done.rowcount)  # type: ignore[attr-defined]
