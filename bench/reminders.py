"""The reminder machinery at scale: an idle sweep over a large table, and the delivery of many
due rungs by one real Celery worker.

    .venv/bin/python bench/reminders.py [--followups 100000] [--rounds 9] [--repetitions 100]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_reminders \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/reminders.py

1. Idle sweep. Seeds follow-ups with the realistic shape of two years of work (80 % done, 8 %
   cancelled, 12 % open: most of those due over the next four months, some overdue with every
   rung already sent) and their ladder rows (before, due, escalate: sent or cancelled behind,
   pending ahead), so that nothing is due now. Then times `clocks.sweep(session, now)` (rolled
   back after each call, so nothing changes), reports the median and p95 per sweep against
   the goal of 5 ms, and on PostgreSQL prints and stores the EXPLAIN (ANALYZE, BUFFERS) plan
   of the sweep's query as the driver sent it, and the generic plan a prepared statement may
   switch to. Goal: 1,000,000 follow-ups on PostgreSQL, the claim served by the partial index
   `ix_reminder_step_pending_due`.
2. Delivery (only with BENCH_REDIS_URL, a Redis database of its own: it is flushed). Seeds
   10,000 open follow-ups of one organisation whose rungs fell due within the last minute (45 %
   "before" and 45 % "due" telling the assignee, 10 % "escalate" telling the two supervisors;
   60 % of the follow-ups carry an encrypted note, as the delivery loads the follow-up),
   starts ONE Celery worker (`--pool solo`), publishes ONE `workers.sweep_reminders` as the
   beat would, and times from that publish until every rung is `sent`. A sweep that claims a
   full batch publishes the next sweep itself, so one publish drains any backlog. Reports the
   total, steps/s, and each rung's latency (its `sent_at` minus the publish), as the median
   of --runs runs (goal: 10,000 rungs in under 10 s), and checks that every recipient was
   told exactly once.

Without BENCH_DATABASE_URL the idle sweep runs on a temporary SQLite database (100,000
follow-ups by default) and without BENCH_REDIS_URL the delivery part is skipped with a note.
On PostgreSQL the database is created if absent (never `test`: it belongs to the test suite);
the seeded rows are removed at the end unless --keep, and a kept seed of the same size is
reused by the next run. Writes bench/results/reminders-*.json.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import ROOT, table, write_results
from sqlalchemy import delete, event, func, insert, select, text
from sqlalchemy.engine import make_url

from config import Settings
from referral import create_app, dispatch
from referral.accounts.models import User
from referral.cases.models import Case
from referral.directory import services as directory
from referral.directory.models import Network, NetworkMembership, Organization
from referral.extensions import db
from referral.followups import clocks
from referral.followups.models import FollowUp, Notification, ReminderStep, SweepRun
from referral.models_base import new_id, utcnow
from referral.runtime import runtime
from referral.security.models import DataKey

SWEEP_GOAL_MS = 5.0
DELIVERY_GOAL_S = 10.0
SEED_NETWORK = "Reminder bench"  # name_en of the seeded network, followed by the seed's size
DELIVERY_ORG = "Reminder bench delivery"
ORGANISATIONS = 6
CASEWORKERS = 10
SUPERVISORS = 2
FOLLOWUPS_PER_CASE = 50
CHUNK = 10_000

FOLLOWUP_COLUMNS = [
    *("id", "case_id", "case_code", "organization_id", "kind", "due_at", "assignee_id", "state", "created_by"),
    *("created_at", "updated_at", "done_by", "done_at", "cancelled_by", "cancelled_at", "version"),
]
STEP_COLUMNS = [
    *("id", "clock", "target_id", "step", "case_code", "due_at", "state", "claimed_at", "attempts", "sent_at"),
    *("recipients", "created_at"),
]
KINDS = ("call", "call", "call", "visit", "service_check", "safety_plan_review", "document", "other")
NOTE = "اتصلي بها على الرقم الآمن بين التاسعة والثانية عشرة، واسألي عن موعد الجلسة القانونية القادمة"


# ---------------------------------------------------------------------------------- database
def database_url(workdir: Path) -> tuple[str, bool]:
    """The benchmark's database (created on PostgreSQL if absent) and whether it is shared."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return f"sqlite:///{workdir / 'bench.db'}", False
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.database in (None, "", "test", "postgres"):
            sys.exit(f"BENCH_DATABASE_URL names the database {parsed.database!r}: use one of the benchmark's own")
        import psycopg

        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{parsed.database}"')
                print(f"created the database {parsed.database}")
    return url, True


