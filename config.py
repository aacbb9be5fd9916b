"""Shabaka settings: one object, read from the environment, production unless told otherwise.

Production refuses to start without explicit secrets and names the missing variable.
Development (what `make run` uses) generates its secrets once under `instance/` and says so.
Tests build their settings explicitly with `Settings.for_tests()`.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import sys
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent
ENVIRONMENTS = ("production", "development", "test")
SMTP_SECURITY = ("starttls", "ssl", "none")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    root_key: bytes
    database_url: str
    redis_url: str | None
    broker_url: str
    instance_path: Path
    port: int = 5000
    session_backend: str = "database"  # or "redis"
    session_idle_minutes: int = 15
    session_absolute_hours: int = 12
    login_attempts_per_minute: int = 5  # failed sign-ins a minute per account
    login_attempts_per_minute_per_address: int = 50  # per client address (an office behind one NAT)
    api_requests_per_minute_per_token: int = 300  # API requests a minute per bearer token
    requests_per_minute_per_address: int = 600  # requests a minute per client address (API and pages)
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1
    previous_root_keys: tuple[bytes, ...] = ()  # only while a root-key rotation is under way
    proxy_hops: int = 0  # reverse proxies in front of the app whose X-Forwarded-* headers we trust
    default_locale: str = "ar"
    log_level: str = "INFO"
    retention_years: int = 7  # closed cases are purged this many years after closure
    breakglass_hours: int = 3  # how long an emergency access lasts, at most (and by default)
    breakglass_per_day: int = 3  # emergency openings per supervisor in any 24 hours
    referral_completion_days: int = 30  # working days from acceptance before reminders start
    statistics_threshold: int = 5  # counts from 1 to this minus one are suppressed in every statistic
    statistics_snapshot_seconds: int = 900  # a live statistics view is counted and protected again after this
    reminder_sweep_seconds: int = 60  # how often the beat starts a reminder sweep
    # E-mail for notifications: off while smtp_host is empty (see docs/deploy.md, "E-mail").
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # or "ssl" (TLS from the first byte) or "none"
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    mail_from: str = ""
    base_url: str = ""  # the public address; e-mails link to its /notifications page only
    # Audit trail: the worker's Ed25519 key that signs checkpoints (the web process runs
    # without it), the public keys auditors pinned, and how often the beat seals.
    audit_signing_key: bytes | None = field(default=None, repr=False)
    audit_public_keys: tuple[bytes, ...] = ()
    audit_seal_seconds: int = 5
    audit_checkpoint_seconds: int = 60
    # SQLite (the embedded default): how long a transaction waits for the one write lock.
    sqlite_busy_seconds: int = 30
    # A PostgreSQL read replica for reporting reads (statistics, exports, audit search); empty:
    # none, everything reads the primary (see docs/deploy.md, "Read replica").
    replica_database_url: str = field(default="", repr=False)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def mail_enabled(self) -> bool:
        """Whether notifications may also go out by e-mail."""
        return bool(self.smtp_host)

    @property
    def rate_limit_storage(self) -> str:
        """Where the request counters live: Redis when REDIS_URL is set (production always), else
        each web process's memory (the embedded default; see docs/decisions.md)."""
        return self.redis_url or "memory://"

    @property
    def is_demo(self) -> bool:
        """Demo data may be seeded only outside production."""
        return self.env in ("development", "test")

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        env = environ.get("REFERRAL_ENV", "production").strip().lower()
        if env not in ENVIRONMENTS:
            raise ConfigError(f"REFERRAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
        instance = Path(environ.get("REFERRAL_INSTANCE_PATH", BASE_DIR / "instance")).resolve()
        if env == "production":
            return cls._production(environ, instance)
        if env == "development":
            return cls._development(environ, instance)
        raise ConfigError("REFERRAL_ENV=test is set by the test suite through Settings.for_tests()")

    @classmethod
    def _production(cls, environ: dict[str, str], instance: Path) -> Settings:
        secret_key = _required(environ, "SECRET_KEY")
        if len(secret_key.encode()) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 bytes long")
        root_key = _root_key_from(environ)
        if root_key is None:
            raise ConfigError("REFERRAL_ROOT_KEY (or REFERRAL_ROOT_KEY_FILE) must be set in production")
        database_url = _required(environ, "DATABASE_URL")
        redis_url = _required(environ, "REDIS_URL")
        return cls(
            env="production",
            secret_key=secret_key,
            root_key=root_key,
            database_url=_normalise_db_url(database_url),
            replica_database_url=_replica_url(environ, database_url),
            redis_url=redis_url,
            broker_url=environ.get("CELERY_BROKER_URL", redis_url),
            instance_path=instance,
            port=_port(environ),
            session_backend="redis",
            audit_signing_key=_audit_signing_key(environ),
            **_tunables(environ),
            **_mail(environ, production=True),
        )

    @classmethod
    def _development(cls, environ: dict[str, str], instance: Path) -> Settings:
        instance.mkdir(parents=True, exist_ok=True)
        secret_key = environ.get("SECRET_KEY") or _dev_secret(instance / "secret_key", 48)
        root_key = _root_key_from(environ)
        if root_key is None:
            root_key = base64.b64decode(_dev_secret(instance / "root_key", 32))
        database_url = environ.get("DATABASE_URL") or f"sqlite:///{instance / 'shabaka.db'}"
        redis_url = environ.get("REDIS_URL") or None
        broker_url = environ.get("CELERY_BROKER_URL") or redis_url or f"sqla+sqlite:///{instance / 'broker.db'}"
        return cls(
            env="development",
            secret_key=secret_key,
            root_key=root_key,
            database_url=_normalise_db_url(database_url),
            replica_database_url=_replica_url(environ, database_url),
            redis_url=redis_url,
            broker_url=broker_url,
            instance_path=instance,
            port=_port(environ),
            session_backend=environ.get("SESSION_BACKEND", "database"),
            audit_signing_key=_audit_signing_key(environ)
            or base64.b64decode(_dev_secret(instance / "audit_signing_key", 32)),
            **_tunables(environ),
            **_mail(environ, production=False, port=_port(environ)),
        )

    @classmethod
    def for_tests(cls, database_url: str, instance_path: Path, **overrides: object) -> Settings:
        """Cheap password hashing and generated secrets; the suite opts in explicitly."""
        base = cls(
            env="test",
            secret_key=secrets.token_urlsafe(48),
            root_key=secrets.token_bytes(32),
            database_url=_normalise_db_url(database_url),
            redis_url=None,
            broker_url=f"sqla+sqlite:///{instance_path / 'broker.db'}",
            instance_path=instance_path,
            argon2_time_cost=2,
            argon2_memory_kib=256,
            audit_signing_key=secrets.token_bytes(32),
            sqlite_busy_seconds=3,  # a test that waits on its own open transaction fails fast
        )
        return replace(base, **overrides)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- helpers
def _required(environ: dict[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} must be set in production")
    return value


def _root_key_from(environ: dict[str, str]) -> bytes | None:
    """The root key: base64 of 32 bytes, from REFERRAL_ROOT_KEY or the file REFERRAL_ROOT_KEY_FILE."""
    return _key_setting(environ, "REFERRAL_ROOT_KEY")


def _audit_signing_key(environ: dict[str, str]) -> bytes | None:
    """The worker's checkpoint signing key (an Ed25519 private key: base64 of 32 bytes), from
    AUDIT_SIGNING_KEY or the file AUDIT_SIGNING_KEY_FILE; None where neither is set (the web)."""
    return _key_setting(environ, "AUDIT_SIGNING_KEY")


def _key_setting(environ: dict[str, str], name: str) -> bytes | None:
    """A 32-byte key given as base64 in `name`, or in the file named by `name`_FILE; None
    when neither is set."""
    raw, source = environ.get(name, "").strip(), name
    if not raw and environ.get(f"{name}_FILE"):
        source = f"{name}_FILE"
        try:
            raw = Path(environ[source]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{source} cannot be read: {exc.strerror}") from None
    return _key32(raw, source) if raw else None


def _audit_public_keys(environ: dict[str, str]) -> tuple[bytes, ...]:
    """AUDIT_PUBLIC_KEY: comma-separated base64 Ed25519 public keys that verification trusts."""
    return tuple(
        _key32(raw.strip(), "AUDIT_PUBLIC_KEY") for raw in environ.get("AUDIT_PUBLIC_KEY", "").split(",") if raw.strip()
    )


def _key32(raw: str, source: str) -> bytes:
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source} must be base64 of 32 bytes") from None
    if len(key) != 32:
        raise ConfigError(f"{source} must be base64 of 32 bytes")
    return key


def _previous_root_keys(environ: dict[str, str]) -> tuple[bytes, ...]:
    """REFERRAL_PREVIOUS_ROOT_KEYS: comma-separated base64 keys still accepted for unwrapping."""
    return tuple(
        _key32(raw.strip(), "REFERRAL_PREVIOUS_ROOT_KEYS")
        for raw in environ.get("REFERRAL_PREVIOUS_ROOT_KEYS", "").split(",")
        if raw.strip()
    )


def _dev_secret(path: Path, nbytes: int) -> str:
    """Read a development secret, creating it once (mode 0600) and saying so."""
    if path.exists():
        return path.read_text().strip()
    value = base64.b64encode(secrets.token_bytes(nbytes)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    print(f"shabaka: created development secret {path} (mode 0600)", file=sys.stderr)
    return value


def _port(environ: dict[str, str]) -> int:
    raw = environ.get("PORT", "5000")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError("PORT must be a number between 1 and 65535")
    return int(raw)


def _int(environ: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}")
    return int(raw)


def _tunables(environ: dict[str, str]) -> dict[str, Any]:
    return {
        "session_idle_minutes": _int(environ, "SESSION_IDLE_MINUTES", 15),
        "session_absolute_hours": _int(environ, "SESSION_ABSOLUTE_HOURS", 12),
        "login_attempts_per_minute": _int(environ, "LOGIN_ATTEMPTS_PER_MINUTE", 5),
        "login_attempts_per_minute_per_address": _int(environ, "LOGIN_ATTEMPTS_PER_MINUTE_PER_ADDRESS", 50),
        "api_requests_per_minute_per_token": _int(environ, "RATE_LIMIT_PER_TOKEN", 300),
        "requests_per_minute_per_address": _int(environ, "RATE_LIMIT_PER_ADDRESS", 600),
        "proxy_hops": _int(environ, "PROXY_HOPS", 0, minimum=0),
        "previous_root_keys": _previous_root_keys(environ),
        "log_level": environ.get("LOG_LEVEL", "INFO").upper(),
        "retention_years": _int(environ, "RETENTION_YEARS", 7),
        "breakglass_hours": _int(environ, "BREAKGLASS_HOURS", 3),
        "breakglass_per_day": _int(environ, "BREAKGLASS_PER_DAY", 3),
        "referral_completion_days": _int(environ, "REFERRAL_COMPLETION_DAYS", 30),
        "statistics_threshold": _int(environ, "STATISTICS_THRESHOLD", 5),
        "statistics_snapshot_seconds": _int(environ, "STATISTICS_SNAPSHOT_SECONDS", 900),
        "reminder_sweep_seconds": _int(environ, "REMINDER_SWEEP_SECONDS", 60),
        "audit_public_keys": _audit_public_keys(environ),
        "audit_seal_seconds": _int(environ, "AUDIT_SEAL_SECONDS", 5),
        "audit_checkpoint_seconds": _int(environ, "AUDIT_CHECKPOINT_SECONDS", 60),
        "sqlite_busy_seconds": _int(environ, "SQLITE_BUSY_SECONDS", 30),
    }


def _mail(environ: dict[str, str], *, production: bool, port: int = 5000) -> dict[str, Any]:
    """The SMTP settings. Empty SMTP_HOST turns e-mail off and the other variables are ignored.

    In production the address of the site (BASE_URL, https) is required with SMTP_HOST, and
    SMTP_SECURITY=none is accepted only for a relay on the same machine (localhost), so neither
    credentials nor notifications cross a network in clear text.
    """
    host = environ.get("SMTP_HOST", "").strip()
    if not host:
        return {}
    security = environ.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SMTP_SECURITY:
        raise ConfigError(f"SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
    if production and security == "none" and host.lower() not in LOCAL_HOSTS:
        raise ConfigError("SMTP_SECURITY=none is allowed in production only with SMTP_HOST=localhost")
    raw_port = environ.get("SMTP_PORT", "").strip()
    smtp_port = 465 if security == "ssl" else 587
    if raw_port:
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise ConfigError("SMTP_PORT must be a number between 1 and 65535")
        smtp_port = int(raw_port)
    username = environ.get("SMTP_USERNAME", "").strip()
    password = environ.get("SMTP_PASSWORD", "")
    if not password and environ.get("SMTP_PASSWORD_FILE"):
        try:
            password = Path(environ["SMTP_PASSWORD_FILE"]).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"SMTP_PASSWORD_FILE cannot be read: {exc.strerror}") from None
    if username and not password:
        raise ConfigError("SMTP_PASSWORD (or SMTP_PASSWORD_FILE) must be set with SMTP_USERNAME")
    if password and not username:
        raise ConfigError("SMTP_USERNAME must be set with SMTP_PASSWORD")
    mail_from = environ.get("MAIL_FROM", "").strip()
    if not mail_from:
        raise ConfigError("MAIL_FROM must be set when SMTP_HOST is set")
    if "@" not in parseaddr(mail_from)[1] or "\n" in mail_from or "\r" in mail_from:
        raise ConfigError("MAIL_FROM must be an e-mail address, e.g. Shabaka <no-reply@example.org>")
    base_url = environ.get("BASE_URL", "").strip().rstrip("/")
    if not base_url:
        if production:
            raise ConfigError("BASE_URL must be set in production when SMTP_HOST is set")
        base_url = f"http://localhost:{port}"
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("BASE_URL must be the site's address, e.g. https://shabaka.example.org")
    if production and parts.scheme != "https":
        raise ConfigError("BASE_URL must start with https:// in production")
    return {
        "smtp_host": host,
        "smtp_port": smtp_port,
        "smtp_security": security,
        "smtp_username": username,
        "smtp_password": password,
        "mail_from": mail_from,
        "base_url": base_url,
    }


def _replica_url(environ: dict[str, str], database_url: str) -> str:
    """REPLICA_DATABASE_URL: a streaming replica of DATABASE_URL, PostgreSQL only; empty: none."""
    raw = environ.get("REPLICA_DATABASE_URL", "").strip()
    if not raw:
        return ""
    postgres = ("postgres://", "postgresql://", "postgresql+psycopg://")
    if not raw.startswith(postgres) or not database_url.startswith(postgres):
        raise ConfigError("REPLICA_DATABASE_URL needs PostgreSQL, for it and for DATABASE_URL")
    return _normalise_db_url(raw)


def _normalise_db_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
