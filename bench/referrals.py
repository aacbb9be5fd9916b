"""Latency of sending and accepting a referral through the JSON API, on the demo data.

    .venv/bin/python bench/referrals.py [--iterations 200] [--rounds 5]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/referrals.py

Seeds the demo network (`referral.demo.seed`: six governorate networks, their member
organisations and users, and the demo cases and referrals), then, in every round and through
the real request path (Flask's test client, a bearer token, JSON Schema validation, the
services, the audit events, notifications, response clocks, the commit at the request edge):

- untimed:  the Nablus social development caseworker (`nbl.mosd`) opens N cases with
            `POST /api/v1/cases` and records for each a consent covering the Nablus legal aid
            centre with `POST /api/v1/cases/{id}/consents`;
- create:   she refers each case there, `POST /api/v1/referrals` (created and sent at once);
- accept:   the centre's supervisor (`nbl.supervisor`, its focal point) accepts each,
            `POST /api/v1/referrals/{id}/accept`.

Every request is timed on its own (the test client builds the WSGI request in process: no
socket, no server). Reports p50, p95, p99 and the mean of each operation per round, and the
median of those over the rounds. Uses a temporary SQLite database unless BENCH_DATABASE_URL is
set; on PostgreSQL the database is created if absent (never `test`: the suite's), and the
benchmark works in a schema of its own that it drops at the end (unless --keep), because the
demo seeds only into an empty schema. Writes bench/results/referrals-*.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import bench_schema, case_body, drop_schema, summary, table, write_results
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from config import Settings
from referral import create_app
from referral.accounts.models import User
from referral.accounts.services import issue_token
from referral.demo import seed
from referral.extensions import db
from referral.runtime import runtime

SENDER = "nbl.mosd"
RECEIVER = "nbl.supervisor"
OPERATIONS = {
    "create": "POST /referrals (create and send)",
    "accept": "POST /referrals/{id}/accept",
}


# ---------------------------------------------------------------------------------- the work
def _post(client: FlaskClient, path: str, body: dict[str, Any], headers: dict[str, str], status: int) -> Any:
    response = client.post(path, json=body, headers=headers)
    if response.status_code != status:
        raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return response.get_json()


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start


def one_round(
    client: FlaskClient, sender: dict[str, str], receiver: dict[str, str], to_org: str, n: int, first: int
) -> dict[str, list[float]]:
    """N cases and consents (untimed), then N referrals sent and N accepted, each request timed."""
    prepared = []
    for i in range(first, first + n):
        case = _post(client, "/api/v1/cases", case_body(i), sender, 201)
        consent = _post(
            client,
            f"/api/v1/cases/{case['id']}/consents",
            {
                "organization_ids": [to_org],
                "field_groups": ["identity", "contact"],
                "method": "verbal",
                "purpose": "الإحالة لتلقي الخدمة",
            },
            sender,
            201,
        )
        prepared.append((case["id"], consent["id"]))
    samples: dict[str, list[float]] = {"create": [], "accept": []}
    sent: list[str] = []
    for case_id, consent_id in prepared:
        body = {
            "case_id": case_id,
            "to_organization_id": to_org,
            "priority": "urgent",
            "reason": "طلب استشارة قانونية في قضية نفقة.",
            "field_groups": ["identity", "contact"],
            "consent_id": consent_id,
        }
        samples["create"].append(
            _timed(lambda body=body: sent.append(_post(client, "/api/v1/referrals", body, sender, 201)["id"]))
        )
    for referral_id in sent:
        path = f"/api/v1/referrals/{referral_id}/accept"
        samples["accept"].append(_timed(lambda path=path: _post(client, path, {}, receiver, 200)))
    return samples


# ---------------------------------------------------------------------------------- figures
def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95, p99 (inclusive method: within the observed range) and the mean, in ns."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "mean": statistics.fmean(samples)}


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.1f} ms"


# ---------------------------------------------------------------------------------- setup
def _tokens(app: Flask) -> tuple[dict[str, str], dict[str, str], str, float]:
    """Seed the demo; returns the sender's and receiver's headers, the receiving org, seed time."""
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        began = time.perf_counter()
        seed(db.session, runtime())
        db.session.commit()
        seeded_in = time.perf_counter() - began
        users = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_([SENDER, RECEIVER])))}
        _, sender = issue_token(db.session, users[SENDER], days=1)
        _, receiver = issue_token(db.session, users[RECEIVER], days=1)
        to_org = users[RECEIVER].organization_id
        db.session.commit()
        db.session.remove()
    return {"Authorization": f"Bearer {sender}"}, {"Authorization": f"Bearer {receiver}"}, to_org, seeded_in


# ---------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200, help="referrals sent and accepted per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the median of each figure is reported)")
    parser.add_argument("--warmup", type=int, default=20, help="referrals sent and accepted before measuring")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's schema (BENCH_DATABASE_URL only)")
    args = parser.parse_args()
    if args.iterations < 20:
        parser.error("--iterations must be at least 20 (a p95 needs them)")

    url = os.environ.get("BENCH_DATABASE_URL")
    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    schema = None
    if url:
        database_url, schema = bench_schema(url, "bench_referrals")
    else:
        database_url = f"sqlite:///{workdir / 'bench.db'}"
    settings = Settings.for_tests(database_url, workdir, log_level="WARNING")
    app = create_app(settings)
    backend = settings.database_url.split(":", 1)[0]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in OPERATIONS}
    try:
        sender, receiver, to_org, seeded_in = _tokens(app)
        print(f"seeded the demo network on {backend} in {seeded_in:.1f} s")
        client = app.test_client()
        done = 0
        if args.warmup:
            one_round(client, sender, receiver, to_org, args.warmup, done)
            done += args.warmup
        for _ in range(args.rounds):
            samples = one_round(client, sender, receiver, to_org, args.iterations, done)
            done += args.iterations
            for name, values in samples.items():
                rounds[name].append(percentiles(values))
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if url and schema and not args.keep:
            drop_schema(url, schema)
        shutil.rmtree(workdir, ignore_errors=True)

    figures = {
        name: {stat: statistics.median(r[stat] for r in per_round) for stat in ("p50", "p95", "p99", "mean")}
        for name, per_round in rounds.items()
    }
    rows = []
    p95s = {name: [r["p95"] for r in per_round] for name, per_round in rounds.items()}
    for name, label in OPERATIONS.items():
        rows.append(
            [
                label,
                _ms(figures[name]["p50"]),
                _ms(figures[name]["p95"]),
                _ms(figures[name]["p99"]),
                _ms(figures[name]["mean"]),
                f"{_ms(min(p95s[name]))} – {_ms(max(p95s[name]))}",
            ]
        )
    print(
        f"{SENDER} refers to the Nablus legal aid centre, {RECEIVER} accepts; "
        f"median over {args.rounds} rounds of {args.iterations} requests each"
    )
    print(table(["operation", "p50", "p95", "p99", "mean", "p95 range over rounds"], rows))
    path = write_results(
        "referrals",
        {
            "backend": backend,
            "iterations": args.iterations,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "seeded_seconds": round(seeded_in, 2),
            "sender": SENDER,
            "receiver": RECEIVER,
            "operations": {
                name: {
                    "label": OPERATIONS[name],
                    **{f"{stat}_ns": value for stat, value in figures[name].items()},
                    "p95_over_rounds": {f"{k}_ns" if k != "rounds" else k: v for k, v in summary(p95s[name]).items()},
                    "rounds_ns": rounds[name],
                }
                for name in OPERATIONS
            },
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
