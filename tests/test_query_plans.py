"""The scoped lists read their rows through an index on PostgreSQL, whatever the table's size.

At a few thousand rows a sequential scan costs nothing, so a lost index shows in no timing; at
200,000 cases it turns a 50-row page into a read of the whole table. Here the tables are seeded
with a few thousand rows and analysed, the real list functions are run while every statement
they send is captured, and each read is explained with sequential scans switched off: the
planner then takes an index whenever one can serve, so a sequential scan left in the plan means
no index can. A list that pages newest first must also read its page in the index's order,
without sorting what the organisation has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text

from referral.audit import search
from referral.cases import services as cases
from referral.extensions import db
from referral.followups import services as followups
from referral.referrals import receiving
from referral.referrals import services as referrals
from tests.helpers.cases import World, user

pytestmark = pytest.mark.skipif(
    os.environ.get("SHABAKA_TEST_BACKEND", "sqlite") != "postgres", reason="query plans of PostgreSQL"
)

LARGE_TABLES = {"case_file", "referral", "referral_transition", "followup", "audit_event", "case_member"}
CASES = 3000


SEED = [
    """
    INSERT INTO case_file (id, case_code, organization_id, owner_id, status, opened_at, updated_at, version,
                               governorate, risk_level)
        SELECT gen_random_uuid(), 'QPX-2026-' || lpad(i::text, 6, '0'),
               CASE WHEN i % 4 = 0 THEN CAST(:other AS uuid) ELSE CAST(:mine AS uuid) END,
               CASE WHEN i % 4 = 0 THEN CAST(:receiver AS uuid) ELSE CAST(:worker AS uuid) END,
               (ARRAY['intake', 'assessment', 'implementation', 'closed'])[1 + i % 4],
               now() - i * interval '1 hour', now(), 1, :gov, 'medium'
        FROM generate_series(1, :n) AS i
    """,
    """
    INSERT INTO case_member (id, case_id, user_id, role, added_at)
        SELECT gen_random_uuid(), id, owner_id, 'owner', opened_at FROM case_file
    """,
    """
    INSERT INTO referral (id, case_id, case_code, from_organization_id, to_organization_id, priority, state,
                              field_groups, created_by, created_at, sent_at, due_at, updated_at, version,
                              assigned_to)
        SELECT gen_random_uuid(), c.id, c.case_code, c.organization_id,
               CASE WHEN c.organization_id = CAST(:mine AS uuid) THEN CAST(:other AS uuid)
                    ELSE CAST(:mine AS uuid) END,
               'normal', s.state, '["identity"]', c.owner_id, c.opened_at + interval '1 day',
               c.opened_at + interval '1 day', c.opened_at + interval '4 days', now(), 1,
               CASE WHEN s.state IN ('accepted', 'in_progress', 'completed') THEN
                    CASE WHEN c.organization_id = CAST(:mine AS uuid) THEN CAST(:receiver AS uuid)
                         ELSE CAST(:worker AS uuid) END END
        FROM case_file c
        CROSS JOIN LATERAL (SELECT (ARRAY['sent', 'accepted', 'in_progress', 'completed', 'declined',
                                          'draft'])[1 + (abs(hashtext(c.id::text)) % 6)] AS state) s
    """,
    """
    INSERT INTO followup (id, case_id, case_code, organization_id, kind, due_at, assignee_id, state,
                              created_by, created_at, updated_at, version)
        SELECT gen_random_uuid(), id, case_code, organization_id, 'call', opened_at + interval '30 days',
               owner_id, CASE WHEN random() < 0.2 THEN 'open' ELSE 'done' END, owner_id, opened_at, now(), 1
        FROM case_file
    """,
    """
    INSERT INTO audit_event (event_id, occurred_at, action, outcome, actor_id, actor_role,
                                 actor_organization_id, organization_id, object_type, object_id, case_code,
                                 details)
        SELECT gen_random_uuid(), c.opened_at + g * interval '1 minute',
               CASE WHEN g = 10 THEN 'access.denied' ELSE 'case.view' END, 'success', c.owner_id,
               'caseworker', c.organization_id, c.organization_id, 'case_file', c.id::text, c.case_code, '{}'
        FROM case_file c CROSS JOIN generate_series(1, 10) AS g
    """,
]


def _seed(world: World) -> str:
    """Cases of both organisations (the caseworker on the team of hers), referrals both ways in
    every state, open and done follow-ups, ten audit events per case. Returns a case code."""
    mine, other = world.mine, world.other
    params = {
        "mine": mine.id,
        "other": other.id,
        "worker": mine.caseworker.id,
        "receiver": other.caseworker.id,
        "n": CASES,
        "gov": world.governorate,
    }
    for statement in SEED:
        db.session.execute(text(statement), params)
    db.session.commit()
    for table in sorted(LARGE_TABLES):
        db.session.execute(text(f"ANALYZE {table}"))
    db.session.commit()
    return "QPX-2026-000002"  # one of the caseworker's own cases


@contextmanager
def _statements() -> Iterator[list[tuple[str, Any]]]:
    """The reads the code in the block sends, with their parameters, as the driver got them."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def _plans(run: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
    """Run `run` and explain every read it sent (that touches a large table), with sequential
    scans off; the run's own writes are rolled back."""
    with _statements() as seen:
        run()
    db.session.rollback()
    plans = []
    connection = db.session.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    for statement, parameters in seen:
        if not any(name in statement for name in LARGE_TABLES):
            continue
        raw = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar_one()
        plan = raw if isinstance(raw, list) else json.loads(raw)
        plans.append((" ".join(statement.split())[:200], plan[0]["Plan"]))
    db.session.rollback()
    assert plans, "the list sent no read of a large table"
    return plans


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _unbounded_reads(plan: dict[str, Any], tables_of: dict[str, str]) -> list[str]:
    """Scans of a large table not narrowed by an index: a sequential scan, or a whole index read
    through with the scope only as a filter."""
    found = []
    for node in _nodes(plan):
        kind, index = node["Node Type"], node.get("Index Name") or ""
        table = node.get("Relation Name") or tables_of.get(index, "")
        if kind == "Seq Scan" and table in LARGE_TABLES:
            found.append(f"Seq Scan on {table}")
        scans_an_index = kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
        if scans_an_index and table in LARGE_TABLES and "Index Cond" not in node:
            found.append(f"{kind} using {index} without an index condition")
    return found


