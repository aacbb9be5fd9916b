"""Test fixtures: a real database built by migrations (SQLite, or PostgreSQL when asked), the app
with cheap password hashing, factories for organisations and users, and sign-in helpers.

Set TEST_DATABASE_URL and SHABAKA_TEST_BACKEND=postgres to run on PostgreSQL; set TEST_REDIS_URL
to also run the Redis tests. `make test` does both when the variables are present.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.serving import WSGIRequestHandler, make_server

from config import Settings
from referral import create_app
from referral.accounts.models import User
from referral.directory import services as directory
from referral.directory.models import Network, Organization
from referral.extensions import db
from referral.models_base import new_id
from referral.runtime import runtime
from referral.security import limits

# fixtures used across folders, defined once (tests/test_test_helpers.py keeps it so)
pytest_plugins = ["tests.helpers.fixtures"]

BACKEND = os.environ.get("SHABAKA_TEST_BACKEND", "sqlite")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
# `make test` with TEST_DATABASE_URL runs a PostgreSQL pass beside this SQLite one: slow tests
# that need not run twice (the worker tests' brokers, the fuzzer's random phases) leave a part to it.
POSTGRES_PASS_TOO = BACKEND == "sqlite" and bool(os.environ.get("TEST_DATABASE_URL"))
STRONG_PASSWORD = "violet-harbour-compass-lantern"


# ----------------------------------------------------------------------------- log capture
class _Collector(logging.Handler):
    """Keeps every log line written during the suite, formatted, for the no-secrets check."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
        except Exception:
            line = str(record.msg)
        if record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(line)


LOG_COLLECTOR = _Collector()
logging.getLogger().addHandler(LOG_COLLECTOR)


# ----------------------------------------------------------------------------- database
def _database_url(tmp: Path) -> str:
    if BACKEND == "postgres":
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.exit("SHABAKA_TEST_BACKEND=postgres needs TEST_DATABASE_URL", returncode=2)
        return url
    return f"sqlite:///{tmp / 'test.db'}"


