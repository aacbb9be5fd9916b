"""Reporting reads on a streaming read replica (REPLICA_DATABASE_URL), writes on the primary.

A real pair of PostgreSQL clusters is made for this file (scripts/replica.py: initdb, then
pg_basebackup -R of the running primary), the schema migrated on the primary and streamed to
the replica. With replay paused on the replica, what a request reads shows where it was read:
rows written on the primary since the pause are missing from a read served by the replica.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from referral import create_app
from referral.extensions import db
from tests.conftest import BACKEND, REDIS_URL, Factory, csrf, sign_in
from tests.helpers.api import auth_headers
from tests.helpers.statistics import StatsWorld, at, stats_network

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("shabaka_replica_pair", ROOT / "scripts" / "replica.py")
assert _spec is not None and _spec.loader is not None
pairs: Any = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pairs  # its dataclasses look their module up there
_spec.loader.exec_module(pairs)

DATABASE = "shabaka_replica_test"

pytestmark = [
    pytest.mark.skipif(BACKEND != "postgres", reason="a read replica is a PostgreSQL feature (the PG pass runs this)"),
    pytest.mark.skipif(
        pairs.find_bin_dir() is None,
        reason="the PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) are not installed",
    ),
]


@dataclass
class Deployment:
    """The app on the pair's primary, with REPLICA_DATABASE_URL naming the pair's replica."""

    pair: Any
    app: Flask
    factory: Factory
    case_numbers: list[int] = field(default_factory=lambda: [0])  # case codes stay unique across tests

    def primary(self, sql: str) -> Any:
        with psycopg.connect(self.pair.url("primary", DATABASE), autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    def replica(self, sql: str) -> Any:
        with psycopg.connect(self.pair.url("replica", DATABASE), autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    def caught_up(self, seconds: float = 10) -> None:
        """Wait until the replica has replayed everything the primary has flushed."""
        [(flushed,)] = self.primary("SELECT pg_current_wal_flush_lsn()::text")
        deadline = time.monotonic() + seconds
        while not self.replica(f"SELECT pg_last_wal_replay_lsn() >= '{flushed}'::pg_lsn")[0][0]:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)

    def pause_replay(self) -> None:
        self.caught_up()
        self.replica("SELECT pg_wal_replay_pause()")
        while self.replica("SELECT pg_get_wal_replay_pause_state()")[0][0] != "paused":
            time.sleep(0.02)

    def resume_replay(self) -> None:
        self.replica("SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from flask_migrate import upgrade

    pair = pairs.start()
    try:
        with psycopg.connect(pair.url("primary"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        instance = tmp_path_factory.mktemp("replica-instance")
        settings = Settings.for_tests(
            pair.url("primary", DATABASE),
            instance,
            replica_database_url=pair.url("replica", DATABASE).replace("postgresql://", "postgresql+psycopg://"),
            redis_url=REDIS_URL,  # production keeps the write positions in Redis; without it, in memory
        )
        app = create_app(settings)
        with app.app_context():
            upgrade()
        found = Deployment(pair, app, Factory(app))
        found.caught_up()
        yield found
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["shabaka_replica"].engine.dispose()
    finally:
        pairs.stop(pair)


@pytest.fixture
def make_replica_app(deployment: Deployment, tmp_path: Path) -> Iterator[Any]:
    """Another app on the pair's primary, with REPLICA_DATABASE_URL set to `url`."""
    made: list[Flask] = []

    def build(url: str) -> Flask:
        settings = Settings.for_tests(
            deployment.pair.url("primary", DATABASE),
            tmp_path,
            replica_database_url=url.replace("postgresql://", "postgresql+psycopg://"),
        )
        made.append(create_app(settings))
        return made[-1]

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["shabaka_replica"].engine.dispose()


@pytest.fixture
def deployed(deployment: Deployment) -> Iterator[Deployment]:
    yield deployment
    deployment.resume_replay()
    deployment.app.extensions["shabaka_replica"].down_until = 0.0


