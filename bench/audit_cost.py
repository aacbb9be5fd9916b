"""The cost of the audit write on a case list and a case view, at 8 concurrent clients.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_audit_cost \\
        .venv/bin/python bench/audit_cost.py [--clients 8] [--requests 100] [--rounds 5]

Seeds the demo network in a schema of its own, and through the API the Nablus social
development caseworker (`nbl.mosd`) opens --cases case files (identifying and confidential
fields filled, so each list and view decrypts as in real use). Then it serves the application
twice with gunicorn as `make run` does (2 workers x 4 threads each), from the same database:

- audited:   the application as it is: each request writes its audit event (`case.list`,
             `case.view`) in its own transaction and commits it;
- no audit:  the same application with the audit write (`audit.services.write`) made a no-op
             (`bench/_bench_app.py`, BENCH_AUDIT_OFF): the same queries and commit, no audit write;

while a sealer process chains the new events every 5 seconds as the worker does in production. In
each round, for each request (`GET /api/v1/cases?limit=50`, the newest 50 of her cases, and
`GET /api/v1/cases/{id}`, one of them), --clients threads with keep-alive connections send
--requests requests each to one server and then to the other (the order alternates by
round). Reports per request and mode the median over rounds of the mean and p95 latency and the
throughput, and the ratio audited / no audit of the mean latency (goal: at most 1.3).

PostgreSQL only (the goal is about its commit path); without BENCH_DATABASE_URL it says so and
stops. The database is created if absent (never `test`); the schema is dropped at the end
unless --keep. Writes bench/results/audit_cost-*.json.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT, bench_schema, case_body, drop_schema, table, write_results
from sqlalchemy import func, select

from config import Settings
from referral import create_app
from referral.accounts.models import User
from referral.accounts.services import issue_token
from referral.audit import chain
from referral.audit.models import AuditEvent
from referral.demo import seed
from referral.extensions import db
from referral.runtime import runtime

GOAL = 1.3
USER = "nbl.mosd"
ROUTES = {"case list": "/api/v1/cases?limit=50", "case view": "/api/v1/cases/{id}"}
MODES = ("audited", "no audit")
SEAL_EVERY = 5.0


# ---------------------------------------------------------------------------------- setup
def prepare(settings: Settings, cases: int) -> tuple[str, list[str]]:
    """Migrate, seed the demo, open the cases; returns the caseworker's token and the case ids."""
    app = create_app(settings)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        seed(db.session, runtime())
        db.session.commit()
        worker = db.session.scalars(select(User).where(User.username == USER)).one()
        _, token = issue_token(db.session, worker, days=1)
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        ids = []
        for i in range(cases):
            response = client.post("/api/v1/cases", json=case_body(i), headers=headers)
            if response.status_code != 201:
                answer = response.get_data(as_text=True)[:300]
                raise SystemExit(f"could not open a case: {response.status_code} {answer}")
            ids.append(response.get_json()["id"])
        db.session.remove()
        db.engine.dispose()
    return token, ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    mode: str
    port: int
    process: subprocess.Popen[bytes]