def _reset_postgres(url: str) -> None:
    engine = create_engine(Settings.for_tests(url, Path("/tmp")).database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def settings(instance_path: Path) -> Settings:
    url = _database_url(instance_path)
    if BACKEND == "postgres":
        _reset_postgres(url)
    return Settings.for_tests(url, instance_path)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    from flask_migrate import upgrade

    application = create_app(settings)
    with application.app_context():
        upgrade()
    yield application
    _dispose(application)


def _dispose(application: Flask) -> None:
    with application.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def make_app(app: Flask) -> Iterator[Any]:
    """Build another app on the same database with changed settings; its pool closes afterwards."""
    made: list[Flask] = []

    def build(changed: Settings) -> Flask:
        application = create_app(changed)
        made.append(application)
        return application

    yield build
    for application in made:
        _dispose(application)


def _tables_in_delete_order() -> list[str]:
    """Children before parents, from the models themselves (a new table needs no edit here)."""
    return [table.name for table in reversed(db.metadata.sorted_tables)]


@contextmanager
def audit_guards_lifted(session: Any) -> Iterator[None]:
    """Within the current transaction, let the owner change the append-only audit tables, as
    an intruder holding the database would (and as emptying the database between tests must).

    PostgreSQL: `session_replication_role = replica` skips the guard triggers (superuser only)
    until the transaction ends. SQLite: the guard triggers are dropped and created again.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        return
    triggers = session.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('audit_event', 'audit_checkpoint')"
        )
    ).all()
    for name, _sql in triggers:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        for _name, sql in triggers:
            session.execute(text(sql))


def _empty_postgres(session: Any) -> None:
    """Delete every row and restart the sequences, in one round trip.

    TRUNCATE of every table costs hundreds of milliseconds (each table gets a new file); deleting
    the few rows a test wrote costs a few. The replica role skips the foreign-key and audit guard
    triggers until the transaction ends, so the order of the tables does not matter; the lock
    waits, as TRUNCATE's did, for another connection still writing."""
    tables = _tables_in_delete_order()
    statements = ["SET LOCAL session_replication_role = replica"]
    # as TRUNCATE did, wait for any other connection still writing (a worker's last task)
    statements.append(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
    statements += [f"DELETE FROM {table}" for table in tables]
    statements += [f"ALTER SEQUENCE {name} RESTART" for name in _postgres_sequences(session)]
    session.execute(text("; ".join(statements)))


_SEQUENCES: list[str] = []


def _postgres_sequences(session: Any) -> list[str]:
    if not _SEQUENCES:
        query = text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        _SEQUENCES.extend(str(name) for name in session.scalars(query))
    return _SEQUENCES


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from an empty schema (workers and the session store use their own connections)."""
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            _empty_postgres(db.session)
        else:
            with audit_guards_lifted(db.session):
                for table in _tables_in_delete_order():
                    db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        # SQLite numbers data keys from 1 again: no unwrapped key of this test may serve the next
        runtime().keyring.forget()
    limits.reset(application)  # each test starts with fresh request counters, as with an empty database


@contextmanager
def within(app: Flask) -> Iterator[None]:
    """`app.app_context()`, unless one of `app` is already open: then its session is reused.

    On SQLite every transaction takes the one write lock when it begins, so a helper that opened
    a second context (a second session) while the test's own transaction is open would wait on
    the test itself."""
    from flask import current_app, has_app_context

    if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
        yield
        return
    with app.app_context():
        yield


@contextmanager
def serving(app: Flask, request_handler: type[WSGIRequestHandler] | None = None) -> Iterator[str]:
    """`app` on a random local port, served by werkzeug in a daemon thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=request_handler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An application context for calling services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# ----------------------------------------------------------------------------- factories
@dataclass
class Account:
    id: str
    username: str
    password: str
    role: str
    organization_id: str
    totp_secret: str | None = None

    def totp(self) -> str:
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).now()


def _letters(n: int) -> str:
    """Three capital letters, different for every n below 26**3."""
    out = ""
    for _ in range(3):
        n, rest = divmod(n, 26)
        out = chr(65 + rest) + out
    return out


class Factory:
    """Builds committed test data through the same services the app uses."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def network(self, governorate: str | None = None) -> Network:
        with self.app.app_context():
            n = self._next()
            letters = _letters(n)
            net = directory.create_network(
                db.session,
                None,
                governorate=governorate or f"gov_{letters.lower()}",
                case_prefix=letters,
                name_ar=f"شبكة {n}",
                name_en=f"Network {n}",
            )
            db.session.commit()
            db.session.refresh(net)
            db.session.expunge(net)
            return net

    def organization(self, network: Network | None = None, **overrides: Any) -> Organization:
        net = network or self.network()
        with self.app.app_context():
            n = self._next()
            data = directory.OrganizationInput(
                name_ar=overrides.get("name_ar", f"منظمة {n}"),
                name_en=overrides.get("name_en", f"Organisation {n}"),
                kind=overrides.get("kind", "civil"),
                sectors=overrides.get("sectors", ["legal_aid"]),
                governorates=[net.governorate],
            )
            org = directory.create_organization(db.session, None, data)
            directory.add_member(db.session, None, db.session.get(Network, net.id), org)
            db.session.commit()
            db.session.refresh(org)
            db.session.expunge(org)
            return org

    def user(
        self,
        role: str = "caseworker",
        organization: Organization | None = None,
        *,
        enrolled: bool = True,
        must_change_password: bool = False,
        password: str = STRONG_PASSWORD,
        network: Network | None = None,
        username: str | None = None,
    ) -> Account:
        org = organization or self.organization()
        with self.app.app_context():
            rt = runtime()
            n = self._next()
            user = User(
                id=new_id(),
                organization_id=org.id,
                network_id=network.id if network is not None else None,
                role=role,
                username=username or f"user{n}",
                locale="ar",
                password_hash=rt.passwords.hash(password),
                must_change_password=must_change_password,
            )
            secret = None
            if enrolled:
                from referral.models_base import utcnow

                secret = pyotp.random_base32(32)
                user.totp_secret = secret
                user.totp_enrolled_at = utcnow()
            db.session.add(user)
            db.session.commit()
            return Account(user.id, user.username, password, role, org.id, secret)


@pytest.fixture
def factory(app: Flask) -> Factory:
    return Factory(app)


# ----------------------------------------------------------------------------- sign-in helpers
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def password_step(client: FlaskClient, username: str, password: str) -> Any:
    token = csrf(client, "/login")
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def reset_totp_step(app: Flask, account: Account) -> None:
    """Forget the last used TOTP step so a helper can sign in twice within 30 seconds."""
    with app.app_context():
        user = db.session.get(User, account.id)
        user.totp_last_step = None
        db.session.commit()


def sign_in(client: FlaskClient, app: Flask, account: Account) -> None:
    """The whole sign-in: password, then the current TOTP code."""
    reset_totp_step(app, account)
    response = password_step(client, account.username, account.password)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert response.headers["Location"].endswith("/login/mfa")
    token = csrf(client, "/login/mfa")
    done = client.post("/login/mfa", data={"csrf_token": token, "code": account.totp()})
    assert done.status_code == 302, done.get_data(as_text=True)[:500]


def post_form(client: FlaskClient, path: str, data: dict[str, Any], page: str | None = None) -> Any:
    """POST a form with a CSRF token taken from `page` (default: the account page)."""
    token = csrf(client, page or "/account/")
    return client.post(path, data={"csrf_token": token, **data})


def arabic(app: Flask, message: str) -> str:
    """A message as an Arabic page shows it (translated, then HTML-escaped)."""
    from flask_babel import force_locale, gettext
    from markupsafe import escape

    with app.test_request_context(), force_locale("ar"):
        return str(escape(gettext(message)))
