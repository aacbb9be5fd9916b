"""The statistics at the reference size: the page, the national view, a release, the API.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_stats \\
        .venv/bin/python bench/stats_reference.py [--cases 200000] [--referrals 400000] [--runs 15] [--keep] [--reuse]

PostgreSQL only. Migrates the schema to head and loads the reference data set with
`bench/dataset.py`'s builder (see there): 6 networks (tubas, hebron, jericho, tulkarm,
qalqilya, nablus) of 20 member organisations each (a few large, many small; main sectors skewed
towards psychosocial and social work), their staff and coordinators, 1 to 3 services per
organisation; N cases over the last 36 months with realistic statistical columns (about 90%
consenting to statistics, about 60% closed); M referrals inside each network in every state,
some to services, some external; follow-ups, audit events and the rest in the data set's
proportions. The statistics never read the encrypted columns, but they hold real ciphertext.
A data set of the same numbers built by `bench/dataset.py --scale full` is reused (--reuse).

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

The data set stays with --keep (then --reuse skips the build next time); without --keep a
data set built by this run is emptied at the end (one it reused stays). Refuses the database `test`. Writes
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
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import _common  # (by module: when this file is imported in place of `statistics`, it is half-loaded)
import dataset
from sqlalchemy import event

from referral import create_app
from referral.enums import GOVERNORATES
from referral.extensions import db

TARGETS_MS = {"network": 200.0, "national": 400.0, "release": 5000.0}


def has_data(url: str, cases: int, referrals: int) -> bool:
    """Whether the database holds the reference data set of this size (built by either script)."""
    import psycopg

    with psycopg.connect(_common._libpq(url)) as conn:
        c = conn.execute("SELECT count(*) FROM case_file").fetchone()[0]
        r = conn.execute("SELECT count(*) FROM referral").fetchone()[0]
        n = conn.execute("SELECT count(*) FROM network WHERE case_prefix = ANY(%s)", (list(dataset.PREFIXES.values()),))
        return c == cases and r == referrals and n.fetchone()[0] == len(dataset.PREFIXES)


def scale_for(cases: int, referrals: int) -> dataset.Scale:
    """The data set's proportions around these numbers of cases and referrals."""
    full = dataset.SCALES["full"]
    return dataset.Scale(
        "statistics",
        cases,
        referrals,
        followups=round(full.followups * cases / full.cases),
        audit_events=round(full.audit_events * cases / full.cases),
        users=round(full.users * cases / full.cases),
    )


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
    month = date(today.year, today.month, 1)
    first, last = dataset.add_months(month, -n), dataset.add_months(month, -1)
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
    settings = dataset.settings(url, workdir)
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
            dataset.empty(url)
            print(f"building {args.cases:,} cases, {args.referrals:,} referrals on PostgreSQL")
            began = time.perf_counter()
            world = dataset.build(url, scale_for(args.cases, args.referrals), random.Random(args.seed), now)
            built = world.took
            print(f"built in {time.perf_counter() - began:.1f} s")
        with app.app_context():
            results = run_all(app, args, first, last)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if built is not None and not args.keep:  # a data set it reused is someone else's: it stays
            dataset.empty(url)
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
