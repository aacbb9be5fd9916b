"""Failed sign-in throttling: N failures a minute per account and per client address."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from ..models_base import DbSession
from .models import LoginFailure

WINDOW = timedelta(minutes=1)


class Throttle:
    def __init__(self, pepper: bytes, limit: int) -> None:
        self._pepper = pepper
        self.limit = limit

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
        return (by_client or 0) >= self.limit

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
