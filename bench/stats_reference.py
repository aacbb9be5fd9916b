"""The statistics at the reference size: the page, the national view, a release, the API.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_stats \\
        .venv/bin/python bench/stats_reference.py [--cases 200000] [--referrals 400000] [--runs 15] [--keep] [--reuse]

PostgreSQL only. Migrates the schema to head and loads, with COPY, the reference data set: 6
networks (tubas, hebron, jericho, tulkarm, qalqilya, nablus) of 20 member organisations each
(a few large, many small; main sectors skewed towards psychosocial and social work), a
caseworker and an admin per organisation, a coordinator per network and a national one, 1 to 3
services per organisation; N cases over the last 36 months with realistic statistical columns
(about 90% consenting to statistics, about 60% closed); M referrals inside each network in
every state, some to services, some external; follow-ups (one per referral-sized half). Only
the clear (statistical) columns are filled: the statistics never read the encrypted ones, so
they stay NULL. ANALYZE after loading.

Then times, through the real code, after 2 warm-ups, --runs runs each:
- network page:  `services.compute` for the largest network's coordinator, the last 12 whole
                 months, compare=True (what the page computes);
- national page: the same for the national coordinator (network=None);
- release:       `releases.prepare` for the largest network and the same 12 months (rolled back);
- API network / API national: GET /api/v1/stats/summary?from=..&to=.. with a bearer token
                 (the same computation plus JSON).
The split: time inside `count_table` and `quantiles` (SQL and folding the rows), inside
`protect` (disclosure control), and the rest; plus the time the driver spent executing SQL.
The slowest statement of the national view is explained (EXPLAIN (ANALYZE, BUFFERS)).

The data set stays with --keep (then --reuse skips the build next time); without --keep
every table is emptied at the end. Refuses the database `test`. Writes
bench/results/statistics-*.json.
"""

# ruff: noqa: E402  (the application's folder goes on sys.path first, as _common does)
from __future__ import annotations

import statistics
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:  # the application, as _common does
    sys.path.insert(0, str(_HERE.parent))

import argparse
import math
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import _common  # (by module: when this file is imported in place of `statistics`, it is half-loaded)
from sqlalchemy import event

from config import Settings
from referral import create_app
from referral.cases.models import GBV_TYPES, PERPETRATOR_RELATIONSHIPS, REPORTING_DELAYS
from referral.enums import GOVERNORATES, SECTORS
from referral.extensions import db
from referral.followups.models import KINDS as FOLLOWUP_KINDS
from referral.referrals.models import DECLINE_REASONS

TARGETS_MS = {"network": 200.0, "national": 400.0, "release": 5000.0}
PREFIXES = {"tubas": "TUB", "hebron": "HEB", "jericho": "JER", "tulkarm": "TUL", "qalqilya": "QAL", "nablus": "NAB"}
# share of the cases per network (Hebron and Nablus are the big governorates)
NETWORK_WEIGHT = {"tubas": 0.10, "hebron": 0.30, "jericho": 0.08, "tulkarm": 0.15, "qalqilya": 0.12, "nablus": 0.25}
# the main sectors of a network's 20 organisations, from the largest to the smallest
ORG_SECTORS = (
    "psychosocial", "social", "health", "police", "legal_aid", "psychosocial", "social", "shelter",
    "justice", "legal_aid", "psychosocial", "health", "economic", "social", "psychosocial", "legal_aid",
    "other", "economic", "social", "psychosocial",
)  # fmt: skip
ORG_KIND = {"police": "governmental", "justice": "governmental", "health": "governmental"}
TARGET_HOURS = {"emergency": 24, "urgent": 72, "normal": 14 * 24}
NOBODY = "!bench: no password logs in"  # not a hash of anything: nobody can log in


def weighted(rng: random.Random, table_: dict[Any, float]) -> Any:
    return rng.choices(list(table_), weights=list(table_.values()))[0]


