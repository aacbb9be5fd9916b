"""The hash chain's parts one by one: the canonical bytes and the database's fast encodings of
them, the sealer's batches, lock and checkpoints, and the verifier's two paths (a page at a time
and row by row), which must agree on every chain, valid or broken, and report where it breaks."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from referral.accounts.models import User
from referral.audit import chain, checkpoints, pg_pages, sqlite_pages
from referral.audit.models import AuditCheckpoint, AuditEvent
from referral.audit.services import record
from referral.extensions import db
from referral.models_base import new_id
from tests.conftest import BACKEND, Factory, audit_guards_lifted

T = AuditEvent.__table__
SQLITE_ONLY = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's own path (short batches, the page reader)")
WHEN = datetime(2026, 11, 29, 10, 0, 0, 5, tzinfo=UTC)


# ------------------------------------------------------------------------------ canonical bytes
def test_a_time_is_written_in_utc_to_the_microsecond() -> None:
    assert chain.timestamp(WHEN) == "2026-11-29T10:00:00.000005Z"
    assert chain.timestamp(datetime(2026, 11, 29, 12, 30, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-11-29T10:30:00.000000Z"
    )
    assert chain.timestamp(datetime(2026, 11, 29, 10, tzinfo=timezone(timedelta(0), "GMT"))) == (
        "2026-11-29T10:00:00.000000Z"
    )
    with pytest.raises(ValueError, match=r"^naive datetime in the audit trail$"):
        chain.timestamp(datetime(2026, 11, 29, 10))


def test_the_servers_time_zone_changes_no_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert chain.timestamp(datetime(2026, 11, 29, 12, 30, tzinfo=timezone(timedelta(hours=2)))) == (
            "2026-11-29T10:30:00.000000Z"
        )
    finally:
        monkeypatch.undo()
        time.tzset()


def _event(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_id": "0B6E1D2C-1111-4222-8333-444455556666",
        "occurred_at": WHEN,
        "action": "case.view",
        "outcome": "success",
        "actor_id": "AAAAAAAA-1111-4222-8333-444455556666",
        "actor_role": "caseworker",
        "actor_organization_id": "BBBBBBBB-1111-4222-8333-444455556666",
        "organization_id": "CCCCCCCC-1111-4222-8333-444455556666",
        "object_type": "case_file",
        "object_id": "DDDDDDDD",
        "case_code": "NBL-2026-000042",
        "route": "",
        "request_id": "",
        "reason": "",
        "details": {"z": 1, "a": "ح"},
        "chain_position": 42,
    }
    values.update(changes)
    return values


def test_the_canonical_bytes_lowercase_ids_and_null_empty_text() -> None:
    assert (
        chain.canonical(_event())
        == (
            '{"action":"case.view","actor_id":"aaaaaaaa-1111-4222-8333-444455556666",'
            '"actor_organization_id":"bbbbbbbb-1111-4222-8333-444455556666","actor_role":"caseworker",'
            '"case_code":"NBL-2026-000042","chain_position":42,"details":{"a":"ح","z":1},'
            '"event_id":"0b6e1d2c-1111-4222-8333-444455556666","object_id":"DDDDDDDD","object_type":"case_file",'
            '"occurred_at":"2026-11-29T10:00:00.000005Z","organization_id":"cccccccc-1111-4222-8333-444455556666",'
            '"outcome":"success","reason":null,"request_id":null,"route":null}'
        ).encode()
    )
    already = chain.canonical(_event(occurred_at="2026-11-29T10:00:00.000005Z"))  # text as exported
    assert already == chain.canonical(_event())
    assert b'"details":""' in chain.canonical(_event(details=""))  # only text fields become null
    with pytest.raises(ValueError):
        chain.canonical(_event(details={"share": float("nan")}))


def test_a_link_is_sha256_of_the_previous_hash_and_the_bytes() -> None:
    assert chain.link(b"\x01" * 32, b"event") == hashlib.sha256(b"\x01" * 32 + b"event").digest()
    assert bytes(32) == chain.GENESIS


@pytest.mark.parametrize(
    "stored",
    [
        "{}",
        '{"b":1,"a":"x"}',
        '{"a":"ح","b":"line\\nbreak \\"quoted\\"","c":-5,"d":0}',
        '{"flag":true,"nothing":null,"share":0.5}',  # not only text and integers: the encoder's way
        '{"nested":{"z":1,"a":2}}',
        ' {"padded":1} ',
        "[1, 2]",
        '"text"',
        "null",
    ],
)
def test_stored_details_are_written_as_the_encoder_writes_them(stored: str) -> None:
    expected = json.dumps(json.loads(stored), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert chain._details(stored) == expected
    assert chain._details(stored.encode()) == expected


def test_missing_details_are_null_and_broken_details_are_an_error() -> None:
    assert chain._details(None) == "null"
    for broken in ("", " ", "  ", '{"a":1} trailing', "{", b"{"):
        with pytest.raises(ValueError):
            chain._details(broken)


def _content(event: dict[str, Any], uuid: Any = str) -> list[Any]:
    """What `_normalised_columns` gives for the event: canonical text, empty text as NULL."""
    values = []
    for name in chain._CONTENT:
        value = event[name]
        if name == "occurred_at":
            value = chain.timestamp(value)
        elif name == "details":
            value = json.dumps(value, ensure_ascii=False)
        elif name in chain._UUIDS and value is not None:
            value = uuid(value)
        values.append(value or None)
    return values


def test_the_database_encodings_give_the_canonical_bytes() -> None:
    for event in (_event(), _event(actor_id=None, details={}, object_id="", case_code=None)):
        expected = chain.canonical(event)
        assert chain._encode_row(42, _content(event, str.lower)) == expected
        # SQLite stores a UUID as 32 hex digits
        assert chain._encode_sqlite_row(42, _content(event, lambda u: u.replace("-", ""))) == expected
        assert chain._encode_sqlite_row(42, _content(event, lambda u: u.replace("-", "").upper())) == expected


def test_the_encoder_and_the_lock_follow_the_database() -> None:
    class FakeSession:
        def __init__(self, dialect: str, lock_free: bool = True) -> None:
            self.dialect, self.lock_free, self.statements = dialect, lock_free, []  # type: ignore[var-annotated]
            self.rolled_back = False

        def get_bind(self) -> Any:
            return SimpleNamespace(dialect=SimpleNamespace(name=self.dialect))

        def execute(self, statement: Any) -> None:
            self.statements.append(str(statement.compile(compile_kwargs={"literal_binds": True})))

        def scalar(self, statement: Any) -> bool:
            self.execute(statement)
            return self.lock_free

        def rollback(self) -> None:
            self.rolled_back = True

    key = chain._ADVISORY_LOCK
    assert key == int.from_bytes(b"SHBKAUDT", "big")
    assert chain._encoder(FakeSession("postgresql")) is chain._encode_row  # type: ignore[arg-type]
    assert chain._encoder(FakeSession("sqlite")) is chain._encode_sqlite_row  # type: ignore[arg-type]
    waiting = FakeSession("postgresql")
    assert chain._lock(waiting, wait=True) is True  # type: ignore[arg-type]
    assert waiting.statements == [f"SELECT pg_advisory_xact_lock({key}) AS pg_advisory_xact_lock_1"]
    for free in (True, False):
        trying = FakeSession("postgresql", lock_free=free)
        assert chain._lock(trying, wait=False) is free  # type: ignore[arg-type]
        assert trying.statements == [f"SELECT pg_try_advisory_xact_lock({key}) AS pg_try_advisory_xact_lock_1"]
    sqlite = FakeSession("sqlite")
    assert chain._lock(sqlite, wait=False) is True  # type: ignore[arg-type]
    assert sqlite.statements == ["UPDATE audit_event SET chain_position = NULL WHERE 0 = 1"]

    class Stop(Exception):
        pass

    class Locked(FakeSession):
        def execute(self, statement: Any) -> None:
            super().execute(statement)
            if "advisory" not in self.statements[-1]:
                raise Stop  # the lock is all this test looks at

    first = Locked("postgresql", lock_free=False)
    with pytest.raises(Stop):
        chain.seal(first, lambda: None)  # type: ignore[arg-type]
    assert first.statements[0] == f"SELECT pg_advisory_xact_lock({key}) AS pg_advisory_xact_lock_1"  # waits
    busy = FakeSession("postgresql", lock_free=False)
    commits: list[int] = []
    result = chain.seal(busy, lambda: commits.append(1), wait=False)  # type: ignore[arg-type]
    assert result == chain.SealResult(busy=True) and busy.rolled_back and commits == []


def test_each_database_formats_the_hashed_fields_itself() -> None:
    def sql(dialect: str) -> dict[str, str]:
        return {column.name: str(column.element) for column in chain._normalised_columns(dialect)}

    postgres, sqlite = sql("postgresql"), sql("sqlite")
    assert list(postgres) == list(sqlite) == list(chain._CONTENT)
    for name in chain._UUIDS:
        assert (postgres[name], sqlite[name]) == (f"CAST({name} AS TEXT)", name)
    assert postgres["details"] == "CAST(details AS TEXT)" and sqlite["details"] == "details"
    assert postgres["occurred_at"] == """to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    assert sqlite["occurred_at"] == "replace(occurred_at, ' ', 'T') || 'Z'"
    for name in chain._TEXT:
        if name not in chain._UUIDS:
            assert postgres[name] == sqlite[name] == f"NULLIF({name}, '')"
    for dialect, columns in (("sqlite", sqlite), ("postgresql", postgres)):
        assert chain._rows_sql(dialect, 3, 9) == (
            "SELECT chain_position, prev_hash, event_hash, " + ", ".join(columns.values()) + " FROM audit_event "
            "WHERE chain_position BETWEEN 3 AND 9 ORDER BY chain_position"
        )


