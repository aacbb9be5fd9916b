"""How fast the audit chain is verified (goal: at least 100,000 events per second), and sealed.

    .venv/bin/python bench/audit_verify.py [--events 200000] [--rounds 5]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_audit .venv/bin/python bench/audit_verify.py

Fills the audit table with realistic events (what `record()` writes for case views, referral
transitions and sign-ins: ids, codes, a route and request id, a small `details` object) up to
`--events`, seals them (timed: events per second in batches of 1,000 with a checkpoint), then
runs the full verifier (`referral.audit.chain.verify`: every event read in position order,
re-encoded, re-hashed, every checkpoint's signature checked) `--rounds` times and reports the
median rate. Uses a temporary SQLite database unless BENCH_DATABASE_URL is set; on PostgreSQL
the database is created if absent (never `test`), migrated to head, and reused by later runs:
the audit trail is append-only, so its events stay. Writes bench/results/audit_verify-*.json.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import ensure_database, summary, table, write_results
from sqlalchemy import func, select

from config import Settings
from referral import create_app
from referral.audit import chain, checkpoints
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.models_base import new_id, utcnow

GOAL = 100_000  # events per second
ACTIONS = (
    ("case.view", "case", {}),
    ("case.update", "case", {"fields": 3}),
    ("referral.accept", "referral", {"case_id": "x"}),
    ("referral.view", "referral", {"case_id": "x"}),
    ("auth.login", None, {}),
    ("followup.complete", "followup", {"referral_id": "x"}),
)
ROUTES = ("cases.view", "api.get_case", "referrals.accept", "auth.login", "followups.complete")


def fill(total: int, rng: random.Random) -> int:
    """Insert events until the table holds `total`; returns how many were added."""
    have = db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    users = [(new_id(), rng.choice(("caseworker", "supervisor")), new_id()) for _ in range(200)]
    start = utcnow() - timedelta(days=30)
    table_ = AuditEvent.__table__
    added = 0
    while have + added < total:
        chunk = []
        for _ in range(min(10_000, total - have - added)):
            action, object_type, details = rng.choice(ACTIONS)
            actor, role, org = rng.choice(users)
            n = have + added + len(chunk)
            chunk.append(
                {
                    "event_id": new_id(),
                    "occurred_at": start + timedelta(milliseconds=n * 13),
                    "action": action,
                    "outcome": "success",
                    "actor_id": actor,
                    "actor_role": role,
                    "actor_organization_id": org,
                    "organization_id": org,
                    "object_type": object_type,
                    "object_id": new_id() if object_type else None,
                    "case_code": f"NBL-2026-{rng.randrange(10**6):06d}" if object_type else None,
                    "route": rng.choice(ROUTES),
                    "request_id": f"{rng.getrandbits(64):016x}",
                    "reason": None,
                    "details": {k: (new_id() if v == "x" else v) for k, v in details.items()},
                }
            )
        db.session.execute(table_.insert(), chunk)
        db.session.commit()
        added += len(chunk)
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events in the chain (default 200,000)")
    parser.add_argument("--rounds", type=int, default=5, help="full verifications (the median is reported)")
    parser.add_argument("--seed", type=int, default=18_2013, help="random seed of the data")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        ensure_database(url)
    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    database_url = url or f"sqlite:///{workdir / 'bench.db'}"
    settings = Settings.for_tests(database_url, workdir, log_level="WARNING")
    if url:  # the same signing key on every run, so that earlier checkpoints still verify
        key_file = workdir.parent / "shabaka-bench-audit-signing-key"
        if not key_file.exists():
            key_file.write_bytes(settings.audit_signing_key or b"")
        settings = Settings.for_tests(
            database_url, workdir, log_level="WARNING", audit_signing_key=key_file.read_bytes()
        )
    app = create_app(settings)
    backend = settings.database_url.split(":", 1)[0]
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            began = time.perf_counter()
            added = fill(args.events, random.Random(args.seed))
            print(f"added {added} events on {backend} in {time.perf_counter() - began:.1f} s")

            began = time.perf_counter()
            sealed = chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)
            seal_s = time.perf_counter() - began
            seal_rate = sealed.sealed / seal_s if sealed.sealed else None
            if sealed.sealed:
                print(f"sealed {sealed.sealed} events in {seal_s:.1f} s ({seal_rate:,.0f} events/s)")

            result = chain.verify(db.session)
            db.session.rollback()
            assert result.ok, result
            samples: list[float] = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                again = chain.verify(db.session)
                samples.append(time.perf_counter() - began)
                db.session.rollback()
                assert again.ok and again.checked == result.checked
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    median = statistics.median(samples)
    rate = result.checked / median
    rows = [
        ["verify (full chain)", f"{result.checked:,}", f"{median:.2f} s", f"{rate:,.0f}/s", f"{rate / GOAL:.2f}x goal"],
    ]
    if seal_rate:
        rows.append(["seal (1,000 a batch)", f"{sealed.sealed:,}", f"{seal_s:.2f} s", f"{seal_rate:,.0f}/s", ""])
    print(table(["what", "events", "median time", "rate", ""], rows))
    payload: dict[str, Any] = {
        "backend": backend,
        "events": result.checked,
        "checkpoints": result.checkpoints_checked,
        "goal_events_per_second": GOAL,
        "verify_seconds": summary(samples),
        "verify_events_per_second": rate,
        "seal_events_per_second": seal_rate,
    }
    print(f"results: {write_results('audit_verify' + ('_postgres' if url else ''), payload)}")


if __name__ == "__main__":
    main()
