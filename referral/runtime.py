"""The per-application objects built from the settings (hashers, ciphers, stores)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from config import Settings

from .security.crypto import FieldCipher, derive_key
from .security.keys import PLATFORM, DatabaseKeyring, LocalRootKeys
from .security.passwords import PasswordHashing
from .security.sessions import DatabaseStore, RedisStore, SessionStore
from .security.throttle import Throttle


@dataclass
class Runtime:
    settings: Settings
    passwords: PasswordHashing
    keyring: DatabaseKeyring
    cipher: FieldCipher
    throttle: Throttle
    sessions: SessionStore

    @property
    def pepper(self) -> bytes:
        """The key for hashing recovery codes: derived from the platform index key, so it
        survives root-key rotation (which rewraps keys without changing them)."""
        return derive_key(self.keyring.index_key(PLATFORM), "shabaka/recovery-codes/v1")


def build_runtime(settings: Settings) -> Runtime:
    keyring = DatabaseKeyring(LocalRootKeys(settings.root_key, settings.previous_root_keys))
    store: SessionStore
    if settings.session_backend == "redis":
        if not settings.redis_url:
            raise RuntimeError("the Redis session store needs REDIS_URL")
        store = RedisStore(settings.redis_url, timedelta(hours=settings.session_absolute_hours))
    else:
        store = DatabaseStore()
    return Runtime(
        settings=settings,
        passwords=PasswordHashing(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
        keyring=keyring,
        cipher=FieldCipher(keyring),
        throttle=Throttle(
            derive_key(settings.secret_key.encode(), "shabaka/throttle/v1"),
            settings.login_attempts_per_minute,
            settings.login_attempts_per_minute_per_address,
        ),
        sessions=store,
    )


def runtime() -> Runtime:
    return current_app.extensions["shabaka"]  # type: ignore[no-any-return]
