"""Every page of the working day at the reference size: the whole request and each statement it runs.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_perf \\
        .venv/bin/python bench/page_profile.py [--requests 30] [--explain] [--only case_list,inbox]

PostgreSQL only. Runs on the data set `bench/stats_reference.py --keep` leaves behind (200,000
cases, 400,000 referrals, 200,000 follow-ups) and adds, once, what the pages need and that data
set leaves out (kept for the next run): a supervisor and an auditor, the case teams (each case's
owner on its team), the receiving caseworker on the referrals her organisation took on, 2,000,000
audit events (ten per case, 2% of them refused attempts), and sign-in details for the users
timed here (a known password and TOTP secret).

Then, through the Flask test client signed in as the largest organisation's caseworker (or its
supervisor, or an auditor), after 3 warm-ups, --requests requests per page: the whole request's
p50 and p95, the number of statements it ran and their time. With --explain, the slowest
read of each page is explained (EXPLAIN (ANALYZE, BUFFERS), the same SQL and parameters).
Writes bench/results/page_profile-*.json.
"""

# ruff: noqa: E402  (the application's folder goes on sys.path first, as _common does)
from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import _common
import pyotp
from sqlalchemy import event, func, select, text

from config import Settings
from referral import create_app
from referral.extensions import db

PASSWORD = "bench-profile-Passw0rd!"  # noqa: S105  (fictional users of a bench database)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105  fixed, so a rerun signs in the same users
# A fixed root key: the data keys the extras wrap stay readable on the next run.
ROOT_KEY = hashlib.sha256(b"shabaka bench page profile").digest()
READ_TARGET_MS, WRITE_TARGET_MS = 50.0, 80.0


# ---------------------------------------------------------------------------------- extras
EXTRAS_SQL = [
    # a supervisor for every organisation, an auditor
    """INSERT INTO user_account (id, organization_id, network_id, role, username, locale, active, password_hash,
                                 password_changed_at, must_change_password, created_at)
       SELECT gen_random_uuid(), organization_id, NULL, 'supervisor', replace(username, 'caseworker', 'supervisor'),
              'ar', true, password_hash, now(), false, now()
       FROM user_account WHERE role = 'caseworker'""",
    """INSERT INTO user_account (id, organization_id, network_id, role, username, locale, active, password_hash,
                                password_changed_at, must_change_password, created_at)
       SELECT gen_random_uuid(), organization_id, NULL, 'auditor', 'bench_auditor_1', 'ar', true, password_hash,
              now(), false, now()
       FROM user_account WHERE username = 'bench_coordinator_national'""",
    # each case's owner is on its team
    """INSERT INTO case_member (id, case_id, user_id, role, added_at)
       SELECT gen_random_uuid(), id, owner_id, 'owner', opened_at FROM case_file""",
    # the receiving caseworker works on the referrals her organisation took on
    """UPDATE referral r SET assigned_to = u.id FROM user_account u
       WHERE u.organization_id = r.to_organization_id AND u.role = 'caseworker'
         AND r.state IN ('accepted', 'in_progress', 'completed', 'closed_unresolved')""",
    # ten audit events per case over its first months, some of them refused attempts
    """INSERT INTO audit_event (event_id, occurred_at, action, outcome, actor_id, actor_role, actor_organization_id,
                                organization_id, object_type, object_id, case_code, details)
       SELECT gen_random_uuid(), c.opened_at + random() * interval '90 days',
              CASE WHEN random() < 0.02 THEN 'access.denied'
                   ELSE (ARRAY['case.view', 'case.update', 'referral.view', 'followup.view',
                               'case.step'])[1 + floor(random() * 5)::int] END,
              'success', c.owner_id, 'caseworker', c.organization_id, c.organization_id, 'case_file', c.id::text,
              c.case_code, '{}'
       FROM case_file c CROSS JOIN generate_series(1, 10)""",
]


