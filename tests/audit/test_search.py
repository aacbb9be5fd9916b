"""The auditors' workspace service: search by user, organisation, case code, action, outcome and
time, paged by keyset; a case's access history for auditors and the case's own supervisors only;
the flags; the CSV export (every column as stored, formula-safe, itself audited)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral.access import breakglass
from referral.audit import search
from referral.audit.models import AuditEvent
from referral.audit.services import take_denials, write
from referral.cases import services as cases
from referral.cases.models import Case
from referral.errors import Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.models_base import new_id
from tests.conftest import within
from tests.helpers.cases import World, open_case, user

T0 = datetime(2025, 2, 4, 9, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Hebron (UTC+2 in winter)
AROUND_T0 = {"since": "2025-01-28", "until": "2025-02-11"}  # leaves out what the fixtures wrote today


def _add(app: Flask, **values: Any) -> int:
    """An event written as `record` would (seal columns empty), at a chosen time."""
    defaults: dict[str, Any] = {"occurred_at": T0, "action": "case.view", "outcome": "success", "details": {}}
    with within(app):
        event = AuditEvent(**{**defaults, **values})
        db.session.add(event)
        db.session.commit()
        return int(event.id)


@dataclass(frozen=True)
class Found:
    ids: list[int]
    next_cursor: str | None


def _ids(page: search.Page | Found) -> list[int]:
    return page.ids if isinstance(page, Found) else [int(e.id) for e in page.items]


def _search(app: Flask, account: Any, limit: int = 50, cursor: str | None = None, **filters: Any) -> Found:
    if "since" not in filters and "until" not in filters:
        filters.update(AROUND_T0)
    with within(app):
        page = search.search(db.session, user(account), search.parse_filters(filters), limit=limit, cursor=cursor)
        found = Found(_ids(page), page.next_cursor)
        db.session.commit()
        return found


def _audit_of(app: Flask, action: str) -> list[AuditEvent]:
    with within(app):
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def _code(app: Flask, case_id: str) -> str:
    with within(app):
        return str(db.session.get(Case, case_id).case_code)


# ------------------------------------------------------------------------------ search
def test_each_filter_narrows_the_search(app: Flask, world: World) -> None:
    a, b = world.mine.caseworker, world.other.caseworker
    by_a = {"actor_id": a.id, "actor_organization_id": a.organization_id}
    by_b = {"actor_id": b.id, "actor_organization_id": b.organization_id}
    on_a = {"organization_id": a.organization_id, "case_code": "AAA-2026-000001"}
    viewed = _add(app, **by_a, **on_a)
    elsewhere = _add(app, **by_b, **on_a, action="referral.view", occurred_at=T0 + timedelta(hours=1))
    denied = _add(
        app,
        **by_b,
        action="access.denied",
        outcome="denied",
        object_type="case_file",
        object_id=new_id(),
        occurred_at=T0 + timedelta(days=2),
    )
    login = _add(app, **by_a, action="auth.login", occurred_at=T0 - timedelta(days=3))

    auditor = world.auditor
    assert _ids(_search(app, auditor)) == [denied, elsewhere, viewed, login]
    assert _ids(_search(app, auditor, user_id=a.id)) == [viewed, login]
    # An organisation: events on its objects, and what its staff did.
    assert _ids(_search(app, auditor, organization_id=a.organization_id)) == [elsewhere, viewed, login]
    assert _ids(_search(app, auditor, organization_id=b.organization_id)) == [denied, elsewhere]
    assert _ids(_search(app, auditor, case_code="aaa-2026-000001")) == [elsewhere, viewed]
    assert _ids(_search(app, auditor, action="referral.view")) == [elsewhere]
    assert _ids(_search(app, auditor, action="case.*")) == [viewed]
    assert _ids(_search(app, auditor, outcome="denied")) == [denied]
    since, until = (T0 - timedelta(minutes=1)).isoformat(), (T0 + timedelta(hours=1)).isoformat()
    assert _ids(_search(app, auditor, since=since, until=until)) == [viewed]  # until is excluded
    assert _ids(_search(app, auditor, since="2025-02-04", until="2025-02-04")) == [elsewhere, viewed]  # local days


def test_bad_filters_are_named_and_never_reach_the_database(app: Flask) -> None:
    with pytest.raises(InvalidInput) as refused:
        search.parse_filters(
            {
                "user_id": "not-a-uuid",
                "organization_id": "1' OR '1'='1",
                "case_code": "NBL 2026",
                "action": "case.nonsense",
                "outcome": "maybe",
                "since": "yesterday",
                "flag": "high_rate",
            }
        )
    assert refused.value.fields == {
        "user_id": "invalid",
        "organization_id": "invalid",
        "case_code": "invalid",
        "action": "unknown",
        "outcome": "unknown",
        "since": "invalid",
        "flag": "unknown",
    }
    with pytest.raises(InvalidInput) as refused:
        search.parse_filters({"since": "2025-02-05", "until": "2025-02-04"})
    assert refused.value.fields == {"until": "before_since"}
    with pytest.raises(InvalidInput) as refused:
        search.parse_filters({"flag": "out_of_hours", "since": "2025-01-01", "until": "2025-02-04"})
    assert refused.value.fields == {"since": "window_too_long"}


def test_pages_follow_each_other_without_gap_or_overlap_also_at_equal_times(app: Flask, world: World) -> None:
    made = [_add(app, occurred_at=T0 + timedelta(seconds=i // 3)) for i in range(12)]  # three per second
    seen: list[int] = []
    cursor = None
    while True:
        page = _search(app, world.auditor, limit=5, cursor=cursor)
        seen += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(made, key=lambda i: (made.index(i) // 3, i), reverse=True)
    assert len(seen) == 12
    with within(app), pytest.raises(InvalidInput):
        search.search(db.session, user(world.auditor), search.Filters(), cursor="%%%")


def test_a_search_is_itself_recorded_with_the_filters(app: Flask, world: World) -> None:
    _search(app, world.auditor, case_code="AAA-2026-000001", outcome="denied", since="2025-02-04T09:00:00Z")
    (event,) = _audit_of(app, "audit.search")
    assert event.actor_id == world.auditor.id
    assert event.details == {
        "count": 0,
        "filter_case_code": "AAA-2026-000001",
        "filter_outcome": "denied",
        "filter_since": "2025-02-04T09:00:00.000000Z",
        "next_page": False,
    }


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "org_admin", "coordinator", "sysadmin"])
def test_only_auditors_search_the_trail(app: Flask, world: World, role: str) -> None:
    account = {"caseworker": world.mine.caseworker, "supervisor": world.mine.supervisor}.get(role)
    account = account or {"org_admin": world.mine.org_admin}.get(role) or getattr(world, role)
    with within(app):
        actor = user(account)
        for call in (
            lambda: search.search(db.session, actor, search.Filters()),
            lambda: search.user_history(db.session, actor, account.id),
            lambda: search.flags(db.session, actor),
            lambda: search.export(db.session, actor, search.Filters()),
        ):
            with pytest.raises(Forbidden):
                call()
        denials = take_denials(db.session)
        assert [(d["action"], d["object_type"]) for d in denials] == [("access.denied", "audit_trail")] * 4


# ------------------------------------------------------------------------------ case history
def test_the_case_history_shows_who_opened_the_file_and_who_was_refused(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    code = _code(app, case_id)
    with within(app):
        cases.view_case(db.session, user(world.mine.supervisor), case_id)
        cases.reveal(db.session, user(world.mine.supervisor), case_id)
        db.session.commit()
        with pytest.raises(NotFound):
            cases.view_case(db.session, user(world.other.caseworker), case_id)
        db.session.rollback()
        write(db.session, take_denials(db.session))
        db.session.commit()
    _add(app, case_code="ZZZ-2026-000009", actor_id=world.mine.caseworker.id)  # another case

    with within(app):
        history = search.case_history(db.session, user(world.auditor), code.lower())
        db.session.commit()
        actions = [(e.action, e.actor_id) for e in history.page.items]
        assert actions == [
            ("case.reveal", world.mine.supervisor.id),
            ("case.view", world.mine.supervisor.id),
            ("case.create", world.mine.caseworker.id),
        ]
        assert [(e.actor_id, e.object_id) for e in history.denied] == [(world.other.caseworker.id, case_id)]
        assert history.organization_id is None
    (seen,) = _audit_of(app, "audit.case_history")
    assert (seen.actor_id, seen.case_code, seen.details) == (
        world.auditor.id,
        code,
        {"count": 3, "next_page": False},
    )


def test_supervisors_read_the_history_of_their_own_organisations_cases_only(app: Flask, world: World) -> None:
    ours = open_case(app, world)
    theirs = open_case(app, world, by=world.other.caseworker)
    with within(app):
        history = search.case_history(db.session, user(world.mine.supervisor), _code(app, ours))
        assert history.organization_id == world.mine.id
        assert [e.action for e in history.page.items] == ["case.create"]
        db.session.commit()
    for account, case_id in (
        (world.mine.supervisor, theirs),  # another organisation's case
        (world.mine.caseworker, ours),  # not a supervisor
        (world.mine.org_admin, ours),
        (world.coordinator, ours),
    ):
        with within(app):
            with pytest.raises(NotFound):
                search.case_history(db.session, user(account), _code(app, case_id))
            assert [d["object_type"] for d in take_denials(db.session)] == ["case_file"]
    with within(app), pytest.raises(NotFound):  # an unknown code says nothing more
        search.case_history(db.session, user(world.mine.supervisor), "NOPE-2026-000001")


def test_an_emergency_access_does_not_open_the_history(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with within(app):
        reason = "Police call tonight about her"
        breakglass.open_grant(db.session, user(world.other.supervisor), _code(app, case_id), reason)
        db.session.commit()
        with pytest.raises(NotFound):
            search.case_history(db.session, user(world.other.supervisor), _code(app, case_id))


# ------------------------------------------------------------------------------ flags
def test_flags_pick_out_what_calls_for_a_look(app: Flask, world: World) -> None:
    worker, other = world.mine.caseworker, world.other.caseworker
    base = {"actor_id": worker.id, "case_code": "AAA-2026-000001"}
    breakglass_open = _add(app, **base, action="breakglass.open")
    override = _add(app, **base, action="consent.override")
    denied = _add(app, actor_id=other.id, action="access.denied", outcome="denied", object_id="x")
    exported = _add(app, actor_id=world.auditor.id, action="audit.export")
    printed = _add(app, **base, action="referral.print", occurred_at=T0 + timedelta(minutes=5))
    # 21:00 in Hebron on a Tuesday, then noon on a Friday: outside working time.
    late = _add(app, **base, occurred_at=datetime(2025, 2, 4, 19, 0, tzinfo=UTC))
    friday = _add(app, **base, occurred_at=datetime(2025, 2, 7, 10, 0, tzinfo=UTC))
    _add(app, **base, occurred_at=datetime(2025, 2, 4, 16, 59, tzinfo=UTC))  # 18:59: still working time
    _add(app, case_code="AAA-2026-000001", occurred_at=T0.replace(hour=20))  # no actor: the system, not a person
    # 21 reveals by one user in one hour is above the rate; 20 identifier searches is not.
    for minute in range(21):
        _add(app, actor_id=worker.id, action="case.reveal", occurred_at=T0.replace(hour=10, minute=minute))
    for minute in range(20):
        _add(app, actor_id=other.id, action="case.search_identifier", occurred_at=T0.replace(hour=10, minute=minute))

    with within(app):
        report = search.flags(db.session, user(world.auditor), T0 - timedelta(days=1), T0 + timedelta(days=6))
        lists = {kind: [int(e.id) for e in f.events] for kind, f in report.lists.items()}
        assert lists["breakglass"] == [breakglass_open]
        assert lists["consent_override"] == [override]
        assert lists["denied"] == [denied]
        assert sorted(lists["export"]) == sorted([exported, printed])
        assert lists["out_of_hours"] == [friday, late]
        assert [(r.actor_id, r.action, r.hour, r.count) for r in report.rates] == [
            (worker.id, "case.reveal", T0.replace(hour=10), 21)
        ]
        db.session.commit()
        # The same lists, through the search (so that they can be paged and exported).
        window = {"since": (T0 - timedelta(days=1)).isoformat(), "until": (T0 + timedelta(days=6)).isoformat()}
        only = search.parse_filters({**window, "flag": "out_of_hours"})
        flagged = search.search(db.session, user(world.auditor), only)
        assert _ids(flagged) == [friday, late]


def test_working_time_is_seven_to_seven_on_the_networks_clock_and_not_at_the_weekend() -> None:
    thursday = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 02:00 on Thursday in Hebron
    spans = search.off_hours(thursday, thursday + timedelta(days=4))
    local = [(a.astimezone(search.WORK_ZONE), b.astimezone(search.WORK_ZONE)) for a, b in spans]
    assert [(f"{a:%a %H:%M}", f"{b:%a %H:%M}") for a, b in local] == [
        ("Thu 02:00", "Thu 07:00"),
        ("Thu 19:00", "Sun 07:00"),  # Friday and Saturday are the weekend
        ("Sun 19:00", "Mon 02:00"),
    ]


# ------------------------------------------------------------------------------ export
def _export(app: Flask, account: Any, **filters: Any) -> tuple[search.Export, list[dict[str, str]], str]:
    with within(app):
        job = search.export(db.session, user(account), search.parse_filters(filters))
        db.session.commit()
        text = "".join(search.csv_lines(db.session, job))
    return job, list(csv.DictReader(io.StringIO(text))), text


def test_the_export_holds_every_column_as_stored_and_is_recorded(app: Flask, world: World) -> None:
    first = _add(app, actor_id=world.mine.caseworker.id, case_code="AAA-2026-000001", details={"b": 2, "a": "x"})
    _add(
        app,
        actor_id=world.mine.caseworker.id,
        case_code="AAA-2026-000001",
        occurred_at=T0 + timedelta(hours=1),
        reason='=HYPERLINK("http://evil")',
        route="-cmd",
    )
    _add(app, case_code="BBB-2026-000002")
    with within(app):
        sealed = db.session.get(AuditEvent, first)
        sealed.chain_position, sealed.prev_hash, sealed.event_hash = 1, bytes(32), bytes(range(32))
        db.session.commit()

    job, rows, text = _export(app, world.auditor, case_code="AAA-2026-000001")
    assert text.splitlines()[0] == ",".join(search.COLUMNS)
    assert list(search.COLUMNS) == [c.name for c in AuditEvent.__table__.columns]
    assert {"chain_position", "prev_hash", "event_hash", "event_id", "details"} <= set(search.COLUMNS)
    assert job.rows == len(rows) == 2
    old, new = rows  # oldest first
    assert old["occurred_at"] == "2025-02-04T09:00:00.000000Z"
    assert old["details"] == json.dumps({"a": "x", "b": 2}, separators=(",", ":"))
    assert (old["chain_position"], old["prev_hash"], old["event_hash"]) == ("1", "00" * 32, bytes(range(32)).hex())
    assert (new["chain_position"], new["prev_hash"], new["reason"]) == ("", "", '\'=HYPERLINK("http://evil")')
    assert new["route"] == "'-cmd"
    with within(app):
        stored = db.session.get(AuditEvent, first)
        assert old["event_id"] == stored.event_id and old["actor_id"] == stored.actor_id

    (recorded,) = _audit_of(app, "audit.export")
    assert recorded.actor_id == world.auditor.id
    assert recorded.details == {"filter_case_code": "AAA-2026-000001", "rows": 2}


def test_the_formula_guard_is_reversible() -> None:
    for raw in ("=1+1", "+9705", "-x", "@SUM(A1)", "'quoted", "\tTab", "plain", "NBL-2026-000001"):
        cell = search.csv_cell(raw)
        restored = cell[1:] if cell.startswith("'") and cell[1:2] in search.FORMULA_START else cell
        assert restored == raw
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert search.csv_cell(None) == "" and search.csv_cell(b"\x00\xff") == "00ff"