def test_results_read_as_json() -> None:
    signed = datetime(2026, 11, 29, 10, tzinfo=UTC)
    mark = chain.CheckpointInfo(position=6, head_hash="ab" * 32, signed_at=signed, key_id="k1")
    assert mark.as_dict() == {
        "position": 6,
        "head_hash": "ab" * 32,
        "signed_at": "2026-11-29T10:00:00.000000Z",
        "key_id": "k1",
    }
    broken = chain.VerifyResult(
        ok=False, checked=4, first_bad_position=4, problem="hash", head_position=10, head_hash=b"\x01" * 32, unsealed=2
    )
    assert broken.as_dict() == {
        "ok": False,
        "checked": 4,
        "first_bad_position": 4,
        "problem": "hash",
        "head_position": 10,
        "head_hash": "01" * 32,
        "unsealed": 2,
        "keys_pinned": False,
        "checkpoint": None,
    }
    empty = chain.VerifyResult(ok=True, checked=0, checkpoint=mark, keys_pinned=True)
    assert empty.as_dict()["head_hash"] is None and empty.as_dict()["checkpoint"] == mark.as_dict()
    assert empty.as_dict()["keys_pinned"] is True and empty.checkpoints_checked == 0


def test_the_first_bad_position_is_the_one_reported() -> None:
    walk = chain._Walk({}, chain._encode_row, iter([]), None)  # type: ignore[arg-type]
    walk.fail(5, "hash")
    walk.fail(7, "gap")
    assert (walk.bad, walk.problem) == (5, "hash")
    walk.fail(3, "link")
    walk.fail(3, "gap")
    assert (walk.bad, walk.problem) == (3, "link")  # the first problem found there
    walk.finish(10)
    assert (walk.bad, walk.problem) == (3, "link")  # a chain already broken is not looked at again


