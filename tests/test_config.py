"""Settings: production by default, refuses to start without each secret, development makes its own."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, Settings

ROOT = base64.b64encode(b"k" * 32).decode()
COMPLETE = {
    "SECRET_KEY": "s" * 40,
    "REFERRAL_ROOT_KEY": ROOT,
    "DATABASE_URL": "postgresql://shabaka@db/shabaka",
    "REDIS_URL": "redis://cache:6379/0",
}


def test_production_is_the_default(tmp_path: Path) -> None:
    settings = Settings.from_env({**COMPLETE, "REFERRAL_INSTANCE_PATH": str(tmp_path)})
    assert settings.env == "production" and settings.is_production
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.session_backend == "redis"
    assert settings.argon2_memory_kib >= 19 * 1024 and settings.argon2_time_cost >= 2


@pytest.mark.parametrize("missing", ["SECRET_KEY", "REFERRAL_ROOT_KEY", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_each_secret(missing: str) -> None:
    environ = {k: v for k, v in COMPLETE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(environ)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({**COMPLETE, "SECRET_KEY": "too-short"})


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_production_refuses_a_malformed_root_key(bad: str) -> None:
    with pytest.raises(ConfigError, match="REFERRAL_ROOT_KEY"):
        Settings.from_env({**COMPLETE, "REFERRAL_ROOT_KEY": bad})


def test_root_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "root.key"
    key_file.write_text(ROOT)
    environ = {k: v for k, v in COMPLETE.items() if k != "REFERRAL_ROOT_KEY"}
    settings = Settings.from_env({**environ, "REFERRAL_ROOT_KEY_FILE": str(key_file)})
    assert settings.root_key == b"k" * 32


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="REFERRAL_ENV"):
        Settings.from_env({"REFERRAL_ENV": "staging"})


def test_the_app_refuses_to_start_in_production_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from referral import create_app

    for name in ("REFERRAL_ENV", *COMPLETE):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_development_creates_its_secrets_once_with_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"REFERRAL_ENV": "development", "REFERRAL_INSTANCE_PATH": str(tmp_path)}
    first = Settings.from_env(environ)
    said = capsys.readouterr().err
    assert "created development secret" in said
    for name in ("secret_key", "root_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    second = Settings.from_env(environ)
    assert capsys.readouterr().err == ""
    assert (first.secret_key, first.root_key) == (second.secret_key, second.root_key)
    assert first.database_url == f"sqlite:///{tmp_path / 'shabaka.db'}"
    assert first.broker_url.startswith("sqla+sqlite:///")
    assert first.session_backend == "database"


def test_port_and_timeouts_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "REFERRAL_ENV": "development",
        "REFERRAL_INSTANCE_PATH": str(tmp_path),
        "PORT": "8080",
        "SESSION_IDLE_MINUTES": "5",
        "SESSION_ABSOLUTE_HOURS": "8",
    }
    settings = Settings.from_env(environ)
    assert (settings.port, settings.session_idle_minutes, settings.session_absolute_hours) == (8080, 5, 8)
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({**environ, "PORT": "http"})


def test_proxy_hops_make_the_throttle_see_the_real_client(settings: Settings, make_app: Any, factory: Any) -> None:
    from dataclasses import replace

    from tests.conftest import csrf

    proxied = make_app(replace(settings, proxy_hops=1))
    for i in range(5):
        client = proxied.test_client()
        token = csrf(client)
        client.post(
            "/login",
            data={"csrf_token": token, "username": f"nobody{i}", "password": "wrong password here"},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
    other = proxied.test_client()
    token = csrf(other)
    account = factory.user()
    response = other.post(
        "/login",
        data={"csrf_token": token, "username": account.username, "password": account.password},
        headers={"X-Forwarded-For": "198.51.100.9"},
    )
    assert response.status_code == 302  # another client behind the same proxy is not throttled


# ----------------------------------------------------------------------------- e-mail
MAIL = {
    "SMTP_HOST": "smtp.example.org",
    "SMTP_USERNAME": "shabaka",
    "SMTP_PASSWORD": "smtp-secret",
    "MAIL_FROM": "Shabaka <no-reply@example.org>",
    "BASE_URL": "https://shabaka.example.org/",
}


def test_email_is_off_unless_a_host_is_set() -> None:
    settings = Settings.from_env(COMPLETE)
    assert not settings.mail_enabled and settings.smtp_host == ""
    # the other variables alone do not turn it on
    assert not Settings.from_env({**COMPLETE, "MAIL_FROM": "no-reply@example.org"}).mail_enabled


def test_email_settings_in_production() -> None:
    settings = Settings.from_env({**COMPLETE, **MAIL})
    assert settings.mail_enabled
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == ("smtp.example.org", 587, "starttls")
    assert (settings.smtp_username, settings.smtp_password) == ("shabaka", "smtp-secret")
    assert settings.base_url == "https://shabaka.example.org"
    assert "smtp-secret" not in repr(settings)
    ssl = Settings.from_env({**COMPLETE, **MAIL, "SMTP_SECURITY": "ssl"})
    assert (ssl.smtp_security, ssl.smtp_port) == ("ssl", 465)
    assert Settings.from_env({**COMPLETE, **MAIL, "SMTP_PORT": "2525"}).smtp_port == 2525


@pytest.mark.parametrize("missing", ["MAIL_FROM", "BASE_URL"])
def test_production_with_a_mail_host_refuses_to_start_without(missing: str) -> None:
    environ = {k: v for k, v in {**COMPLETE, **MAIL}.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"SMTP_SECURITY": "tls13"}, "SMTP_SECURITY"),
        ({"SMTP_SECURITY": "none"}, "SMTP_SECURITY"),  # clear text to another machine
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT"),
        ({"SMTP_PASSWORD": ""}, "SMTP_PASSWORD"),
        ({"SMTP_USERNAME": ""}, "SMTP_USERNAME"),
        ({"MAIL_FROM": "Shabaka"}, "MAIL_FROM"),
        ({"BASE_URL": "http://shabaka.example.org"}, "BASE_URL"),
        ({"BASE_URL": "shabaka.example.org"}, "BASE_URL"),
    ],
)
def test_production_refuses_unusable_mail_settings(changed: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({**COMPLETE, **MAIL, **changed})


def test_clear_text_smtp_only_to_a_relay_on_the_same_machine() -> None:
    local = {**COMPLETE, **MAIL, "SMTP_HOST": "localhost", "SMTP_SECURITY": "none", "SMTP_PORT": "25"}
    local.pop("SMTP_USERNAME")
    local.pop("SMTP_PASSWORD")
    settings = Settings.from_env(local)
    assert (settings.smtp_security, settings.smtp_port) == ("none", 25)


def test_smtp_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp.pass"
    secret.write_text("from-a-file\n")
    environ = {k: v for k, v in {**COMPLETE, **MAIL}.items() if k != "SMTP_PASSWORD"}
    assert Settings.from_env({**environ, "SMTP_PASSWORD_FILE": str(secret)}).smtp_password == "from-a-file"
    with pytest.raises(ConfigError, match="SMTP_PASSWORD_FILE"):
        Settings.from_env({**environ, "SMTP_PASSWORD_FILE": str(tmp_path / "missing")})


def test_development_mail_links_to_the_local_server(tmp_path: Path) -> None:
    environ = {
        "REFERRAL_ENV": "development",
        "REFERRAL_INSTANCE_PATH": str(tmp_path),
        "PORT": "8080",
        "SMTP_HOST": "mailpit.internal",
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "dev@localhost.localdomain",
    }
    settings = Settings.from_env(environ)
    assert settings.base_url == "http://localhost:8080" and settings.smtp_security == "none"
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        Settings.from_env({k: v for k, v in environ.items() if k != "MAIL_FROM"})


def test_a_read_replica_is_optional_and_postgresql_only(tmp_path: Path) -> None:
    base = {**COMPLETE, "REFERRAL_INSTANCE_PATH": str(tmp_path)}
    assert Settings.from_env(base).replica_database_url == ""
    settings = Settings.from_env({**base, "REPLICA_DATABASE_URL": "postgresql://shabaka:hunter2@standby/shabaka"})
    assert settings.replica_database_url == "postgresql+psycopg://shabaka:hunter2@standby/shabaka"
    assert "hunter2" not in repr(settings)  # the URL may hold a password
    with pytest.raises(ConfigError, match="REPLICA_DATABASE_URL"):
        Settings.from_env({**base, "REPLICA_DATABASE_URL": "sqlite:///copy.db"})
    development = {"REFERRAL_ENV": "development", "REFERRAL_INSTANCE_PATH": str(tmp_path)}  # SQLite by default
    with pytest.raises(ConfigError, match="REPLICA_DATABASE_URL"):
        Settings.from_env({**development, "REPLICA_DATABASE_URL": "postgresql://shabaka@replica/shabaka"})