def is_postgres() -> bool:
    return bool(db.engine.dialect.name == "postgresql")


@dataclass
class Org:
    id: str
    caseworkers: list[str]
    supervisors: list[str]
    cases: list[tuple[str, str]] = field(default_factory=list)  # (id, case code)


def make_org(network: Network, name: str, code: str, password_hash: str) -> Org:
    org = directory.create_organization(
        db.session,
        None,
        directory.OrganizationInput(
            name_ar=f"مؤسسة {name}",
            name_en=name,
            kind="civil",
            sectors=["legal_aid"],
            governorates=[network.governorate],
        ),
    )
    directory.add_member(db.session, None, network, org)
    users = {"caseworker": [], "supervisor": []}  # type: dict[str, list[str]]
    for role, count in (("caseworker", CASEWORKERS), ("supervisor", SUPERVISORS)):
        for i in range(count):
            user = User(
                id=new_id(),
                organization_id=org.id,
                role=role,
                username=f"rb_{code}_{role[:3]}{i}",
                password_hash=password_hash,
                must_change_password=True,
            )
            db.session.add(user)
            users[role].append(user.id)
    db.session.flush()
    return Org(org.id, users["caseworker"], users["supervisor"])


def add_cases(org: Org, count: int, code: str, rng: random.Random, now: datetime) -> None:
    rows = []
    for i in range(count):
        case_id = new_id()
        case_code = f"{code}-{i:07d}"
        org.cases.append((case_id, case_code))
        rows.append(
            {
                "id": case_id,
                "case_code": case_code,
                "organization_id": org.id,
                "owner_id": rng.choice(org.caseworkers),
                "status": rng.choice(("follow_up", "implementation", "closed", "closed")),
                "opened_at": now - timedelta(days=rng.uniform(30, 760)),
                "governorate": "tubas",
            }
        )
    for first in range(0, len(rows), CHUNK):
        db.session.execute(insert(Case), rows[first : first + CHUNK])


def bench_network(password_hash: str, name: str) -> Network:
    token = secrets.token_hex(3)
    return directory.create_network(
        db.session,
        None,
        governorate="bench_" + "".join(chr(97 + int(c, 16)) for c in token),
        case_prefix="".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3)),
        name_ar=f"شبكة القياس {token}",
        name_en=name,
    )


def remove_org(org_id: str) -> None:
    """Delete a seeded organisation and everything it holds. On PostgreSQL the foreign-key
    triggers are off for it: `followup.follows_id` has no index, so the check of each deleted
    follow-up would scan the whole table (the seeded rows never point at each other)."""
    db.session.rollback()
    if is_postgres():
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    followups = select(FollowUp.id).where(FollowUp.organization_id == org_id)
    db.session.execute(delete(ReminderStep).where(ReminderStep.target_id.in_(followups)))
    db.session.execute(delete(FollowUp).where(FollowUp.organization_id == org_id))
    db.session.execute(delete(Case).where(Case.organization_id == org_id))
    users = select(User.id).where(User.organization_id == org_id)
    db.session.execute(delete(Notification).where(Notification.user_id.in_(users)))
    db.session.execute(delete(User).where(User.organization_id == org_id))
    db.session.execute(delete(NetworkMembership).where(NetworkMembership.organization_id == org_id))
    db.session.execute(delete(DataKey).where(DataKey.scope == org_id))
    db.session.execute(delete(Organization).where(Organization.id == org_id))
    db.session.commit()


def remove_network(network_id: str) -> None:
    """Delete a seeded network with its organisations and everything they hold."""
    db.session.rollback()
    orgs = list(
        db.session.scalars(select(NetworkMembership.organization_id).where(NetworkMembership.network_id == network_id))
    )
    for org_id in orgs:
        remove_org(org_id)
    db.session.execute(delete(Network).where(Network.id == network_id))
    db.session.commit()


