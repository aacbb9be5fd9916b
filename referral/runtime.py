"""The per-application objects built from the settings (hashers, ciphers, stores)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from config import Settings

from .security.crypto import FieldCipher, PlatformKeyring, derive_key
from .security.passwords import PasswordHashing
from .security.sessions import DatabaseStore, RedisStore, SessionStore
from .security.throttle import Throttle


@dataclass
class Runtime:
    settings: Settings
    passwords: PasswordHashing
    cipher: FieldCipher
    throttle: Throttle
    pepper: bytes
    sessions: SessionStore


def build_runtime(settings: Settings) -> Runtime:
    pepper = derive_key(settings.root_key, "shabaka/pepper/v1")
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
        cipher=FieldCipher(PlatformKeyring(settings.root_key)),
        throttle=Throttle(pepper, settings.login_attempts_per_minute),
        pepper=pepper,
        sessions=store,
    )


def runtime() -> Runtime:
    return current_app.extensions["shabaka"]  # type: ignore[no-any-return]