def _network(deployed: Deployment) -> StatsWorld:
    return stats_network(deployed.app, deployed.factory, ("legal_aid", "health"), counter=deployed.case_numbers)


def _new_cases(client: FlaskClient, headers: dict[str, str], period: str) -> int | str:
    """The total of new cases in the period, as the API shows it (a count, or the suppression label)."""
    answer = client.get(f"/api/v1/stats/summary?{period}", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    table = next(t for t in answer.get_json()["tables"] if t["id"] == "cases_new_by_month" and t["period"] == "current")
    return next(c["count"] for c in table["cells"] if c["key"] == {})  # type: ignore[no-any-return]


def _events(client: FlaskClient, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/audit/events?action={action}", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return list(answer.get_json()["items"])


def test_statistics_are_counted_on_the_replica_and_their_audit_event_lands_on_the_primary(deployed: Deployment) -> None:
    w = _network(deployed)
    for day in range(1, 7):
        w.case(w.members[0], at(3, day))
    coordinator = auth_headers(deployed.app, w.coordinator)
    supervisor = auth_headers(deployed.app, w.members[0].supervisor)
    deployed.pause_replay()
    for day in range(1, 7):  # six more cases, written on the primary after the replica stopped replaying
        w.case(w.members[0], at(4, day))
    client = deployed.app.test_client()

    # the statistics (a reporting read) are counted on the replica: the newer cases are not there yet
    assert _new_cases(client, coordinator, "from=2026-01&to=2026-06") == 6
    # a read that is not reporting goes to the primary and sees all twelve
    listed = client.get("/api/v1/cases?limit=50", headers=supervisor)
    assert listed.status_code == 200 and len(listed.get_json()["items"]) == 12

    # the same request's audit event and its stored snapshot were written on the primary
    who = f"actor_id = '{w.coordinator.id}' AND action = 'statistics.view'"
    assert deployed.primary(f"SELECT count(*) FROM audit_event WHERE {who}") == [(1,)]
    assert deployed.replica(f"SELECT count(*) FROM audit_event WHERE {who}") == [(0,)]
    assert deployed.primary("SELECT count(*) FROM statistics_snapshot")[0][0] >= 1
    # and the replica refuses writes outright
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        deployed.replica("DELETE FROM audit_event")

    deployed.resume_replay()
    deployed.caught_up()
    # once replayed, the replica holds the primary's audit event
    assert deployed.replica(f"SELECT count(*) FROM audit_event WHERE {who}") == [(1,)]


def test_the_session_of_a_reporting_read_is_the_replica_s(deployed: Deployment) -> None:
    from sqlalchemy import text

    from referral.replica import reporting_session

    with deployed.app.test_request_context("/statistics"):
        read = reporting_session()
        assert read is not db.session
        assert read.scalar(text("SELECT pg_is_in_recovery()")) is True
        assert db.session.scalar(text("SELECT pg_is_in_recovery()")) is False


def test_a_reporting_query_that_fails_on_the_replica_is_run_again_on_the_primary(deployed: Deployment) -> None:
    from sqlalchemy import text

    from referral.replica import reporting, reporting_session

    with deployed.app.test_request_context("/audit"):
        read = reporting_session()
        pid = read.scalar(text("SELECT pg_backend_pid()"))
        deployed.replica(f"SELECT pg_terminate_backend({pid})")  # the replica drops the connection mid-request
        assert reporting(lambda session: session.scalar(text("SELECT pg_is_in_recovery()"))) is False
        assert reporting_session() is db.session  # the rest of the request reads the primary too
    assert deployed.app.extensions["shabaka_replica"].down_until > 0  # and the next requests, for a while


def test_a_replica_url_that_names_a_primary_is_not_used(
    deployed: Deployment, make_replica_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from referral.replica import reporting_session

    app = make_replica_app(deployed.pair.url("primary", DATABASE))
    with caplog.at_level(logging.WARNING, logger="referral.replica"), app.test_request_context("/statistics"):
        assert reporting_session() is db.session
    assert any("not in recovery" in r.getMessage() for r in caplog.records)


def test_write_positions_name_the_point_a_replica_must_reach() -> None:
    from referral.replica import commit_position, parse_lsn

    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert commit_position(parse_lsn("0/2002F30")) == 0x2002F30  # inside a page: the position itself
    # just past a page's header: the boundary, where the replica's replay ends
    assert commit_position(parse_lsn("0/2004018")) == 0x2004000
    assert commit_position(parse_lsn("0/3000028")) == 0x3000000  # a segment's first page has the long header


def test_a_user_reads_her_own_write_while_the_replica_lags(deployed: Deployment) -> None:
    w = _network(deployed)
    writer = auth_headers(deployed.app, w.auditor)
    other = auth_headers(deployed.app, deployed.factory.user("auditor"))
    deployed.pause_replay()
    client = deployed.app.test_client()

    verified = client.get("/api/v1/audit/verify", headers=writer)  # her write: the verification's own event
    assert verified.status_code == 200, verified.get_json()
    # she sees it at once, though the replica has not replayed it: her read was served by the primary
    mine = _events(client, writer, "audit.verify")
    assert [e["actor_id"] for e in mine] == [w.auditor.id]
    # another auditor who wrote nothing since is served by the replica, a moment behind
    assert _events(client, other, "audit.verify") == []

    deployed.resume_replay()
    deployed.caught_up()
    assert len(_events(client, other, "audit.verify")) == 1


def test_the_audit_export_streams_from_the_replica_and_her_next_page_reads_the_primary(deployed: Deployment) -> None:
    from referral.accounts.models import User
    from referral.audit.services import record

    w = _network(deployed)
    witness = deployed.factory.user("caseworker", username="replica_witness")
    client = deployed.app.test_client()
    sign_in(client, deployed.app, w.auditor)
    code = "TST-REPLICA-000001"
    token = csrf(client, f"/audit?case_code={code}")
    deployed.pause_replay()
    with deployed.app.app_context():  # another user's event, on the primary only
        record("case.view", db.session.get(User, witness.id), case_code=code)
        db.session.commit()

    exported = client.post("/audit/export", data={"csrf_token": token, "case_code": code})
    assert exported.status_code == 200
    assert exported.headers["X-Audit-Rows"] == "0"  # counted on the replica
    assert list(csv.DictReader(io.StringIO(exported.get_data(as_text=True)))) == []  # and streamed from it
    # the export was recorded (her write): her next page waits for the replica, or reads the primary
    page = client.get(f"/audit?case_code={code}")
    assert page.status_code == 200 and "replica_witness" in page.get_data(as_text=True)


def test_a_replica_that_is_down_leaves_reporting_reads_to_the_primary(
    deployed: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    w = _network(deployed)
    for day in range(1, 6):
        w.case(w.members[0], at(5, day))
    coordinator = auth_headers(deployed.app, w.coordinator)
    client = deployed.app.test_client()
    pairs.stop_replica(deployed.pair)
    try:
        with caplog.at_level(logging.WARNING, logger="referral.replica"):
            assert _new_cases(client, coordinator, "from=2026-05&to=2026-05") == 5
        assert any(
            "read replica not used" in r.getMessage() and "unreachable" in r.getMessage() for r in caplog.records
        )
        assert not any(w.coordinator.id in r.getMessage() or DATABASE in r.getMessage() for r in caplog.records)
    finally:
        pairs.start_replica(deployed.pair)
    deployed.app.extensions["shabaka_replica"].down_until = 0.0
    # back up: served by the replica again (replay paused: a case written now is not counted there)
    deployed.caught_up()
    deployed.pause_replay()
    w.case(w.members[0], at(6, 1))
    other = auth_headers(deployed.app, w.national)
    assert _new_cases(client, other, "from=2026-06&to=2026-06&network=" + w.governorate) == 0  # the primary: "<5"
