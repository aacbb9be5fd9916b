"""deploy/ starts what the app really is (issue 15): every command line in the systemd units and the
Procfile names programs, options and import paths that exist, the web and the beat never hold the
audit signing key, the units are hardened, the target starts web, workers and one beat, and the
example environment file is one production accepts."""

from __future__ import annotations

import base64
import secrets
import shlex
from pathlib import Path

import pytest

from config import Settings
from tests.helpers.deploy import (
    DEPLOY,
    check_celery,
    check_gunicorn,
    check_program,
    check_scheduler,
    env_file,
    expand,
    procfile,
    specifiers,
    units,
    without_env_prefix,
)

SERVICES = ("shabaka-web.service", "shabaka-worker@.service", "shabaka-beat.service")
EXAMPLE = DEPLOY / "shabaka.env.example"


@pytest.fixture(autouse=True)
def _development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # workers.celery_app builds its app from the environment when first imported
    monkeypatch.setenv("REFERRAL_ENV", "development")
    monkeypatch.setenv("REFERRAL_INSTANCE_PATH", str(tmp_path))


def _exec_start(name: str, instance: str = "1") -> list[str]:
    unit = units()[name]
    env = {**env_file(EXAMPLE), **unit.environment(instance)}
    return shlex.split(expand(specifiers(unit.one("Service", "ExecStart"), instance), env))


def _configured_scheduler(tmp_path: Path) -> str:
    """The scheduler the app itself configures for a Redis broker."""
    from workers.celery_app import make_celery  # the module builds its app from the environment

    return str(make_celery(_redis_settings(tmp_path)).conf.beat_scheduler)


def _redis_settings(tmp_path: Path) -> Settings:
    return Settings.for_tests(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, broker_url="redis://127.0.0.1:6379/0")


def test_the_web_unit_runs_gunicorn_on_the_app_factory_with_the_workers_setting() -> None:
    argv = _exec_start("shabaka-web.service")
    assert argv[0] == "/opt/shabaka/venv/bin/gunicorn" and check_program(argv) == "gunicorn"
    args = check_gunicorn(argv)
    assert args.workers == int(env_file(EXAMPLE)["WEB_CONCURRENCY"])
    assert args.bind == ["127.0.0.1:8000"]  # only the proxy reaches it
    assert "%(U)s" in args.access_log_format and "%(r)s" not in args.access_log_format  # no query strings


def test_the_worker_template_runs_a_named_celery_worker_per_instance() -> None:
    for instance in ("1", "2"):
        argv = _exec_start("shabaka-worker@.service", instance)
        assert check_program(argv) == "celery"
        command, options, _ = check_celery(argv)
        assert command == "worker"
        assert options["hostname"] == f"worker{instance}@host.example.org"
        assert options["concurrency"] == int(env_file(EXAMPLE)["WORKER_CONCURRENCY"])


def test_the_beat_unit_runs_the_redbeat_scheduler_the_app_configures(tmp_path: Path) -> None:
    argv = _exec_start("shabaka-beat.service")
    command, options, _ = check_celery(argv)
    assert command == "beat"
    check_scheduler(options["scheduler"])
    assert options["scheduler"] == _configured_scheduler(tmp_path)


def test_the_target_starts_the_web_two_workers_and_exactly_one_beat() -> None:
    found = units()
    wants = found["shabaka.target"].one("Unit", "Wants").split()
    assert sorted(wants) == sorted(
        ["shabaka-web.service", "shabaka-worker@1.service", "shabaka-worker@2.service", "shabaka-beat.service"]
    )
    for name in SERVICES:
        assert found[name].one("Unit", "PartOf") == "shabaka.target"
        assert found[name].one("Install", "WantedBy") == "shabaka.target"


@pytest.mark.parametrize("name", SERVICES)
def test_each_unit_is_hardened_and_writes_only_its_state_directory(name: str) -> None:
    service = units()[name].sections["Service"]
    assert service["User"] == ["shabaka"] and service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"] and service["PrivateTmp"] == ["yes"]
    assert service["CapabilityBoundingSet"] == [""]
    writable = " ".join(service["ReadWritePaths"]).split()
    assert writable == ["/var/lib/shabaka"]
    assert Path(env_file(EXAMPLE)["REFERRAL_INSTANCE_PATH"]) in [Path(p) for p in writable]
    assert service["EnvironmentFile"] == ["/etc/shabaka/shabaka.env", "/etc/shabaka/secrets.env"]