# ---------------------------------------------------------------------------------- seeding (1)
def ladder(
    followup_id: str, case_code: str, due: datetime, settled: datetime | None, now: datetime, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    """The three rungs of a follow-up: sent if due before it was settled (done, cancelled) or
    before now, cancelled if it was settled first, pending if still ahead."""
    rungs = (("before", due - clocks.FOLLOWUP_LEAD), ("due", due), ("escalate", due + clocks.FOLLOWUP_ESCALATION))
    for step, at in rungs:
        until = settled or now
        if at <= until:
            sent = at + timedelta(seconds=rng.uniform(1, 60))
            row = ("sent", sent - timedelta(seconds=1), 1, sent, SUPERVISORS if step == "escalate" else 1)
        elif settled is not None:
            row = ("cancelled", None, 0, None, None)
        else:
            row = ("pending", None, 0, None, None)
        yield (new_id(), "followup", followup_id, step, case_code, at, *row, min(at, now) - timedelta(days=3))


def followup_rows(
    orgs: list[Org], count: int, now: datetime, rng: random.Random
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    day = timedelta(days=1)
    for _ in range(count):
        org = rng.choice(orgs)
        case_id, case_code = rng.choice(org.cases)
        assignee = rng.choice(org.caseworkers)
        r = rng.random()
        done_by = done_at = cancelled_by = cancelled_at = None
        if r < 0.80:  # done, mostly around its due date
            state = "done"
            due = now - rng.uniform(1, 730) * day
            done_at = min(now, due + rng.uniform(-3, 2) * day)
            done_by = assignee
            settled: datetime | None = done_at
        elif r < 0.88:  # cancelled, some before they fell due
            state = "cancelled"
            due = now - rng.uniform(-60, 730) * day
            cancelled_at = min(now, due - rng.uniform(0, 10) * day)
            cancelled_by = assignee
            settled = cancelled_at
        else:  # open: most ahead over the next four months, a tenth overdue
            state = "open"
            due = now + rng.uniform(2, 120) * day if rng.random() < 0.9 else now - rng.uniform(3, 60) * day
            settled = None
        created = min(now - timedelta(minutes=5), due - rng.uniform(1, 30) * day)
        fid = new_id()
        row = (
            fid,
            case_id,
            case_code,
            org.id,
            rng.choice(KINDS),
            due,
            assignee,
            state,
            assignee,
            created,
            settled or created,
            done_by,
            done_at,
            cancelled_by,
            cancelled_at,
            1,
        )
        yield row, list(ladder(fid, case_code, due, settled, now, rng))


def load(table_name: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL, batched Core inserts elsewhere."""
    if not rows:
        return
    if is_postgres():
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        model = {"followup": FollowUp, "reminder_step": ReminderStep}[table_name]
        db.session.execute(insert(model), [dict(zip(columns, row, strict=True)) for row in rows])


def find_seed(followups: int) -> str | None:
    """A kept seed of this size (its network id); a kept seed of another size is removed."""
    found = None
    for network in db.session.scalars(select(Network).where(Network.name_en.like(f"{SEED_NETWORK} %"))):
        if network.name_en == f"{SEED_NETWORK} {followups}" and found is None:
            found = network.id
        else:
            print(f"removing an earlier seed ({network.name_en})")
            remove_network(network.id)
    return found


def seed_followups(followups: int, password_hash: str, rng: random.Random) -> str:
    now = utcnow()
    network = bench_network(password_hash, f"{SEED_NETWORK} {followups}")
    orgs = []
    cases = max(1, followups // FOLLOWUPS_PER_CASE)
    for n in range(ORGANISATIONS):
        code = f"RB{n}{secrets.token_hex(2).upper()}"
        org = make_org(network, f"Reminder bench {network.id[:8]} {n}", code, password_hash)
        add_cases(org, math.ceil(cases / ORGANISATIONS), code, rng, now)
        orgs.append(org)
    db.session.commit()
    rows = followup_rows(orgs, followups, now, rng)
    done = 0
    while done < followups:
        batch = [next(rows) for _ in range(min(CHUNK * 5, followups - done))]
        load("followup", FOLLOWUP_COLUMNS, [f for f, _ in batch])
        load("reminder_step", STEP_COLUMNS, [s for _, steps in batch for s in steps])
        db.session.commit()
        done += len(batch)
        print(f"\r  seeded {done:,} follow-ups", end="", flush=True)
    print()
    if is_postgres():  # what autovacuum would have done by the time the table is this big
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE followup")
            conn.exec_driver_sql("VACUUM ANALYZE reminder_step")
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return network.id


def table_shape() -> dict[str, Any]:
    steps = dict(db.session.execute(select(ReminderStep.state, func.count()).group_by(ReminderStep.state)).all())
    states = dict(db.session.execute(select(FollowUp.state, func.count()).group_by(FollowUp.state)).all())
    pending_due = db.session.scalar(select(func.min(ReminderStep.due_at)).where(ReminderStep.state == "pending"))
    db.session.rollback()
    return {"followups": states, "reminder_steps": steps, "earliest_pending_due": pending_due}


# ---------------------------------------------------------------------------------- part 1
@dataclass
class Captured:
    statement: str = ""
    parameters: Any = None


def capture_sweep_query(now: datetime) -> Captured:
    """The claim query exactly as the driver receives it (the first statement of a sweep)."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        clocks.sweep(db.session, now)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
        db.session.rollback()
    statement, parameters = next((s, p) for s, p in seen if "reminder_step" in s and s.lstrip().startswith("SELECT"))
    return Captured(statement, parameters)


def explain(captured: Captured) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the claim query; and, on PostgreSQL, the generic plan that a
    prepared statement (psycopg prepares a query after 5 runs on a connection) may switch to."""
    conn = db.session.connection()
    out: dict[str, Any] = {}
    if not is_postgres():
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + captured.statement, captured.parameters).all()
        out["plan"] = "\n".join(str(r[-1]) for r in rows)
        db.session.rollback()
        return out
    rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + captured.statement, captured.parameters).all()
    out["plan"] = "\n".join(r[0] for r in rows)
    db.session.rollback()

    from psycopg import sql

    raw = db.session.connection().connection.driver_connection
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    prepared = re.sub(r"%\((\w+)\)s", number, captured.statement)
    values = ", ".join(sql.Literal(captured.parameters[n]).as_string(raw) for n in names)
    with raw.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("PREPARE bench_sweep AS " + prepared)
        cursor.execute(f"EXPLAIN EXECUTE bench_sweep({values})")
        out["generic_plan"] = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("DEALLOCATE bench_sweep")
    db.session.rollback()
    return out


def time_sweeps(now: datetime, rounds: int, repetitions: int) -> tuple[list[float], list[float]]:
    """Milliseconds of every sweep, and the median of each round."""
    clock = time.perf_counter_ns
    every: list[float] = []
    medians: list[float] = []

    def once() -> float:
        start = clock()
        ids = clocks.sweep(db.session, now)
        db.session.rollback()
        elapsed = (clock() - start) / 1e6
        assert ids == [], "something is due: the idle sweep is not idle"
        return elapsed

    for _ in range(max(10, repetitions // 5)):  # warm-up (and past psycopg's prepare threshold)
        once()
    for _ in range(rounds):
        samples = [once() for _ in range(repetitions)]
        every += samples
        medians.append(statistics.median(samples))
    return every, medians


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def idle_sweep(args: argparse.Namespace, password_hash: str) -> tuple[dict[str, Any], str]:
    began = time.perf_counter()
    network_id = find_seed(args.followups)
    if network_id is None:
        print(f"seeding {args.followups:,} follow-ups with their ladders ...")
        network_id = seed_followups(args.followups, password_hash, random.Random(args.seed))
        seeded = round(time.perf_counter() - began, 1)
        print(f"seeded in {seeded} s")
    else:
        seeded = None
        print(f"reusing the kept seed of {args.followups:,} follow-ups")
    shape = table_shape()
    now = utcnow()
    if shape["earliest_pending_due"] is not None and shape["earliest_pending_due"] <= now:
        sys.exit(f"a rung is due ({shape['earliest_pending_due']}): the database is not idle; use a fresh one")
    captured = capture_sweep_query(now)
    plans = explain(captured)
    every, medians = time_sweeps(now, args.rounds, args.repetitions)
    median, p95 = statistics.median(every), percentile(every, 95)
    uses_index = "ix_reminder_step_pending_due" in plans["plan"]
    generic_uses_index = "ix_reminder_step_pending_due" in plans.get("generic_plan", "ix_reminder_step_pending_due")
    print(f"\nreminder_step: {shape['reminder_steps']}; follow-ups: {shape['followups']}")
    print(f"the sweep's claim query:\n  {captured.statement}\n")
    label = "EXPLAIN (ANALYZE, BUFFERS)" if is_postgres() else "EXPLAIN QUERY PLAN"
    print(f"{label}:\n" + plans["plan"] + "\n")
    if "generic_plan" in plans:
        print("generic plan (plan_cache_mode = force_generic_plan):\n" + plans["generic_plan"] + "\n")
    print(
        table(
            ["idle sweep", "median", "p95", "max", "rounds x sweeps"],
            [
                [
                    f"{args.followups:,} follow-ups",
                    f"{median:.3f} ms",
                    f"{p95:.3f} ms",
                    f"{max(every):.3f} ms",
                    f"{args.rounds} x {args.repetitions}",
                ]
            ],
        )
    )
    verdict = "meets" if median < SWEEP_GOAL_MS and uses_index else "MISSES"
    print(f"idle sweep median {median:.3f} ms, index used: {uses_index}: {verdict} the goal of {SWEEP_GOAL_MS} ms")
    result = {
        "followups": args.followups,
        "seeded_seconds": seeded,
        "table": shape,
        "query": captured.statement,
        "explain_analyze": plans["plan"],
        "generic_plan": plans.get("generic_plan"),
        "uses_partial_index": uses_index,
        "generic_plan_uses_partial_index": generic_uses_index,
        "median_ms": median,
        "p95_ms": p95,
        "max_ms": max(every),
        "round_medians_ms": medians,
        "rounds": args.rounds,
        "repetitions": args.repetitions,
        "goal_ms": SWEEP_GOAL_MS,
        "meets_goal": median < SWEEP_GOAL_MS and uses_index,
    }
    return result, network_id


# ---------------------------------------------------------------------------------- part 2
def redis_url() -> str | None:
    url = os.environ.get("BENCH_REDIS_URL")
    if not url:
        return None
    if not re.search(r"/\d+$", url):
        sys.exit("BENCH_REDIS_URL must name a Redis database of the benchmark's own (…/13): it is flushed")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError as exc:
        sys.exit(f"BENCH_REDIS_URL: Redis does not answer ({exc})")
    return url


def seed_due(org: Org, count: int, run: int, rng: random.Random) -> tuple[datetime, str]:
    """`count` open follow-ups, each with one rung that fell due within the last minute; returns
    the latest due time and the case-code prefix of the run."""
    now = utcnow()
    code = f"RD{run}{secrets.token_hex(2).upper()}"
    org.cases.clear()
    add_cases(org, max(1, count // 20), code, rng, now)
    steps = []
    for first in range(0, count, 1000):
        for _ in range(first, min(first + 1000, count)):
            case_id, case_code = rng.choice(org.cases)
            at = now - timedelta(seconds=rng.uniform(1, 55))
            r = rng.random()
            step, due = ("before", at + clocks.FOLLOWUP_LEAD) if r < 0.45 else ("due", at)
            if r >= 0.9:
                step, due = "escalate", at - clocks.FOLLOWUP_ESCALATION
            assignee = rng.choice(org.caseworkers)
            followup = FollowUp(
                id=new_id(),
                case_id=case_id,
                case_code=case_code,
                organization_id=org.id,
                kind=rng.choice(KINDS),
                due_at=due,
                assignee_id=assignee,
                note=NOTE if rng.random() < 0.6 else None,
                created_by=assignee,
                created_at=now - timedelta(days=5),
            )
            db.session.add(followup)
            steps.append(
                {
                    "id": new_id(),
                    "clock": "followup",
                    "target_id": followup.id,
                    "step": step,
                    "case_code": case_code,
                    "due_at": at,
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now - timedelta(days=5),
                }
            )
        db.session.flush()
        db.session.expunge_all()
    for first in range(0, len(steps), CHUNK):
        db.session.execute(insert(ReminderStep), steps[first : first + CHUNK])
    db.session.commit()
    return now, code


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery_app",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready." in log.read_text(errors="replace"):
            return worker
        if worker.poll() is not None:
            break
        time.sleep(0.2)
    stop_worker(worker)
    sys.exit("the worker did not start:\n" + log.read_text(errors="replace")[-3000:])


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def pending_due(until: datetime) -> int:
    count = db.session.scalar(select(func.count()).where(ReminderStep.state == "pending", ReminderStep.due_at <= until))
    db.session.rollback()
    return int(count or 0)


def delivery_run(org: Org, args: argparse.Namespace, run: int, rng: random.Random) -> dict[str, Any]:
    steps = args.steps
    until, code = seed_due(org, steps, run, rng)
    assert pending_due(until) == steps, "other rungs are due in this database: use a fresh one"
    started = utcnow()
    for _ in range(args.sweeps):
        dispatch.enqueue("workers.sweep_reminders")
    db.session.commit()  # published now
    deadline = time.monotonic() + args.timeout
    left = steps
    while time.monotonic() < deadline and left:
        time.sleep(0.2)
        left = pending_due(until)
    if left:
        raise SystemExit(f"run {run}: {left} rungs still pending after {args.timeout:.0f} s")
    sent = sorted(db.session.scalars(select(ReminderStep.sent_at).where(ReminderStep.case_code.like(f"{code}-%"))))
    expected = db.session.scalar(
        select(func.sum(ReminderStep.recipients)).where(ReminderStep.case_code.like(f"{code}-%"))
    )
    told = db.session.scalar(
        select(func.count()).where(Notification.case_code.like(f"{code}-%"), Notification.dedupe_key.like("step:%"))
    )
    db.session.rollback()
    assert len(sent) == steps, f"{len(sent)} rungs of run {run} sent, {steps} expected"
    latencies = [(at - started).total_seconds() for at in sent]
    total = latencies[-1]
    return {
        "steps": steps,
        "total_s": total,
        "steps_per_s": steps / total,
        "latency_median_s": statistics.median(latencies),
        "latency_p95_s": percentile(latencies, 95),
        "first_sent_s": latencies[0],
        "sent_spread_s": latencies[-1] - latencies[0],
        "notifications": told,
        "recipients": int(expected or 0),
        "told_once": told == expected,
    }


@dataclass
class SqlMeter:
    """Counts the statements sent and the time spent in them."""

    statements: int = 0
    ns: int = 0
    _start: int = 0

    def __enter__(self) -> SqlMeter:
        event.listen(db.engine, "before_cursor_execute", self._before)
        event.listen(db.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(db.engine, "before_cursor_execute", self._before)
        event.remove(db.engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._start = time.perf_counter_ns()

    def _after(self, *_: Any) -> None:
        self.statements += 1
        self.ns += time.perf_counter_ns() - self._start


def profile(org: Org, count: int, rng: random.Random) -> dict[str, Any]:
    """Where a delivery's time goes, in this process (no broker, no worker): `count` rungs
    delivered one per transaction as `workers.deliver_reminder` does, then as many again in
    transactions of --batch rungs as `workers.deliver_reminders` does."""
    out: dict[str, Any] = {}
    for label, batch in (
        ("one rung per transaction", 1),
        (f"{clocks.DELIVERY_BATCH} rungs per transaction", clocks.DELIVERY_BATCH),
    ):
        until, _code = seed_due(org, count, 0, rng)
        ids = clocks.sweep(db.session, limit=count)
        db.session.commit()
        with SqlMeter() as meter:
            start = time.perf_counter_ns()
            for first in range(0, len(ids), batch):
                clocks.deliver_many(db.session, ids[first : first + batch])
                db.session.commit()
            elapsed = time.perf_counter_ns() - start
        db.session.expunge_all()
        assert pending_due(until) == 0
        out[label] = {
            "ms_per_rung": elapsed / 1e6 / len(ids),
            "sql_ms_per_rung": meter.ns / 1e6 / len(ids),
            "statements_per_rung": meter.statements / len(ids),
        }
    print(
        table(
            ["in-process delivery", "per rung", "in SQL", "statements"],
            [
                [k, f"{v['ms_per_rung']:.2f} ms", f"{v['sql_ms_per_rung']:.2f} ms", f"{v['statements_per_rung']:.1f}"]
                for k, v in out.items()
            ],
        )
    )
    return out


def delivery(args: argparse.Namespace, network_id: str, settings: Settings, app: Any, workdir: Path) -> dict[str, Any]:
    broker = redis_url()
    if broker is None:
        print("\ndelivery skipped: set BENCH_REDIS_URL=redis://127.0.0.1:6379/13 (a Redis database it may flush)")
        return {"skipped": "BENCH_REDIS_URL not set"}
    from dataclasses import replace

    app.config["SHABAKA_SETTINGS"] = replace(settings, broker_url=broker)
    app.extensions.pop("shabaka.celery", None)
    network = db.session.get(Network, network_id)
    org = make_org(network, f"{DELIVERY_ORG} {secrets.token_hex(3)}", f"rd{secrets.token_hex(2)}", hash_once())
    db.session.commit()
    profiled = profile(org, args.profile, random.Random(args.seed + 2)) if args.profile else None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFERRAL_", "CELERY_", "BENCH_"))}
    env.update(
        REFERRAL_ENV="development",
        REFERRAL_INSTANCE_PATH=str(workdir / "worker-instance"),
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        REFERRAL_ROOT_KEY=base64.b64encode(settings.root_key).decode(),
        CELERY_BROKER_URL=broker,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.pop("REDIS_URL", None)
    import redis

    redis.Redis.from_url(broker).flushdb()
    worker = start_worker(env, workdir / "worker.log")
    runs = []
    rng = random.Random(args.seed + 1)
    try:
        for run in range(1, args.runs + 1):
            result = delivery_run(org, args, run, rng)
            runs.append(result)
            print(
                f"run {run}: {result['steps']:,} rungs in {result['total_s']:.2f} s "
                f"({result['steps_per_s']:.0f}/s), latency median {result['latency_median_s']:.2f} s, "
                f"each recipient told once: {result['told_once']}"
            )
    finally:
        stop_worker(worker)
        remove_org(org.id)
        shutil.copy(workdir / "worker.log", Path(tempfile.gettempdir()) / "shabaka-bench-reminders-worker.log")
    total = statistics.median(r["total_s"] for r in runs)
    summary = {
        "runs": runs,
        "median_total_s": total,
        "median_steps_per_s": statistics.median(r["steps_per_s"] for r in runs),
        "median_latency_s": statistics.median(r["latency_median_s"] for r in runs),
        "goal_s": DELIVERY_GOAL_S,
        "meets_goal": total < DELIVERY_GOAL_S and all(r["told_once"] for r in runs),
        "sweeps_published": args.sweeps,
        "delivery_batch": clocks.DELIVERY_BATCH,
        "in_process_profile": profiled,
    }
    print(
        table(
            ["delivery (median of runs)", "total", "steps/s", "latency median", "latency p95"],
            [
                [
                    f"{args.steps:,} rungs, 1 worker",
                    f"{total:.2f} s",
                    f"{summary['median_steps_per_s']:.0f}",
                    f"{summary['median_latency_s']:.2f} s",
                    f"{statistics.median(r['latency_p95_s'] for r in runs):.2f} s",
                ]
            ],
        )
    )
    verdict = "meets" if summary["meets_goal"] else "MISSES"
    print(f"delivery of {args.steps:,} rungs: {total:.2f} s: {verdict} the goal of {DELIVERY_GOAL_S:.0f} s")
    return summary


_HASH: list[str] = []


def hash_once() -> str:
    if not _HASH:
        _HASH.append(runtime().passwords.hash(secrets.token_urlsafe(24)))  # nobody knows it
    return _HASH[0]


# ---------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--followups", type=int, help="follow-ups to seed (default 1,000,000 on PostgreSQL, else 100,000)"
    )
    parser.add_argument("--rounds", type=int, default=9, help="rounds of idle sweeps (the median is reported)")
    parser.add_argument("--repetitions", type=int, default=100, help="idle sweeps per round")
    parser.add_argument("--steps", type=int, default=10_000, help="due rungs per delivery run")
    parser.add_argument("--sweeps", type=int, default=1, help="sweeps published at the start of a run (default 1)")
    parser.add_argument("--profile", type=int, default=1000, help="rungs delivered in-process to profile (0: none)")
    parser.add_argument("--runs", type=int, default=3, help="delivery runs (the median is reported)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a delivery run may take")
    parser.add_argument("--seed", type=int, default=18_2013, help="random seed of the data")
    parser.add_argument("--keep", action="store_true", help="keep the seeded rows for the next run (PostgreSQL)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    url, shared = database_url(workdir)
    settings = Settings.for_tests(url, workdir, log_level="WARNING")
    app = create_app(settings)
    backend = settings.database_url.split(":", 1)[0]
    if args.followups is None:
        args.followups = 1_000_000 if backend.startswith("postgresql") else 100_000
    results: dict[str, Any] = {"backend": backend}
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.session.execute(delete(SweepRun))
            db.session.commit()
            network_id = None
            try:
                sweep_result, network_id = idle_sweep(args, hash_once())
                results["idle_sweep"] = sweep_result
                results["delivery"] = delivery(args, network_id, settings, app, workdir)
            finally:
                if network_id is not None and shared and not args.keep:  # a temporary SQLite file just goes
                    print("removing the seeded rows ...")
                    remove_network(network_id)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    path = write_results("reminders", results)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