def test_a_walk_that_ends_early_or_leaves_a_checkpoint_behind_fails() -> None:
    short = chain._Walk({}, chain._encode_row, iter([]), None)  # type: ignore[arg-type]
    short.finish(0)
    assert short.bad is None  # an empty chain is whole
    short.finish(2)
    assert (short.bad, short.problem) == (1, "gap")
    last = chain._Walk({}, chain._encode_row, iter([]), None)  # type: ignore[arg-type]
    last.expected = 3
    last.finish(3)  # the head itself is missing
    assert (last.bad, last.problem) == (3, "gap")
    left = chain._Walk({}, chain._encode_row, iter([SimpleNamespace(chain_position=4)]), None)  # type: ignore[arg-type]
    left.expected = 5
    left.finish(4)
    assert (left.bad, left.problem) == (4, "checkpoint_hash")


# ------------------------------------------------------------------------------ sealing, on the database
def _events(n: int) -> None:
    for i in range(n):
        record("case.view", None, case_code=f"NBL-2026-{i:06d}", organization_id=new_id(), n=i, text="نص")
    db.session.commit()


def _recomputed() -> list[tuple[int, bytes, bytes]]:
    """Each sealed event's position, link and hash, recomputed from its columns with `canonical`."""
    out, prev = [], chain.GENESIS
    for row in db.session.execute(select(T).where(T.c.chain_position.is_not(None)).order_by(T.c.chain_position)):
        values = row._asdict()
        assert values["prev_hash"] == prev
        prev = chain.link(prev, chain.canonical(values))
        assert values["event_hash"] == prev
        out.append((values["chain_position"], values["prev_hash"], values["event_hash"]))
    return out