def add_extras(url: str) -> None:
    import psycopg

    with psycopg.connect(_common._libpq(url)) as conn:
        if conn.execute("SELECT 1 FROM user_account WHERE username = 'bench_auditor_1'").fetchone():
            return
        print("adding the teams, assignments and 2,000,000 audit events (once) ...", flush=True)
        began = time.perf_counter()
        for statement in EXTRAS_SQL:
            conn.execute(statement)
        conn.commit()
    with psycopg.connect(_common._libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  added in {time.perf_counter() - began:.1f} s", flush=True)


def enrol(usernames: list[str]) -> None:
    """A known password and TOTP secret for the users the pages are timed as."""
    from referral.accounts.models import User
    from referral.models_base import utcnow
    from referral.runtime import runtime

    hashed = runtime().passwords.hash(PASSWORD)
    for user in db.session.scalars(select(User).where(User.username.in_(usernames))):
        user.password_hash = hashed
        user.must_change_password = False
        user.totp_secret = TOTP_SECRET
        user.totp_enrolled_at = utcnow()
        user.totp_last_step = None
    db.session.commit()


# ---------------------------------------------------------------------------------- capture
@dataclass
class Statement:
    sql: str
    params: Any
    ms: float


@dataclass
class Capture:
    statements: list[Statement] = field(default_factory=list)
    on: bool = False


@contextmanager
def captured(engine: Any) -> Iterator[Capture]:
    """Every statement the engine runs while `on`, with its parameters and time."""
    cap = Capture()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if cap.on:
            took = (time.perf_counter() - conn.info.pop("bench_started")) * 1000
            cap.statements.append(Statement(statement, parameters, took))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield cap
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def sign_in(client: Any, username: str) -> None:
    import re

    def token(path: str) -> str:
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True))
        assert found, path
        return found.group(1)

    done = client.post("/login", data={"csrf_token": token("/login"), "username": username, "password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login/mfa"), done.status_code
    code = pyotp.TOTP(TOTP_SECRET).now()
    done = client.post("/login/mfa", data={"csrf_token": token("/login/mfa"), "code": code})
    assert done.status_code == 302, done.get_data(as_text=True)[:300]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def explain(statement: Statement) -> str:
    with db.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        conn.rollback()
    return plan


# ---------------------------------------------------------------------------------- pages
@dataclass(frozen=True)
class Page:
    name: str
    who: str  # caseworker, supervisor, receiver, auditor
    path: Callable[[dict[str, Any]], str]
    method: str = "GET"
    form: Callable[[dict[str, Any], int], dict[str, Any]] | None = None


PAGES = [
    Page("case_list", "caseworker", lambda s: "/cases"),
    Page("case_list_supervisor", "supervisor", lambda s: "/cases"),
    Page("inbox", "receiver_supervisor", lambda s: "/referrals?box=inbox"),
    Page("inbox_caseworker", "receiver", lambda s: "/referrals?box=inbox"),
    Page("case_view", "caseworker", lambda s: f"/cases/{s['case_id']}"),
    Page("referral_view", "receiver_supervisor", lambda s: f"/referrals/{s['referral_id']}"),
    Page("home", "caseworker", lambda s: "/"),
    Page("home_supervisor", "supervisor", lambda s: "/"),
    Page("my_day", "caseworker", lambda s: "/followups"),
    Page("audit_search_case_code", "auditor", lambda s: f"/audit?case_code={s['case_code']}"),
    Page("audit_case_history", "auditor", lambda s: f"/audit/cases/{s['case_code']}"),
]


def sample(session: Any) -> dict[str, Any]:
    """The largest organisation of the largest network, its staff, a case of it with referrals
    and follow-ups, and the organisation that receives the most referrals from it."""
    from referral.accounts.models import User
    from referral.cases.models import Case
    from referral.followups.models import FollowUp
    from referral.referrals.models import Referral

    org_id = session.execute(
        select(Case.organization_id).group_by(Case.organization_id).order_by(func.count().desc()).limit(1)
    ).scalar_one()
    receiver = session.execute(
        select(Referral.to_organization_id)
        .where(Referral.from_organization_id == org_id, Referral.to_organization_id.is_not(None))
        .group_by(Referral.to_organization_id)
        .order_by(func.count().desc())
        .limit(1)
    ).scalar_one()
    case_id, case_code = session.execute(
        select(Case.id, Case.case_code)
        .where(
            Case.organization_id == org_id,
            Case.id.in_(select(Referral.case_id).where(Referral.to_organization_id == receiver)),
            Case.id.in_(select(FollowUp.case_id)),
        )
        .order_by(Case.opened_at.desc())
        .limit(1)
    ).one()
    referral_id = session.scalar(
        select(Referral.id).where(Referral.case_id == case_id, Referral.to_organization_id == receiver).limit(1)
    )

    def staff(org: str, role: str) -> str:
        return session.scalar(select(User.username).where(User.organization_id == org, User.role == role))

    return {
        "org_id": org_id,
        "case_id": case_id,
        "case_code": case_code,
        "referral_id": referral_id,
        "users": {
            "caseworker": staff(org_id, "caseworker"),
            "supervisor": staff(org_id, "supervisor"),
            "receiver": staff(receiver, "caseworker"),
            "receiver_supervisor": staff(receiver, "supervisor"),
            "auditor": "bench_auditor_1",
        },
    }


def profile(app: Any, args: argparse.Namespace) -> dict[str, Any]:
    with app.app_context():
        facts = sample(db.session)
        enrol(list(facts["users"].values()))
        engine = db.engine
    clients: dict[str, Any] = {}
    results: dict[str, Any] = {"sample": {k: v for k, v in facts.items() if k != "users"}, "pages": {}}
    only = set(args.only.split(",")) if args.only else None
    with captured(engine) as cap:
        for page in PAGES:
            if only and page.name not in only:
                continue
            if page.who not in clients:
                clients[page.who] = app.test_client()
                sign_in(clients[page.who], facts["users"][page.who])
            client, path = clients[page.who], page.path(facts)
            for _ in range(3):
                response = client.get(path)
                assert response.status_code == 200, (page.name, response.status_code)
            times, counts, sql_ms, slowest = [], [], [], None
            for _ in range(args.requests):
                cap.statements.clear()
                cap.on = True
                began = time.perf_counter()
                response = client.get(path)
                took = (time.perf_counter() - began) * 1000
                cap.on = False
                assert response.status_code == 200, (page.name, response.status_code)
                times.append(took)
                counts.append(len(cap.statements))
                sql_ms.append(sum(s.ms for s in cap.statements))
                reads = [s for s in cap.statements if s.sql.lstrip().upper().startswith("SELECT")]
                top = max(reads, key=lambda s: s.ms)  # (only a read is explained: ANALYZE runs it)
                if slowest is None or top.ms > slowest.ms:
                    slowest = top
            row = {
                "p50_ms": statistics.median(times),
                "p95_ms": percentile(times, 0.95),
                "statements": statistics.median(counts),
                "sql_ms": statistics.median(sql_ms),
                "slowest_ms": slowest.ms if slowest else None,
                "slowest_sql": " ".join(slowest.sql.split())[:400] if slowest else None,
            }
            if args.explain and slowest is not None:
                with app.app_context():
                    row["plan"] = explain(slowest)
            row["last_request"] = [(round(s.ms, 2), " ".join(s.sql.split())[:160]) for s in cap.statements]
            results["pages"][page.name] = row
            print(
                f"{page.name:<24} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                f"{row['statements']:4.0f} statements  sql {row['sql_ms']:6.1f} ms  "
                f"slowest {row['slowest_ms']:6.1f} ms",
                flush=True,
            )
            if args.statements:
                for took_ms, sql in row["last_request"]:
                    print(f"    {took_ms:7.2f} ms  {sql}")
            if args.explain:
                print("    " + row["slowest_sql"][:300])
                print("    " + row["plan"].replace("\n", "\n    "))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (after 3 warm-ups)")
    parser.add_argument("--explain", action="store_true", help="explain the slowest read of each page")
    parser.add_argument("--statements", action="store_true", help="print the statements of each page's last request")
    parser.add_argument("--only", default="", help="comma-separated page names")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        parser.error("BENCH_DATABASE_URL must name a PostgreSQL database (not `test`)")
    _common.ensure_database(url)  # refuses `test`
    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    settings = Settings.for_tests(url, workdir, log_level="WARNING", root_key=ROOT_KEY)
    app = create_app(settings)
    try:
        with app.app_context():
            if not db.session.execute(text("SELECT count(*) FROM case_file")).scalar():
                raise SystemExit("no data set: run bench/stats_reference.py --keep first")
        add_extras(url)
        results = profile(app, args)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    path = _common.write_results("page_profile", {"requests": args.requests, **results})
    print(f"wrote {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