AGE = {"0-11": 3, "12-17": 12, "18-24": 24, "25-59": 55, "60+": 5, None: 1}
SEX = {"female": 94, "male": 6}
DISABILITY = {True: 8, False: 90, None: 2}
MARITAL = {"married": 55, "single": 20, "divorced": 8, "separated": 6, "widowed": 4, "engaged": 3, "unknown": 4}
GBV = dict(
    zip(GBV_TYPES, (5, 10, 30, 6, 12, 30, 7), strict=True)
)  # rape, sexual_assault, physical, forced_marriage, denial, psychological, non_gbv
PERP = dict(zip(PERPETRATOR_RELATIONSHIPS, (45, 7, 20, 3, 2, 0.5, 4, 4, 5, 6, 3.5), strict=True))
RISK = {"high": 20, "medium": 45, "low": 35}
DELAY = {**dict(zip(REPORTING_DELAYS, (30, 10, 15, 12, 13, 15), strict=True)), None: 5}
OPEN_STATUS = {
    "intake": 10, "assessment": 15, "action_plan": 15, "implementation": 30, "follow_up": 20,
    "closure_pending": 5, "reopened": 5,
}  # fmt: skip
DECLINE = dict(zip(DECLINE_REASONS, (35, 20, 15, 8, 12, 5, 5), strict=True))


# ---------------------------------------------------------------------------------- building
def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _copy(conn: Any, name: str, columns: list[str], rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]]) -> int:
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def has_data(url: str, cases: int, referrals: int) -> bool:
    import psycopg

    with psycopg.connect(_common._libpq(url)) as conn:
        c = conn.execute("SELECT count(*) FROM case_file").fetchone()[0]
        r = conn.execute("SELECT count(*) FROM referral").fetchone()[0]
        n = conn.execute("SELECT count(*) FROM network WHERE case_prefix = ANY(%s)", (list(PREFIXES.values()),))
        return c == cases and r == referrals and n.fetchone()[0] == len(PREFIXES)


def empty(url: str) -> None:
    """Empty every table of the bench database but the migrations' version."""
    import psycopg

    with psycopg.connect(_common._libpq(url), autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
            )
        ]
        if names:
            conn.execute("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE")