def test_only_the_workers_are_given_the_audit_signing_key() -> None:
    found = units()
    for name in ("shabaka-web.service", "shabaka-beat.service"):
        assert "AUDIT_SIGNING_KEY_FILE" not in found[name].environment()
        assert set(found[name].one("Service", "UnsetEnvironment").split()) == {
            "AUDIT_SIGNING_KEY",
            "AUDIT_SIGNING_KEY_FILE",
        }
        assert not any("audit_signing_key" in c for c in found[name].get("Service", "LoadCredential"))
    worker = found["shabaka-worker@.service"]
    assert worker.environment()["AUDIT_SIGNING_KEY_FILE"] == "/run/credentials/unit/audit_signing_key"
    for name in SERVICES:  # the root key comes from the credentials directory, never the env file
        assert found[name].environment()["REFERRAL_ROOT_KEY_FILE"] == "/run/credentials/unit/root_key"


def test_the_example_environment_holds_no_secret_and_production_accepts_it(tmp_path: Path) -> None:
    example = env_file(EXAMPLE)
    for secret in (
        "SECRET_KEY",
        "REFERRAL_ROOT_KEY",
        "AUDIT_SIGNING_KEY",
        "SMTP_PASSWORD",
        "DATABASE_URL",
        "REDIS_URL",
    ):
        assert secret not in example
    key = tmp_path / "root_key"
    key.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    given = {  # what secrets.env and the credentials directory add
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": "postgresql://shabaka_app@db.internal/shabaka",
        "REDIS_URL": "redis://10.0.0.5:6379/0",
        "REFERRAL_ROOT_KEY_FILE": str(key),
    }
    settings = Settings.from_env({**example, **given})
    assert settings.is_production and settings.proxy_hops == 1
    assert settings.audit_signing_key is None  # the web's view: no signing key


def test_the_procfile_runs_the_same_shape_with_honcho() -> None:
    shape = procfile()
    assert set(shape) == {"web", "worker", "beat"}
    env = {**env_file(EXAMPLE), "PORT": "5000"}
    check_program(["honcho"])
    for name, command in shape.items():
        removed, argv = without_env_prefix(shlex.split(expand(command, env)))
        if name == "worker":
            assert removed == []
            command_name, options, _ = check_celery(argv)
            assert command_name == "worker"
            assert options["hostname"].startswith("worker-5000@")  # honcho's PORT makes each name unique
        else:
            assert removed == ["AUDIT_SIGNING_KEY", "AUDIT_SIGNING_KEY_FILE"]
        if name == "web":
            assert check_gunicorn(argv).args == ["referral:create_app()"]
        if name == "beat":
            command_name, options, _ = check_celery(argv)
            assert command_name == "beat"
            check_scheduler(options["scheduler"])
        check_program(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["gunicorn", "--workers", "2", "referral:create_ap()"],
        ["gunicorn", "--workers", "2", "referal:create_app()"],
        ["gunicorn", "--workers", "2", "referral:create_app(1)"],
        ["celery", "-A", "workers.celery_ap", "worker"],
        ["celery", "-A", "workers.celery_app", "wroker"],
        ["celery", "-A", "workers.celery_app", "worker", "--concurency", "2"],
    ],
)
def test_a_wrong_command_line_is_caught(argv: list[str]) -> None:
    import click

    check = check_gunicorn if argv[0] == "gunicorn" else check_celery
    with pytest.raises((AssertionError, ImportError, AttributeError, click.UsageError)):
        check(argv)


def test_a_wrong_scheduler_or_program_is_caught() -> None:
    with pytest.raises(AttributeError):
        check_scheduler("redbeat.RedBeatSchedular")
    with pytest.raises(AssertionError):
        check_program(["/opt/shabaka/venv/bin/gunicron"])