def test_an_empty_chain_seals_to_nothing(ctx: Flask) -> None:
    assert chain._head(db.session) == (0, chain.GENESIS)
    commits: list[int] = []
    result = chain.seal(db.session, lambda: commits.append(1), signer=checkpoints.signer())
    assert result == chain.SealResult() and len(commits) == 1
    assert db.session.scalars(select(AuditCheckpoint)).all() == []


def test_the_sealer_chains_in_batches_and_signs_the_head_once(ctx: Flask, caplog: pytest.LogCaptureFixture) -> None:
    _events(7)
    assert chain.unsealed_count(db.session) == 7
    commits: list[int] = []

    def commit() -> None:
        commits.append(chain.unsealed_count(db.session))
        db.session.commit()

    signed_at = datetime(2026, 11, 30, 8, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="referral.audit.chain"):
        result = chain.seal(
            db.session, commit, signer=checkpoints.signer(), checkpoint_every=None, batch=3, now=lambda: signed_at
        )
    assert commits == [4, 1, 0]  # unsealed left at each batch's commit
    links = _recomputed()
    assert [position for position, _, _ in links] == list(range(1, 8))
    assert (result.sealed, result.head_position, result.head_hash) == (7, 7, links[-1][2])
    assert (result.checkpoint_position, result.busy) == (7, False)
    [mark] = db.session.scalars(select(AuditCheckpoint)).all()
    assert (mark.chain_position, mark.head_hash, mark.signed_at) == (7, links[-1][2], signed_at)
    assert chain._head(db.session) == (7, links[-1][2])
    assert "audit: sealed 7 events, head at 7" in caplog.messages

    caplog.clear()
    again = chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)
    assert again == chain.SealResult(sealed=0, head_position=7, head_hash=links[-1][2])
    assert not [m for m in caplog.messages if m.startswith("audit: sealed")]


def test_checkpoints_wait_for_their_interval_and_need_a_signer(ctx: Flask) -> None:
    start = datetime(2026, 11, 30, 8, tzinfo=UTC)
    _events(2)
    assert chain.seal(db.session, db.session.commit, checkpoint_every=None).checkpoint_position is None
    _events(1)
    every = timedelta(minutes=1)
    first = chain.seal(
        db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=every, now=lambda: start
    )
    assert first.checkpoint_position == 3
    _events(1)
    soon = chain.seal(
        db.session,
        db.session.commit,
        signer=checkpoints.signer(),
        checkpoint_every=every,
        now=lambda: start + every / 2,
    )
    assert (soon.sealed, soon.checkpoint_position) == (1, None)
    later = chain.seal(
        db.session,
        db.session.commit,
        signer=checkpoints.signer(),
        checkpoint_every=every,
        now=lambda: start + 2 * every,
    )
    assert (later.sealed, later.checkpoint_position) == (0, 4)


@SQLITE_ONLY
def test_sqlite_seals_in_short_batches(ctx: Flask) -> None:
    _events(chain.SQLITE_SEAL_BATCH + 1)
    commits: list[int] = []

    def commit() -> None:
        commits.append(chain.unsealed_count(db.session))
        db.session.commit()

    result = chain.seal(db.session, commit, batch=10_000)
    assert commits == [1, 0] and result.sealed == chain.SQLITE_SEAL_BATCH + 1


# ------------------------------------------------------------------------------ verifying, on the database
@pytest.fixture
def sealed(ctx: Flask) -> Iterator[Flask]:
    """Eleven events sealed, checkpoints at 5, 7 and 11: with pages of four, one starts a page,
    two share one and one ends the chain."""
    for n in (5, 2, 4):
        _events(n)
        chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)
    yield ctx


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain, "VERIFY_PAGE", 4)