def _sorts_of_a_large_table(plan: dict[str, Any], column: str) -> list[str]:
    """A full sort by `column` (the one the list pages on) above a scan of a large table: the
    whole scope read and sorted for one page. (An incremental sort of an index's order, or a sort
    of a small set first picked by its index, such as the referrals waiting for an answer, is fine.)"""
    found = []
    for node in _nodes(plan):
        if node["Node Type"] == "Sort" and column in (node.get("Sort Key") or [""])[0]:
            tables = {n.get("Relation Name") for n in _nodes(node)} & LARGE_TABLES
            if tables:
                found.append(f"Sort of {', '.join(sorted(tables))} by {node.get('Sort Key')}")
    return found


def _check(run: Callable[[], Any], *, paged_on: str | None = None) -> None:
    """No read of `run` scans a large table unbounded; with `paged_on`, none sorts by that column."""
    problems = []
    query = text("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema()")
    tables_of = {str(name): str(table) for name, table in db.session.execute(query)}
    for statement, plan in _plans(run):
        found = _unbounded_reads(plan, tables_of)
        if paged_on:
            found += _sorts_of_a_large_table(plan, paged_on)
        problems += [f"{problem}: {statement}" for problem in found]
    assert problems == []


@pytest.fixture
def code(app: Flask, world: World) -> Iterator[str]:
    with app.app_context():
        yield _seed(world)


def test_the_case_list_reads_the_newest_cases_from_an_index(app: Flask, world: World, code: str) -> None:
    with app.app_context():
        supervisor, caseworker = user(world.mine.supervisor), user(world.mine.caseworker)
        _check(lambda: cases.list_cases(db.session, supervisor), paged_on="opened_at")
        _check(lambda: cases.list_cases(db.session, caseworker))
        _check(lambda: cases.list_cases(db.session, supervisor, status="closed"))


def test_the_inbox_reads_the_waiting_then_the_newest_referrals_from_indexes(
    app: Flask, world: World, code: str
) -> None:
    with app.app_context():
        focal_point, caseworker = user(world.mine.supervisor), user(world.mine.caseworker)
        _check(lambda: referrals.listing(db.session, focal_point, "inbox", order="urgency"), paged_on="created_at")
        _check(lambda: referrals.listing(db.session, focal_point, "outbox"), paged_on="created_at")
        # a caseworker's inbox is what is assigned to her: read by index, sorted if small
        _check(lambda: referrals.listing(db.session, caseworker, "inbox", order="urgency"))
        _check(lambda: referrals.counts(db.session, focal_point))
        _check(lambda: referrals.counts(db.session, caseworker))


def test_the_follow_ups_due_are_read_from_an_index(app: Flask, world: World, code: str) -> None:
    with app.app_context():
        caseworker = user(world.mine.caseworker)
        _check(lambda: followups.my_day(db.session, caseworker))
        _check(lambda: followups.listing(db.session, caseworker, due="overdue"))
        _check(lambda: followups.due_counts(db.session, caseworker))


def test_the_audit_search_and_case_history_read_the_case_code_index(app: Flask, world: World, code: str) -> None:
    with app.app_context():
        auditor = user(world.auditor)
        _check(lambda: search.search(db.session, auditor, search.Filters(case_code=code)))
        _check(lambda: search.case_history(db.session, auditor, code))


def test_the_case_page_finds_its_referrals_by_index(app: Flask, world: World, code: str) -> None:
    with app.app_context():
        caseworker = user(world.mine.caseworker)
        case_id = str(db.session.scalar(text("SELECT id FROM case_file WHERE case_code = :code"), {"code": code}))

        def page() -> None:
            case = cases.view_case(db.session, caseworker, case_id)
            receiving.of_case(db.session, caseworker, case)
            receiving.origin_of(db.session, caseworker, case)

        _check(page)