def build(url: str, n_cases: int, n_referrals: int, rng: random.Random, now: datetime) -> dict[str, float]:
    """Load the reference data set with COPY; returns seconds per step."""
    import psycopg

    took: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str, count: int) -> None:
        nonlocal clock
        took[name] = time.perf_counter() - clock
        print(f"  {name:<12} {count:>8,} rows in {took[name]:6.1f} s", flush=True)
        clock = time.perf_counter()

    start_month = _add_months(date(now.year, now.month, 1), -35)
    start = datetime(start_month.year, start_month.month, 1, tzinfo=UTC)
    span = (now - start).total_seconds()
    with psycopg.connect(_common._libpq(url)) as conn:
        # --- networks, organisations, memberships, services, users
        nets = {g: str(uuid.uuid4()) for g in GOVERNORATES}
        _copy(
            conn,
            "network",
            ["id", "governorate", "case_prefix", "name_ar", "name_en", "active", "created_at"],
            [(nets[g], g, PREFIXES[g], f"شبكة {g}", f"{g.title()} network", True, start) for g in GOVERNORATES],
        )
        orgs: dict[str, list[dict[str, Any]]] = {}
        org_rows, member_rows, service_rows, user_rows = [], [], [], []
        services_of: dict[str, list[tuple[str, str]]] = {}
        for g in GOVERNORATES:
            orgs[g] = []
            for rank, sector in enumerate(ORG_SECTORS):
                oid = str(uuid.uuid4())
                second = rng.choice([s for s in SECTORS if s != sector]) if rng.random() < 0.4 else None
                sectors = [sector, second] if second else [sector]
                weight = 1.0 / (rank + 1) ** 1.1
                org = {"id": oid, "sector": sector, "weight": weight, "worker": str(uuid.uuid4())}
                orgs[g].append(org)
                org_rows.append(
                    (
                        oid,
                        f"منظمة {g} {rank + 1}",
                        f"{g.title()} organisation {rank + 1:02d}",
                        ORG_KIND.get(sector, "civil"),
                        _json(sectors),
                        _json([g]),
                        True,
                        True,
                        start,
                    )
                )
                member_rows.append((str(uuid.uuid4()), nets[g], oid, start))
                services_of[oid] = []
                for k in range(rng.choice((1, 1, 2, 3))):
                    sid, s_sector = str(uuid.uuid4()), sectors[k % len(sectors)]
                    services_of[oid].append((sid, s_sector))
                    service_rows.append(
                        (sid, oid, f"خدمة {k + 1}", f"Service {k + 1} of {g} {rank + 1}", "", "", s_sector, _json([g]),
                         "", _json(["ar"]), "", "available", True, "[]", False, "", "", True, start, start)
                    )  # fmt: skip
                for role, uid in (("caseworker", org["worker"]), ("org_admin", str(uuid.uuid4()))):
                    user_rows.append((uid, oid, None, role, f"bench_{role}_{g}_{rank + 1:02d}"))
            first_org = orgs[g][0]["id"]
            user_rows.append((str(uuid.uuid4()), first_org, nets[g], "coordinator", f"bench_coordinator_{g}"))
        national_org = orgs["nablus"][0]["id"]
        user_rows.append((str(uuid.uuid4()), national_org, None, "coordinator", "bench_coordinator_national"))
        _copy(
            conn,
            "organization",
            [
                "id",
                "name_ar",
                "name_en",
                "kind",
                "sectors",
                "governorates",
                "accepts_referrals",
                "active",
                "created_at",
            ],
            org_rows,
        )
        _copy(conn, "network_membership", ["id", "network_id", "organization_id", "joined_at"], member_rows)
        _copy(
            conn,
            "service",
            ["id", "organization_id", "name_ar", "name_en", "description_ar", "description_en", "sector",
             "governorates", "eligibility", "languages", "opening_hours", "capacity_status", "accepting_referrals",
             "focal_points", "confidential_location", "front_door", "address", "active", "created_at", "updated_at"],
            service_rows,
        )  # fmt: skip
        _copy(
            conn,
            "user_account",
            ["id", "organization_id", "network_id", "role", "username", "locale", "active", "password_hash",
             "password_changed_at", "must_change_password", "created_at"],
            [(*u, "ar", True, NOBODY, start, True, start) for u in user_rows],
        )  # fmt: skip
        conn.commit()
        step("directory", len(org_rows) + len(service_rows) + len(user_rows))

        # --- cases
        cases: list[tuple[str, str, str, str, datetime, str]] = []  # id, code, org, worker, opened, risk

        def case_rows() -> Iterator[tuple[Any, ...]]:
            gov_w = [NETWORK_WEIGHT[g] for g in GOVERNORATES]
            numbers: dict[tuple[str, int], int] = defaultdict(int)
            for _ in range(n_cases):
                g = rng.choices(GOVERNORATES, weights=gov_w)[0]
                org = rng.choices(orgs[g], weights=[o["weight"] for o in orgs[g]])[0]
                opened = start + timedelta(seconds=span * rng.random() ** 0.85)  # slowly growing
                numbers[(g, opened.year)] += 1
                code = f"{PREFIXES[g]}-{opened.year}-{numbers[(g, opened.year)]:06d}"
                risk = weighted(rng, RISK)
                closed_at = opened + timedelta(days=rng.lognormvariate(math.log(60), 0.9))
                if closed_at < now and rng.random() < 0.66:
                    status = "closed"
                else:
                    status, closed_at = weighted(rng, OPEN_STATUS), None
                later = status != "intake"
                assessed = _before(opened + timedelta(days=rng.expovariate(1 / 3)), now) if later else None
                safety = (
                    _before(opened + timedelta(days=rng.expovariate(1 / 5)), now)
                    if later and risk != "low" and rng.random() < 0.7
                    else None
                )
                planned = status not in ("intake", "assessment") and rng.random() < 0.8
                approved = (
                    _before(opened + timedelta(days=7 + rng.expovariate(1 / 7)), now)
                    if planned and (status != "action_plan" or rng.random() < 0.4) and rng.random() < 0.9
                    else None
                )
                cid = str(uuid.uuid4())
                cases.append((cid, code, org["id"], org["worker"], opened, risk))
                yield (
                    cid, code, org["id"], org["worker"], status, opened, closed_at or opened, closed_at, 1, g,
                    weighted(rng, AGE), weighted(rng, SEX), weighted(rng, DISABILITY), weighted(rng, MARITAL),
                    weighted(rng, GBV), weighted(rng, PERP), risk, weighted(rng, DELAY), rng.random() < 0.9,
                    assessed, safety, org["worker"] if planned else None, org["worker"] if approved else None,
                    approved,
                )  # fmt: skip

        n = _copy(
            conn,
            "case_file",
            ["id", "case_code", "organization_id", "owner_id", "status", "opened_at", "updated_at", "closed_at",
             "version", "governorate", "age_group", "sex", "disability", "marital_status", "gbv_type",
             "perpetrator_relationship", "risk_level", "reporting_delay", "statistics_consent", "assessed_at",
             "safety_plan_at", "plan_submitted_by", "plan_approved_by", "plan_approved_at"],
            case_rows(),
        )  # fmt: skip
        conn.commit()
        step("cases", n)

        # --- referrals
        org_of = {o["id"]: (g, o) for g in GOVERNORATES for o in orgs[g]}

        def referral_rows() -> Iterator[tuple[Any, ...]]:
            for _ in range(n_referrals):
                cid, code, from_org, worker, opened, risk = cases[rng.randrange(len(cases))]
                g, _sender = org_of[from_org]
                if risk == "high":
                    priority = weighted(rng, {"emergency": 35, "urgent": 40, "normal": 25})
                else:
                    priority = weighted(rng, {"emergency": 5, "urgent": 27, "normal": 68})
                sent = opened + timedelta(days=rng.expovariate(1 / 10))
                if sent >= now:
                    sent = opened + (now - opened) * rng.random()
                target = TARGET_HOURS[priority]
                due = sent + timedelta(hours=target)
                to_org = service = external = decline = answered = closed = None
                if rng.random() < 0.08:
                    external = rng.choice(SECTORS)
                else:
                    others = [o for o in orgs[g] if o["id"] != from_org]
                    receiver = rng.choices(others, weights=[o["weight"] for o in others])[0]
                    to_org = receiver["id"]
                    if rng.random() < 0.3:
                        service = rng.choice(services_of[to_org])[0]
                roll = rng.random()
                if roll < 0.005:  # a draft: never sent
                    state, sent, due = "draft", None, None
                elif roll < 0.025:  # never answered (the late ones that wait)
                    state = "sent"
                else:
                    answered = sent + timedelta(hours=rng.lognormvariate(math.log(target * 0.35), 1.0))
                    if answered >= now:
                        state, answered = "sent", None
                    elif rng.random() < 0.03:  # withdrawn before an answer
                        state, closed, answered = "withdrawn", answered, None
                    elif rng.random() < 0.15:
                        state, closed, decline = "declined", answered, weighted(rng, DECLINE)
                    else:
                        closed = answered + timedelta(days=rng.lognormvariate(math.log(20), 0.8))
                        if closed >= now:
                            state, closed = rng.choice(("accepted", "in_progress")), None
                        else:
                            state = weighted(rng, {"completed": 85, "closed_unresolved": 10, "withdrawn": 5})
                created = (sent or opened + timedelta(days=1)) - timedelta(minutes=rng.randrange(5, 120))
                if created < opened:
                    created = opened
                yield (
                    str(uuid.uuid4()), cid, code, from_org, to_org, service, priority, state, '["identity"]',
                    decline, worker, created, sent, due, answered, closed, closed or answered or sent or created, 1,
                    external,
                )  # fmt: skip

        n = _copy(
            conn,
            "referral",
            ["id", "case_id", "case_code", "from_organization_id", "to_organization_id", "service_id", "priority",
             "state", "field_groups", "decline_reason", "created_by", "created_at", "sent_at", "due_at",
             "answered_at", "closed_at", "updated_at", "version", "external_sector"],
            referral_rows(),
        )  # fmt: skip
        conn.commit()
        step("referrals", n)

        # --- follow-ups: one per referral-sized half of the cases
        def followup_rows() -> Iterator[tuple[Any, ...]]:
            for _ in range(n_referrals // 2):
                cid, code, org_id, worker, opened, _risk = cases[rng.randrange(len(cases))]
                due = opened + timedelta(days=rng.expovariate(1 / 30))
                created = opened + (due - opened) * rng.random()
                if created > now:
                    created = now
                done_at = None
                if due > now:
                    state = "open"
                else:
                    state = weighted(rng, {"done": 80, "cancelled": 8, "open": 12})
                    if state == "done":
                        done_at = _before(due + timedelta(hours=rng.expovariate(1 / 30)), now)
                yield (
                    str(uuid.uuid4()), cid, code, org_id, rng.choice(FOLLOWUP_KINDS), due, worker, state, worker,
                    created, done_at or created, worker if done_at else None, done_at, 1,
                )  # fmt: skip

        n = _copy(
            conn,
            "followup",
            ["id", "case_id", "case_code", "organization_id", "kind", "due_at", "assignee_id", "state", "created_by",
             "created_at", "updated_at", "done_by", "done_at", "version"],
            followup_rows(),
        )  # fmt: skip
        conn.commit()
        step("followups", n)
    with psycopg.connect(_common._libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    step("vacuum+analyze", 0)
    return took


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _before(moment: datetime, limit: datetime) -> datetime | None:
    return moment if moment < limit else None


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


# ---------------------------------------------------------------------------------- timing
class Split:
    """Time inside count_table / quantiles (SQL plus folding), protect, and the driver's execute."""

    def __init__(self) -> None:
        self.reset()
        self.statements: dict[tuple[str, str], list[float]] = defaultdict(list)  # (view, SQL) -> seconds
        self.params: dict[str, Any] = {}
        self.by_measure: dict[tuple[str, str], list[float]] = defaultdict(list)  # (view, measure) -> s per run
        self.recording: str | None = None
        self.depth = 0  # inside a measure's timer (a grouped count falling back to one per table)

    def reset(self) -> None:
        self.run = {"count_table": 0.0, "quantiles": 0.0, "protect": 0.0, "execute": 0.0, "statements": 0}
        self.run_measures: dict[str, float] = {}

    def wrap(self, module: Any, name: str, bucket: str) -> Callable[[], None]:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            timed_measure = bucket.startswith("measure:") or bucket == "quantiles"
            self.depth += timed_measure
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= timed_measure
                took = time.perf_counter() - began
                if bucket in self.run:
                    self.run[bucket] += took
                if self.recording and timed_measure and not self.depth:
                    measure = {"measure:table": lambda: args[1].measure, "measure:grouped": lambda: args[1]}.get(
                        bucket, lambda: f"quantiles:{args[1]}"
                    )()
                    self.run_measures[measure] = self.run_measures.get(measure, 0.0) + took

        setattr(module, name, timed)
        return lambda: setattr(module, name, original)

    def listen(self, engine: Any) -> Callable[[], None]:
        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            conn.info["bench_began"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            took = time.perf_counter() - conn.info.pop("bench_began", time.perf_counter())
            self.run["execute"] += took
            self.run["statements"] += 1
            if self.recording:
                self.statements[(self.recording, statement)].append(took)
                self.params[statement] = parameters

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

        def undo() -> None:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)

        return undo


def quantile(samples: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(fn: Callable[[], Any], split: Split, runs: int, warmups: int = 2) -> dict[str, Any]:
    for _ in range(warmups):
        fn()
    totals: list[float] = []
    parts: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        split.reset()
        began = time.perf_counter()
        fn()
        total = time.perf_counter() - began
        totals.append(total)
        sql = split.run["count_table"] + split.run["quantiles"]
        parts["sql"].append(sql)
        parts["protect"].append(split.run["protect"])
        parts["rest"].append(total - sql - split.run["protect"])
        parts["execute"].append(split.run["execute"])
        parts["statements"].append(split.run["statements"])
        for name, took in split.run_measures.items():
            parts[f"measure:{name}"].append(took)
    ms = 1000.0
    return {
        "p50_ms": statistics.median(totals) * ms,
        "p95_ms": quantile(totals, 0.95) * ms,
        "min_ms": min(totals) * ms,
        "max_ms": max(totals) * ms,
        "runs": runs,
        "split_median_ms": {
            "count_table+quantiles": statistics.median(parts["sql"]) * ms,
            "protect": statistics.median(parts["protect"]) * ms,
            "rest": statistics.median(parts["rest"]) * ms,
            "driver_execute": statistics.median(parts["execute"]) * ms,
        },
        "statements": int(statistics.median(parts["statements"])),
        "sql_by_measure_median_ms": {
            k.split(":", 1)[1]: statistics.median(v) * ms for k, v in parts.items() if k.startswith("measure:")
        },
    }


@contextmanager
def timers(split: Split, engine: Any) -> Iterator[None]:
    from referral.statistics import queries, services

    undo = [
        split.wrap(services, "all_counts", "count_table"),
        split.wrap(queries, "count_table", "measure:table"),
        split.wrap(queries, "_count_grouped", "measure:grouped"),
        split.wrap(services, "quantiles", "quantiles"),
        split.wrap(services, "protect", "protect"),
        split.listen(engine),
    ]
    try:
        yield
    finally:
        for u in undo:
            u()


def explain(engine: Any, statement: str, parameters: Any) -> list[str]:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        lines = [r[0] for r in cur.fetchall()]
        raw.rollback()
        return lines
    finally:
        raw.close()


# ---------------------------------------------------------------------------------- main
def last_whole_months(today: date, n: int = 12) -> tuple[str, str]:
    first, last = _add_months(date(today.year, today.month, 1), -n), _add_months(date(today.year, today.month, 1), -1)
    return f"{first:%Y-%m}", f"{last:%Y-%m}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--referrals", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per measurement (after 2 warm-ups)")
    parser.add_argument("--network", default="hebron", choices=GOVERNORATES, help="the network timed (the largest)")
    parser.add_argument("--seed", type=int, default=12_2026)
    parser.add_argument("--keep", action="store_true", help="keep the data set (for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="skip building when the data set is there")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        parser.error("BENCH_DATABASE_URL must name a PostgreSQL database (not `test`)")
    _common.ensure_database(url)  # refuses `test`

    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    settings = Settings.for_tests(url, workdir, log_level="WARNING")
    app = create_app(settings)
    now = datetime.now(UTC)
    first, last = last_whole_months(now.date())
    built: dict[str, float] | None = None
    results: dict[str, Any] = {}
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.session.remove()
        if args.reuse and has_data(url, args.cases, args.referrals):
            print(f"reusing the data set ({args.cases:,} cases, {args.referrals:,} referrals)")
        else:
            empty(url)
            print(f"building {args.cases:,} cases, {args.referrals:,} referrals on PostgreSQL")
            began = time.perf_counter()
            built = build(url, args.cases, args.referrals, random.Random(args.seed), now)
            print(f"built in {time.perf_counter() - began:.1f} s")
        with app.app_context():
            results = run_all(app, args, first, last)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            empty(url)
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, first, last, built, results)


def run_all(app: Any, args: argparse.Namespace, first: str, last: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from referral.accounts.models import User
    from referral.accounts.services import issue_token
    from referral.cases.models import Case
    from referral.directory.models import Network
    from referral.followups.models import FollowUp
    from referral.referrals.models import Referral
    from referral.statistics import releases, services

    session = db.session
    net = session.scalar(select(Network).where(Network.governorate == args.network))
    coordinator = session.scalar(select(User).where(User.role == "coordinator", User.network_id == net.id))
    national = session.scalar(select(User).where(User.username == "bench_coordinator_national"))
    largest = session.execute(
        select(Case.organization_id, func.count()).group_by(Case.organization_id).order_by(func.count().desc()).limit(1)
    ).first()
    admin = session.scalar(select(User).where(User.role == "org_admin", User.organization_id == largest[0]))
    sizes = {
        "cases": session.scalar(select(func.count()).select_from(Case)),
        "cases_in_network": session.scalar(select(func.count()).where(Case.governorate == args.network)),
        "cases_in_largest_organization": largest[1],
        "referrals": session.scalar(select(func.count()).select_from(Referral)),
        "followups": session.scalar(select(func.count()).select_from(FollowUp)),
    }
    _, raw_network = issue_token(session, coordinator, label="bench")
    _, raw_national = issue_token(session, national, label="bench")
    session.commit()
    window = services.parse_window(first, last)
    ids = {"coordinator": coordinator.id, "national": national.id, "admin": admin.id}

    def actor(key: str) -> User:
        return session.get(User, ids[key])

    def page(key: str, network: str | None) -> Callable[[], Any]:
        def run() -> Any:
            who = actor(key)
            view = services.compute(session, who, services.scope_for(session, who, network), window, compare=True)
            session.rollback()  # the page commits its audit event; the benchmark leaves none behind
            return view

        return run

    def snapshot(key: str) -> Callable[[], Any]:
        """The page as served: the stored snapshot of the live view (warmed once, committed)."""
        who = actor(key)
        scope = services.scope_for(session, who, None)
        services.live(session, who, scope, window)
        session.commit()

        def run() -> Any:
            found = services.live(session, actor(key), scope, window)
            session.rollback()
            return found

        return run

    def release() -> Any:
        made = releases.prepare(session, actor("coordinator"), None, window)
        session.rollback()
        return made

    def refresh() -> Any:
        """The worker's task: every usual period of every network and the nation (rolled back)."""
        stored = services.refresh_snapshots(session)
        session.rollback()
        return stored

    client = app.test_client()

    def api(raw: str) -> Callable[[], Any]:
        def run() -> Any:
            answer = client.get(
                f"/api/v1/stats/summary?from={first}&to={last}", headers={"Authorization": f"Bearer {raw}"}
            )
            assert answer.status_code == 200, (answer.status_code, answer.get_data(as_text=True)[:300])
            return answer

        return run

    split = Split()
    out: dict[str, Any] = {"sizes": sizes, "window": [first, last]}
    with timers(split, db.engine):
        view = page("coordinator", None)()
        out["tables_network"] = len(view.tables)
        out["cells_network"] = sum(len(t.shown) for t in view.tables.values())
        out["suppressed_network"] = sum(v is None for t in view.tables.values() for v in t.shown.values())
        national_view = page("national", None)()
        out["tables_national"] = len(national_view.tables)
        out["cells_national"] = sum(len(t.shown) for t in national_view.tables.values())
        out["suppressed_national"] = sum(v is None for t in national_view.tables.values() for v in t.shown.values())
        measured: dict[str, Any] = {}
        for name, fn in (
            ("network", page("coordinator", None)),
            ("national", page("national", None)),
            ("organization", page("admin", None)),
            ("network_snapshot", snapshot("coordinator")),
            ("national_snapshot", snapshot("national")),
            ("release", release),
            ("api_network", api(raw_network)),
            ("api_national", api(raw_national)),
        ):
            split.recording = name if name in ("network", "national") else None
            print(f"timing {name} ({args.runs} runs) ...", flush=True)
            measured[name] = measure(fn, split, args.runs)
            split.recording = None
        print("timing refresh (1 run) ...", flush=True)
        measured["refresh"] = measure(refresh, split, 1, warmups=0)
        out["snapshots_per_refresh"] = len(services.usual_windows(date.today())) * (len(GOVERNORATES) + 1)
        out["measured"] = measured
        out["slowest_statements"], out["explain"] = {}, {}
        for view_name in ("network", "national"):
            mine = sorted(
                ((statistics.median(v), s) for (w, s), v in split.statements.items() if w == view_name),
                key=lambda x: x[0],
                reverse=True,
            )
            out["slowest_statements"][view_name] = [{"median_ms": m * 1000, "sql": s} for m, s in mine[:6]]
            counts = [s for _m, s in mine if "row_number" not in s]  # not a quantile query
            for label, statement in (("slowest", mine[0][1]), ("slowest_count", counts[0])):
                out["explain"][f"{view_name}:{label}"] = {
                    "sql": statement,
                    "plan": explain(db.engine, statement, split.params[statement]),
                }
    return out


def report(
    args: argparse.Namespace, first: str, last: str, built: dict[str, float] | None, results: dict[str, Any]
) -> None:
    path = _common.write_results(
        "statistics",
        {
            "backend": "postgresql",
            "network": args.network,
            "runs": args.runs,
            "warmups": 2,
            "built_seconds": built,
            "targets_p95_ms": TARGETS_MS,
            **results,
        },
    )
    m = results["measured"]
    target: dict[str, int | None] = {
        "network": 200,
        "api_network": 200,
        "network_snapshot": 200,
        "national": 400,
        "api_national": 400,
        "national_snapshot": 400,
        "release": 5000,
        "organization": 200,
        "refresh": None,  # the worker's, in the background: no page waits for it
    }
    rows = []
    for name, r in m.items():
        s = r["split_median_ms"]
        goal = target[name]
        rows.append(
            [
                name,
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                "-" if goal is None else f"{goal}",
                "-" if goal is None else "yes" if r["p95_ms"] < goal else f"NO (+{r['p95_ms'] - goal:.0f} ms)",
                f"{s['count_table+quantiles']:.1f}",
                f"{s['driver_execute']:.1f}",
                f"{s['protect']:.1f}",
                f"{s['rest']:.1f}",
                str(r["statements"]),
            ]
        )
    sizes = results["sizes"]
    print(
        f"\n{sizes['cases']:,} cases ({sizes['cases_in_network']:,} in {args.network}), {sizes['referrals']:,} "
        f"referrals, {sizes['followups']:,} follow-ups; window {first}..{last} (compare: the 12 months before)"
    )
    print(
        f"network view: {results['tables_network']} tables, {results['cells_network']} cells, "
        f"{results['suppressed_network']} hidden; national: {results['tables_national']} tables, "
        f"{results['cells_national']} cells, {results['suppressed_national']} hidden"
    )
    print(
        _common.table(
            ["measure", "p50 ms", "p95 ms", "target", "met", "sql ms", "execute ms", "protect ms", "rest ms", "stmts"],
            rows,
        )
    )
    print("(split: medians; sql = inside count_table + quantiles, execute = the driver's part of it)")
    print(f"refresh: the worker's task storing {results['snapshots_per_refresh']} snapshots (every usual period)")
    for view_name in ("network", "national"):
        by = m[view_name]["sql_by_measure_median_ms"]
        print(f"\n{view_name}: SQL by measure (median ms): " + ", ".join(f"{k} {v:.0f}" for k, v in by.items()))
        print(f"{view_name}: slowest statements (median ms):")
        for s in results["slowest_statements"][view_name]:
            print(f"  {s['median_ms']:7.1f}  {' '.join(s['sql'].split())[:150]}")
    for key, found in results["explain"].items():
        twin = results["explain"][key.replace("slowest", "slowest_count")] if key.endswith(":slowest") else None
        if twin is not None and twin["sql"] == found["sql"]:
            continue
        print(f"\nEXPLAIN (ANALYZE, BUFFERS), {key}: {' '.join(found['sql'].split())[:400]}")
        print("\n".join("  " + line for line in found["plan"]))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