@pytest.fixture(params=["pages", "rows"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, small_pages: None) -> list[tuple[int, int]]:
    """Verify a page at a time (SQLite formats each page), or row by row only; notes the rows read."""
    exact: list[tuple[int, int]] = []
    read_rows = chain._read_rows

    def spy(engine: Any, first: int, last: int) -> Any:
        exact.append((first, last))
        return read_rows(engine, first, last)

    monkeypatch.setattr(chain, "_read_rows", spy)
    if request.param == "rows":

        def no_pages(*args: Any) -> Iterator[Any]:
            raise AssertionError("the row path reads no page")

        monkeypatch.setattr(sqlite_pages, "usable", lambda connection: False)
        monkeypatch.setattr(sqlite_pages, "read", no_pages)
        monkeypatch.setattr(pg_pages, "ENABLED", False)
        monkeypatch.setattr(pg_pages, "read", no_pages)
    return exact


def _tamper(statement: Any) -> None:
    with audit_guards_lifted(db.session):
        db.session.execute(statement)
    db.session.commit()


def test_a_whole_chain_verifies_with_its_checkpoints(
    sealed: Flask, path: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_pages, "_quotes_like_python", None)  # SQLite is asked afresh, as in a new process
    _events(2)  # not sealed yet
    head = chain._head(db.session)
    marks = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.chain_position)).all()
    result = chain.verify(db.session, trusted_keys={})
    assert result == chain.VerifyResult(
        ok=True,
        checked=11,
        head_position=11,
        head_hash=head[1],
        checkpoints_checked=3,
        signatures_checked=1,  # the three are linked: the last one's signature vouches for all
        checkpoint=checkpoints.info(marks[-1]),
        keys_pinned=False,
        unsealed=2,
    )
    assert path == []  # vouched for a page at a time: no row read one by one
    assert chain.verify(db.session).keys_pinned is True  # the installation's own key
    assert not [t for t in threading.enumerate() if t.name == "audit-verify-reader"]


def test_a_chain_without_checkpoints_verifies_row_by_row(ctx: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    _events(3)
    chain.seal(db.session, db.session.commit)
    monkeypatch.setattr(sqlite_pages, "usable", lambda connection: False)
    result = chain.verify(db.session, trusted_keys={})
    assert (result.ok, result.checked, result.checkpoints_checked, result.checkpoint) == (True, 3, 0, None)


def test_a_session_bound_to_a_connection_verifies(sealed: Flask) -> None:
    with db.engine.connect() as connection:
        own = Session(bind=connection)
        try:
            assert chain.verify(own).ok
        finally:
            own.close()


def test_an_empty_chain_verifies(ctx: Flask) -> None:
    assert chain.verify(db.session) == chain.VerifyResult(ok=True, checked=0, keys_pinned=True)


@pytest.mark.parametrize(
    ("position", "change", "problem", "checked"),
    [
        (6, {"case_code": "NBL-2026-999999"}, "hash", 6),
        (1, {"reason": "edited"}, "hash", 1),
        (8, {"prev_hash": bytes(32)}, "link", 8),
        (4, {"event_hash": bytes(32)}, "hash", 4),
    ],
)
def test_an_altered_event_is_found_at_its_position_on_either_path(
    sealed: Flask, path: list[tuple[int, int]], position: int, change: dict[str, Any], problem: str, checked: int
) -> None:
    _tamper(update(T).where(T.c.chain_position == position).values(**change))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem, result.checked) == (False, position, problem, checked)
    assert not [t for t in threading.enumerate() if t.name == "audit-verify-reader"]


@pytest.mark.parametrize("position", [1, 4, 5, 9])
def test_a_deleted_event_is_a_gap_at_its_position_on_either_path(
    sealed: Flask, path: list[tuple[int, int]], position: int
) -> None:
    _tamper(delete(T).where(T.c.chain_position == position))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem) == (False, position, "gap")


def test_events_deleted_at_the_end_of_a_page_are_a_gap(sealed: Flask, path: list[tuple[int, int]]) -> None:
    _tamper(delete(T).where(T.c.chain_position.in_([7, 8])))
    result = chain.verify(db.session)
    assert (result.first_bad_position, result.problem, result.checked) == (7, "gap", 7)  # read up to 9


def test_events_removed_from_the_end_are_caught_by_the_last_checkpoint(
    sealed: Flask, path: list[tuple[int, int]]
) -> None:
    _tamper(delete(T).where(T.c.chain_position >= 10))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem, result.head_position) == (False, 10, "truncated", 9)
    _tamper(delete(AuditCheckpoint.__table__).where(AuditCheckpoint.chain_position == 11))
    assert chain.verify(db.session).ok  # nothing says the chain was longer: a shorter chain holds


def test_a_checkpoint_that_disagrees_is_found_on_either_path(sealed: Flask, path: list[tuple[int, int]]) -> None:
    _tamper(update(AuditCheckpoint.__table__).where(AuditCheckpoint.chain_position == 7).values(head_hash=bytes(32)))
    result = chain.verify(db.session)
    assert (result.ok, result.first_bad_position, result.problem, result.checkpoints_checked) == (
        False,
        7,
        "checkpoint_hash",
        1,
    )