def server_env(settings: Settings, instance: Path) -> dict[str, str]:
    """The environment of a process serving (or sealing for) the benchmark's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFERRAL_", "CELERY_", "BENCH_"))}
    env.pop("REDIS_URL", None)
    env.update(
        REFERRAL_ENV="development",
        REFERRAL_INSTANCE_PATH=str(instance),
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        REFERRAL_ROOT_KEY=base64.b64encode(settings.root_key).decode(),
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
    )
    return env


def start_server(mode: str, settings: Settings, workdir: Path) -> Server:
    port = free_port()
    env = server_env(settings, workdir / f"instance-{port}")
    env["BENCH_AUDIT_OFF"] = "1" if mode == "no audit" else "0"
    log = (workdir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}"),
            *("--workers", "2", "--threads", "4", "--keep-alive", "30"),
            "_bench_app:create()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Server(mode, port, process)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    stop_server(Server(mode, port, process))
    raise SystemExit(f"the {mode} server did not start:\n" + (workdir / f"server-{port}.log").read_text()[-3000:])


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=30)


# ---------------------------------------------------------------------------------- the load
def _client(port: int, paths: list[str], token: str, start: threading.Barrier, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    start.wait()
    for path in paths:
        began = time.perf_counter_ns()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        out.append(time.perf_counter_ns() - began)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
    conn.close()


def load(server: Server, paths: list[list[str]], token: str) -> dict[str, float]:
    """Each client sends its paths one after another; all clients at once. Returns the mean and
    p95 latency (ms) and the throughput (requests/s)."""
    start = threading.Barrier(len(paths) + 1)
    samples: list[list[float]] = [[] for _ in paths]
    threads = [
        threading.Thread(target=_client, args=(server.port, mine, token, start, out), daemon=True)
        for mine, out in zip(paths, samples, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for out in samples for x in out)
    if len(every) != sum(len(p) for p in paths):
        raise SystemExit(f"a client failed against the {server.mode} server")
    return {
        "mean_ms": statistics.fmean(every) / 1e6,
        "p50_ms": every[len(every) // 2] / 1e6,
        "p95_ms": every[min(len(every) - 1, int(len(every) * 0.95))] / 1e6,
        "per_s": len(every) / elapsed,
    }


def paths_for(route: str, case_ids: list[str], clients: int, requests: int, offset: int) -> list[list[str]]:
    template = ROUTES[route]
    return [
        [template.format(id=case_ids[(offset + c * requests + i) % len(case_ids)]) for i in range(requests)]
        for c in range(clients)
    ]


def start_sealer(settings: Settings, workdir: Path) -> subprocess.Popen[bytes]:
    """A process of its own that chains the new audit events every few seconds, as the worker's
    `workers.seal_audit` does in production (not a thread here: it would take the clients' GIL)."""
    env = server_env(settings, workdir / "sealer-instance")
    log = (workdir / "sealer.log").open("wb")
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--sealer"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def seal_until_stopped() -> None:
    """The sealer process: seal every SEAL_EVERY seconds until SIGTERM, then once more."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    app = create_app()
    sealed = 0
    with app.app_context():
        while not stopping.wait(SEAL_EVERY):
            sealed += chain.seal(db.session, db.session.commit, wait=False).sealed
        sealed += chain.seal(db.session, db.session.commit, wait=False).sealed
    print(f"sealed {sealed}", flush=True)


def audit_events(settings: Settings) -> int:
    app = create_app(settings)
    with app.app_context():
        count = int(db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        db.session.remove()
        db.engine.dispose()
    return count


# ---------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=100, help="requests per client per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the median of each figure is reported)")
    parser.add_argument("--cases", type=int, default=60, help="case files the caseworker opens")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's schema")
    parser.add_argument("--sealer", action="store_true", help=argparse.SUPPRESS)  # the sealer process
    args = parser.parse_args()
    if args.sealer:
        seal_until_stopped()
        return

    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        print("audit cost skipped: set BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_audit_cost")
        write_results("audit_cost", {"skipped": "BENCH_DATABASE_URL is not a PostgreSQL database"})
        return
    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    database_url, schema = bench_schema(url, "bench_audit_cost")
    settings = Settings.for_tests(database_url, workdir, log_level="WARNING")
    servers: list[Server] = []
    sealer: subprocess.Popen[bytes] | None = None
    figures: dict[str, dict[str, list[dict[str, float]]]] = {r: {m: [] for m in MODES} for r in ROUTES}
    try:
        token, case_ids = prepare(settings, args.cases)
        print(f"seeded the demo and {len(case_ids)} cases of {USER}; serving both modes with gunicorn (2 x 4)")
        servers = [start_server(mode, settings, workdir) for mode in MODES]
        sealer = start_sealer(settings, workdir)
        before = audit_events(settings)
        for server in servers:  # warm both: connections, key caches, prepared statements
            for route in ROUTES:
                load(server, paths_for(route, case_ids, args.clients, 10, 0), token)
        for number in range(args.rounds):
            for route in ROUTES:
                order = servers if number % 2 == 0 else servers[::-1]
                for server in order:
                    offset = number * args.clients * args.requests
                    result = load(server, paths_for(route, case_ids, args.clients, args.requests, offset), token)
                    figures[route][server.mode].append(result)
            line = ", ".join(
                f"{route} {figures[route]['audited'][-1]['mean_ms'] / figures[route]['no audit'][-1]['mean_ms']:.2f}x"
                for route in ROUTES
            )
            print(f"round {number + 1}: {line}")
        written = audit_events(settings) - before
    finally:
        for server in servers:
            stop_server(server)
        if sealer is not None:
            sealer.terminate()
            sealer.wait(timeout=120)
        if not args.keep:
            drop_schema(url, schema)
        shutil.rmtree(workdir, ignore_errors=True)

    results: dict[str, Any] = {
        "backend": "postgresql",
        "clients": args.clients,
        "requests_per_client": args.requests,
        "rounds": args.rounds,
        "server": "gunicorn --workers 2 --threads 4",
        "audit_events_written": written,
        "goal_ratio": GOAL,
        "routes": {},
    }
    rows = []
    for route, by_mode in figures.items():
        medians = {
            mode: {k: statistics.median(r[k] for r in rounds) for k in ("mean_ms", "p50_ms", "p95_ms", "per_s")}
            for mode, rounds in by_mode.items()
        }
        ratios = [a["mean_ms"] / b["mean_ms"] for a, b in zip(by_mode["audited"], by_mode["no audit"], strict=True)]
        ratio = statistics.median(ratios)
        results["routes"][route] = {
            "path": ROUTES[route],
            **{mode: values for mode, values in medians.items()},
            "ratio_per_round": ratios,
            "ratio": ratio,
            "meets_goal": ratio <= GOAL,
        }
        for mode in MODES:
            m = medians[mode]
            label = f"{route}, {mode}"
            ratio_cell = f"{ratio:.2f}x" if mode == "audited" else ""
            latencies = [f"{m[k]:.2f} ms" for k in ("mean_ms", "p50_ms", "p95_ms")]
            rows.append([label, *latencies, f"{m['per_s']:.0f}", ratio_cell])
    print(f"\n{args.clients} concurrent clients, medians over {args.rounds} rounds; audit events written: {written:,}")
    print(table(["request", "mean", "p50", "p95", "requests/s", "audited / no audit"], rows))
    for route, values in results["routes"].items():
        verdict = "meets" if values["meets_goal"] else "MISSES"
        print(f"{route}: {values['ratio']:.2f}x: {verdict} the goal of {GOAL}x")
    print(f"results: {write_results('audit_cost', results)}")
    print(json.dumps({r: round(v["ratio"], 3) for r, v in results["routes"].items()}))


if __name__ == "__main__":
    main()