def test_a_checkpoint_of_another_key_is_found_on_either_path(sealed: Flask, path: list[tuple[int, int]]) -> None:
    result = chain.verify(db.session, trusted_keys={"another": b"\x00" * 32})
    assert (result.ok, result.first_bad_position, result.problem, result.keys_pinned) == (
        False,
        5,
        "checkpoint_key",
        True,
    )


def test_a_checkpoint_on_a_page_vouched_for_is_still_checked(
    sealed: Flask, path: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint at 11 sits in the last page; its signature no longer holds."""
    _tamper(update(AuditCheckpoint.__table__).where(AuditCheckpoint.chain_position == 11).values(signature=bytes(64)))
    result = chain.verify(db.session)
    assert (result.first_bad_position, result.problem, result.checkpoints_checked) == (11, "checkpoint_signature", 2)


def test_a_slow_verifier_loses_no_page_the_reader_waits_for_it(
    sealed: Flask, path: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain, "VERIFY_PAGE", 1)
    walk = chain._Walk.walk
    pauses: list[int] = []

    readers: list[threading.Thread] = []

    def slow(self: Any, rows: Any) -> bool:
        if not pauses:
            pauses.append(1)
            readers.extend(t for t in threading.enumerate() if t.name == "audit-verify-reader")
            time.sleep(0.4)  # the reader fills the queue and waits on it meanwhile
        return walk(self, rows)

    monkeypatch.setattr(chain._Walk, "walk", slow)
    result = chain.verify(db.session)
    assert (result.ok, result.checked, result.checkpoints_checked) == (True, 11, 3)
    # the reader is named (so that a stuck one can be found) and does not keep a stopping process alive
    assert len(readers) == 1 and readers[0].daemon and not readers[0].is_alive()


def test_a_verifier_that_stops_early_is_not_held_by_its_reader(
    sealed: Flask, path: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain breaks at 1; by then the reader has filled the queue and waits to hand over more."""
    monkeypatch.setattr(chain, "VERIFY_PAGE", 1)
    _tamper(update(T).where(T.c.chain_position == 1).values(case_code="NBL-2026-999999"))
    walk = chain._Walk.walk

    def slow(self: Any, rows: Any) -> bool:
        time.sleep(0.4)
        return walk(self, rows)

    monkeypatch.setattr(chain._Walk, "walk", slow)
    found: list[chain.VerifyResult] = []

    def verify() -> None:
        with sealed.app_context():
            found.append(chain.verify(db.session))

    worker = threading.Thread(target=verify, daemon=True)
    worker.start()
    worker.join(10)
    assert [(r.first_bad_position, r.problem) for r in found] == [(1, "hash")]


@SQLITE_ONLY  # the page reader is SQLite's
def test_an_error_reading_the_chain_reaches_the_caller(
    sealed: Flask, small_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Iterator[Any]:
        yield from ()
        raise RuntimeError("disk gone")

    monkeypatch.setattr(sqlite_pages, "read", broken)
    with pytest.raises(RuntimeError, match=r"^disk gone$"):
        chain.verify(db.session)
    assert not [t for t in threading.enumerate() if t.name == "audit-verify-reader"]


def test_a_verification_is_recorded_in_the_session_given_with_who_asked(sealed: Flask, factory: Factory) -> None:
    auditor = db.session.get(User, factory.user("auditor").id)
    db.session.expunge(auditor)  # read by the other session while this one holds no transaction
    result = chain.verify(db.session)
    db.session.commit()
    own = Session(bind=db.engine)
    try:
        chain.record_verification(own, auditor, result)
        [(actor_id, outcome)] = own.execute(select(T.c.actor_id, T.c.outcome).where(T.c.action == "audit.verify")).all()
        assert (actor_id, outcome) == (auditor.id, "success")
        own.rollback()  # it goes with the session's transaction
    finally:
        own.close()
    assert (
        db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verify").order_by(AuditEvent.id)).all()
        == []
    )


def test_a_verification_is_recorded_with_what_it_found(sealed: Flask) -> None:
    chain.record_verification(db.session, None, chain.verify(db.session))
    _tamper(update(T).where(T.c.chain_position == 6).values(case_code="NBL-2026-999999"))
    chain.record_verification(db.session, None, chain.verify(db.session))
    db.session.commit()
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verify").order_by(AuditEvent.id))
    assert [(e.outcome, e.details) for e in rows] == [
        ("success", {"checked": 11, "first_bad_position": None, "problem": None}),
        ("failure", {"checked": 6, "first_bad_position": 6, "problem": "hash"}),
    ]
