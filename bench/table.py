"""The reference table: every page and write users rely on, through HTTP, at the reference size.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_tbl \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/table.py [--scale full|small] [--runs 3] [--clients 4] [--only ROW]

Builds or reuses the reference data set (bench/dataset.py), then serves the application with
gunicorn as deployed (production settings, Redis sessions, 2 workers x 4 threads, keep-alive)
three times from the same database: the full application, (a) the cipher and the access policy
switched off and (b) the audit write switched off (bench/_bench_app.py). Every reader signs in
through the real login (password, then a TOTP code) once; her keep-alive clients share the
session. The writes go through the API with a bearer token, as the app's own clients do (the
forms' CSRF tokens would need a page fetch per write); the objects they need (cases with
consent, referrals sent, referrals accepted and started, meetings) are made in an untimed setup.

Rows: p50 and p95 (medians over --runs runs of --clients clients x --requests requests each)
against the targets of DESIGN.md (reads p95 < 50 ms, writes < 80 ms, statistics < 200 ms for a
network and < 400 ms nationally); for the case list and the case view the ratios full / (a) and
full / (b) of the mean latency at --ratio-clients (8) clients, in interleaved rounds (targets
1.15x and 1.3x); the reminder sweep with nothing due (< 5 ms) and 10,000 due reminders delivered
by one Celery worker on Redis (< 10 s, needs BENCH_REDIS_URL, a Redis database it flushes);
chain verification over the data set's audit trail (> 100,000 events/s); peak RSS per gunicorn
worker and per Celery worker; the database size per 100,000 cases.

The servers keep their sessions in BENCH_SESSION_REDIS_URL if set, else in BENCH_REDIS_URL (the
delivery flushes that database only after the servers have stopped).

Prints the table, writes bench/results/table-*.json and replaces the section "The reference
table" of docs/benchmarks.md (--no-docs leaves it alone).
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from _common import ROOT, bench_schema, case_body, machine, table, write_results

from referral.text import with_check_digit

READ_MS, WRITE_MS, NETWORK_STATS_MS, NATIONAL_STATS_MS = 50.0, 80.0, 200.0, 400.0
POLICY_CIPHER_GOAL, AUDIT_GOAL = 1.15, 1.3
SWEEP_GOAL_MS, DELIVERY_GOAL_S, VERIFY_GOAL = 5.0, 10.0, 100_000
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## The reference table"
MODES = {
    "full": {},
    "cipher+policy off": {"BENCH_CIPHER_OFF": "1", "BENCH_POLICY_OFF": "1"},
    "audit off": {"BENCH_AUDIT_OFF": "1"},
}


# ---------------------------------------------------------------------------------- HTTP
class Client:
    """One keep-alive connection carrying a signed-in user's cookies (or a bearer token)."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None, token: str | None = None) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies = cookies if cookies is not None else {}
        self.token = token

    def send(self, method: str, path: str, body: Any = None, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json" if self.token else "text/html"}
        data: bytes | None = None
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            data, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        for attempt in (1, 2):  # a keep-alive connection the server closed is opened again once
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, content

    def close(self) -> None:
        self.conn.close()


_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"|value="([^"]+)"[^>]*?name="csrf_token"')


def _csrf(page: bytes) -> str:
    found = _CSRF.search(page.decode(errors="replace"))
    if not found:
        raise RuntimeError("no CSRF token on the sign-in page")
    return html.unescape(found.group(1) or found.group(2))


def sign_in(port: int, username: str, password: str, totp_secret: str) -> dict[str, str]:
    """Sign in through the pages (password, then a TOTP code); returns the session's cookies.
    A code already used in this 30-second step is refused: then it waits for the next step."""
    import pyotp

    client = Client(port)
    try:
        status, page = client.send("GET", "/login")
        status, page = client.send(
            "POST", "/login", form={"csrf_token": _csrf(page), "username": username, "password": password}
        )
        if status != 302:
            raise RuntimeError(f"sign-in of {username}: password step answered {status}")
        for _ in range(3):
            status, page = client.send("GET", "/login/mfa")
            code = pyotp.TOTP(totp_secret).now()
            status, page = client.send("POST", "/login/mfa", form={"csrf_token": _csrf(page), "code": code})
            if status == 302:
                return dict(client.cookies)
            time.sleep(31 - time.time() % 30)  # the code of this step was used: the next one
        raise RuntimeError(f"sign-in of {username}: the TOTP step answered {status}")
    finally:
        client.close()


# ---------------------------------------------------------------------------------- rows
@dataclass
class Row:
    """One line of the table: who asks, what (a path per request), the target of its p95."""

    name: str
    kind: str  # "read" or "write"
    user: str  # the manifest sample's key of the user
    method: str
    target_ms: float
    make: Callable[[Fixture, int], list[tuple[str, Any]]] | None = None  # (path, body) per request, untimed
    path: str = ""  # a read's path, with {sample keys}
    ok: tuple[int, ...] = (200,)


@dataclass
class Fixture:
    """What the rows need: the data set's sample, the server, the signed-in readers, tokens."""

    sample: dict[str, Any]
    port: int
    password: str
    totp_secret: str
    tokens: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    counter: int = 0

    def cookies_of(self, user_key: str) -> dict[str, str]:
        if user_key not in self.cookies:
            self.cookies[user_key] = sign_in(self.port, self.sample[user_key], self.password, self.totp_secret)
        return self.cookies[user_key]

    def api(self, user_key: str, method: str, path: str, body: Any, expect: int) -> Any:
        client = Client(self.port, token=self.tokens[user_key])
        try:
            status, content = client.send(method, path, body=body)
        finally:
            client.close()
        if status != expect:
            raise RuntimeError(f"setup {method} {path}: {status} {content[:300]!r}")
        return json.loads(content)


def _reads(path: str) -> Callable[[Fixture, int], list[tuple[str, Any]]]:
    def make(fx: Fixture, n: int) -> list[tuple[str, Any]]:
        return [(path.format(**{k: quote(str(v)) for k, v in fx.sample.items()}), None)] * n

    return make


def _case_views(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    """The caseworker's own cases, round robin (the sample case first)."""
    ids = fx.ids.get("case_view_ids") or [fx.sample["case_id"]]
    return [(f"/cases/{ids[i % len(ids)]}", None) for i in range(n)]


def _api_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_cases(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    out = []
    for _ in range(n):
        fx.counter += 1
        body = case_body(fx.counter)
        body["national_id"] = with_check_digit(f"7{fx.counter % 10**7:07d}")
        body["governorate"] = fx.sample["network"]
        out.append(("/api/v1/cases", body))
    return out


def _consented_cases(fx: Fixture, n: int) -> list[tuple[str, str]]:
    made = []
    for path, body in _new_cases(fx, n):
        case = fx.api("caseworker", "POST", path, body, 201)
        consent = fx.api(
            "caseworker",
            "POST",
            f"/api/v1/cases/{case['id']}/consents",
            {
                "organization_ids": [fx.sample["receiver_org_id"]],
                "field_groups": ["identity", "contact"],
                "method": "verbal",
                "purpose": "الإحالة لتلقي الخدمة",
            },
            201,
        )
        made.append((case["id"], consent["id"]))
    return made


def _new_referrals(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    return [
        (
            "/api/v1/referrals",
            {
                "case_id": case_id,
                "to_organization_id": fx.sample["receiver_org_id"],
                "priority": "urgent",
                "reason": "طلب استشارة قانونية في قضية نفقة.",
                "field_groups": ["identity", "contact"],
                "consent_id": consent_id,
            },
        )
        for case_id, consent_id in _consented_cases(fx, n)
    ]


def _sent_referrals(fx: Fixture, n: int) -> list[str]:
    return [fx.api("caseworker", "POST", path, body, 201)["id"] for path, body in _new_referrals(fx, n)]


def _to_accept(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    return [(f"/api/v1/referrals/{rid}/accept", {}) for rid in _sent_referrals(fx, n)]


def _to_complete(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    out = []
    for rid in _sent_referrals(fx, n):
        fx.api("receiver_supervisor", "POST", f"/api/v1/referrals/{rid}/accept", {}, 200)
        fx.api("receiver_supervisor", "POST", f"/api/v1/referrals/{rid}/start", {}, 200)
        out.append((f"/api/v1/referrals/{rid}/complete", {"outcome": "تلقت الاستشارة القانونية."}))
    return out


def _new_followups(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    due = _api_time(datetime.now(UTC) + timedelta(days=7))
    body = {"due_at": due, "kind": "call", "note": "الاتصال للاطمئنان على الخطة."}
    return [(f"/api/v1/cases/{fx.sample['case_id']}/followups", body)] * n


def _attendance(fx: Fixture, n: int) -> list[tuple[str, Any]]:
    out = []
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    for i in range(n):
        meeting = fx.api(
            "coordinator",
            "POST",
            "/api/v1/meetings",
            {
                "network": fx.sample["network"],
                "title": f"اجتماع الشبكة الشهري {i + 1}",
                "starts_at": _api_time(starts + timedelta(hours=i)),
                "agenda": [{"title": "الحالات العالقة", "minutes": 30}],
            },
            201,
        )
        body = {"organization_id": fx.sample["org_id"], "status": "attended", "representative": "منسقة الحالات"}
        out.append((f"/api/v1/meetings/{meeting['id']}/attendance", body))
    return out


ROWS: list[Row] = [
    Row("case list", "read", "caseworker", "GET", READ_MS, _reads("/cases")),
    Row("inbox", "read", "focal_point", "GET", READ_MS, _reads("/referrals?box=inbox")),
    Row("case view", "read", "caseworker", "GET", READ_MS, _case_views),
    Row("referral view", "read", "focal_point", "GET", READ_MS, _reads("/referrals/{referral_id}")),
    Row("my day", "read", "caseworker", "GET", READ_MS, _reads("/followups")),
    Row("audit search by case code", "read", "auditor", "GET", READ_MS, _reads("/audit?case_code={case_code}")),
    Row("audit case history", "read", "auditor", "GET", READ_MS, _reads("/audit/cases/{case_code}")),
    Row("statistics (network)", "read", "coordinator", "GET", NETWORK_STATS_MS, _reads("/statistics")),
    Row("statistics (national)", "read", "national_coordinator", "GET", NATIONAL_STATS_MS, _reads("/statistics")),
    Row("meeting page", "read", "coordinator", "GET", READ_MS, _reads("/coordination/meetings/{meeting_id}")),
    Row("create case", "write", "caseworker", "POST", WRITE_MS, _new_cases, ok=(201,)),
    Row("create referral", "write", "caseworker", "POST", WRITE_MS, _new_referrals, ok=(201,)),
    Row("accept", "write", "receiver_supervisor", "POST", WRITE_MS, _to_accept),
    Row("complete", "write", "receiver_supervisor", "POST", WRITE_MS, _to_complete),
    Row("add follow-up", "write", "caseworker", "POST", WRITE_MS, _new_followups, ok=(201,)),
    Row("record attendance", "write", "coordinator", "POST", WRITE_MS, _attendance, ok=(200, 201)),
]
RATIO_ROWS = ("case list", "case view")
SHOWN_COUNTS = (
    "network",
    "organization",
    "user_account",
    "case_file",
    "referral",
    "followup",
    "audit_event",
    "meeting",
)


# ---------------------------------------------------------------------------------- the load
def _percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _client_run(
    client: Client, row: Row, work: list[tuple[str, Any]], start: threading.Barrier, out: list[Any]
) -> None:
    start.wait()
    for path, body in work:
        began = time.perf_counter_ns()
        status, content = client.send(row.method, path, body=body)
        elapsed = time.perf_counter_ns() - began
        if status not in row.ok:
            out.append(RuntimeError(f"{row.method} {path}: {status} {content[:200]!r}"))
            return
        out.append(elapsed)


def load(port: int, row: Row, fx: Fixture, work: list[list[tuple[str, Any]]]) -> dict[str, float]:
    """Each client sends its requests one after another, all clients at once; returns the mean,
    p50 and p95 latency (ms) and the throughput."""
    if row.kind == "read":
        clients = [Client(port, cookies=fx.cookies_of(row.user)) for _ in work]
    else:
        clients = [Client(port, token=fx.tokens[row.user]) for _ in work]
    start = threading.Barrier(len(work) + 1)
    outs: list[list[Any]] = [[] for _ in work]
    threads = [
        threading.Thread(target=_client_run, args=(c, row, w, start, o), daemon=True)
        for c, w, o in zip(clients, work, outs, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for client in clients:
        client.close()
    failures = [x for o in outs for x in o if isinstance(x, Exception)]
    if failures:
        raise failures[0]
    every = [x / 1e6 for o in outs for x in o]
    return {
        "mean_ms": statistics.fmean(every),
        "p50_ms": _percentile(every, 0.50),
        "p95_ms": _percentile(every, 0.95),
        "per_s": len(every) / elapsed,
        "n": len(every),
    }


def _split(items: list[tuple[str, Any]], clients: int) -> list[list[tuple[str, Any]]]:
    return [items[c::clients] for c in range(clients)]


def measure_rows(
    fx: Fixture, rows: list[Row], runs: int, clients: int, requests: int, warmup: int = 2, alone: int = 20
) -> dict[str, dict[str, Any]]:
    """The measuring core: for each row, a warm-up and `runs` runs of `clients` x `requests`, then
    `runs` runs of one client alone x `alone` requests (the row's own time, without the wait for a
    CPU that concurrent clients on two cores add). A row that fails (a refusal, an error) is
    reported with its error, not left out."""
    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        assert row.make is not None
        entry: dict[str, Any] = {"kind": row.kind, "user": fx.sample.get(row.user), "target_ms": row.target_ms}
        try:
            per_run = []
            if row.kind == "read" and warmup:
                load(fx.port, row, fx, _split(row.make(fx, warmup * clients), clients))
            for _ in range(runs):
                work = row.make(fx, clients * requests)  # writes: their fresh objects, untimed
                per_run.append(load(fx.port, row, fx, _split(work, clients)))
            entry.update(
                {k: statistics.median(r[k] for r in per_run) for k in ("mean_ms", "p50_ms", "p95_ms", "per_s")}
            )
            entry["requests"] = sum(r["n"] for r in per_run)
            entry["meets_target"] = entry["p95_ms"] < row.target_ms
            entry["runs"] = per_run
            if alone:
                by_one = [load(fx.port, row, fx, [row.make(fx, alone)]) for _ in range(runs)]
                entry["alone"] = {k: statistics.median(r[k] for r in by_one) for k in ("p50_ms", "p95_ms")}
        except Exception as exc:  # the table says what failed, and goes on
            entry["error"] = f"{type(exc).__name__}: {exc}"[:400]
        results[row.name] = entry
        shown = f"p50 {entry['p50_ms']:.1f} ms, p95 {entry['p95_ms']:.1f} ms" if "p95_ms" in entry else entry["error"]
        if "alone" in entry:
            shown += f"; one client: p95 {entry['alone']['p95_ms']:.1f} ms"
        print(f"  {row.name}: {shown}", flush=True)
    return results


def measure_ratios(
    fx: Fixture, ports: dict[str, int], rows: list[Row], rounds: int, clients: int, requests: int
) -> dict[str, dict[str, Any]]:
    """Interleaved rounds against the three servers (the order turns each round); per round the
    ratio of the mean latency full / each switched-off server."""
    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        assert row.make is not None
        by_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in ports}
        for port in ports.values():  # warm every server: connections, caches, the cipher's memory
            load(port, row, fx, _split(row.make(fx, clients * 3), clients))
        names = list(ports)
        for number in range(rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            for mode in order:
                by_mode[mode].append(load(ports[mode], row, fx, _split(row.make(fx, clients * requests), clients)))
        entry: dict[str, Any] = {"clients": clients, "rounds": rounds}
        for mode, values in by_mode.items():
            entry[mode] = {k: statistics.median(v[k] for v in values) for k in ("mean_ms", "p50_ms", "p95_ms", "per_s")}
        for mode, goal in (("cipher+policy off", POLICY_CIPHER_GOAL), ("audit off", AUDIT_GOAL)):
            per_round = [f["mean_ms"] / o["mean_ms"] for f, o in zip(by_mode["full"], by_mode[mode], strict=True)]
            entry[f"full / {mode}"] = {
                "ratio": statistics.median(per_round),
                "per_round": per_round,
                "goal": goal,
                "meets_goal": statistics.median(per_round) <= goal,
            }
        results[row.name] = entry
        a, b = entry["full / cipher+policy off"]["ratio"], entry["full / audit off"]["ratio"]
        print(f"  {row.name}: full / (a) {a:.2f}x, full / (b) {b:.2f}x", flush=True)
    return results


# ---------------------------------------------------------------------------------- servers
@dataclass
class Server:
    mode: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, root_key: bytes, secret_key: str, redis_url: str, instance: Path) -> dict[str, str]:
    """Production settings, as deployed, with the rate limits lifted: a handful of machine
    clients from one address send far more than a working office would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFERRAL_", "CELERY_", "BENCH_"))}
    env.update(
        REFERRAL_ENV="production",
        REFERRAL_INSTANCE_PATH=str(instance),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secret_key,
        REFERRAL_ROOT_KEY=base64.b64encode(root_key).decode(),
        LOG_LEVEL="WARNING",
        RATE_LIMIT_PER_ADDRESS="100000000",
        RATE_LIMIT_PER_TOKEN="100000000",  # noqa: S106 - a rate, not a secret
        LOGIN_ATTEMPTS_PER_MINUTE="1000",
        LOGIN_ATTEMPTS_PER_MINUTE_PER_ADDRESS="100000",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
    )
    return env


def start_server(mode: str, env: dict[str, str], workdir: Path, workers: int = 2, threads: int = 4) -> Server:
    port = free_port()
    env = {**env, **MODES[mode]}
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}"),
                *("--workers", str(workers), "--threads", str(threads), "--keep-alive", "30"),
                "_bench_app:create()",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(mode, port, process, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
        finally:
            conn.close()
    stop_server(server)
    raise SystemExit(f"the {mode} server did not start:\n" + log.read_text(errors="replace")[-3000:])


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """The peak resident set (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


# ---------------------------------------------------------------------------------- in-process parts
def app_for(database_url: str, root_key: bytes, workdir: Path, signing_key: bytes | None = None) -> Any:
    """The application in this process (setup, tokens, the sweep, verification), holding the
    audit signing key the data set's checkpoints were signed with, when given, so that the
    verification trusts them and whatever this process seals is signed alike."""
    from referral import create_app

    return create_app(_settings(database_url, root_key, workdir, signing_key))


def _settings(database_url: str, root_key: bytes, workdir: Path, signing_key: bytes | None) -> Any:
    from config import Settings

    keys: dict[str, Any] = {"audit_signing_key": signing_key} if signing_key else {}
    return Settings.for_tests(database_url, workdir, log_level="WARNING", root_key=root_key, **keys)


def prepare_fixture(app: Any, fx: Fixture) -> None:
    """Bearer tokens for the writers, the receiving side's supervisor, the caseworker's cases."""
    from sqlalchemy import select

    from referral.accounts.models import User
    from referral.accounts.services import issue_token
    from referral.cases.models import Case, CaseMember
    from referral.extensions import db

    with app.app_context():
        if "receiver_supervisor" not in fx.sample:
            found = db.session.scalars(
                select(User.username)
                .where(User.organization_id == fx.sample["receiver_org_id"], User.role == "supervisor", User.active)
                .order_by(User.username)
            ).first()
            if found:
                fx.sample["receiver_supervisor"] = found
        for key in ("caseworker", "receiver_supervisor", "coordinator"):
            user = db.session.scalars(select(User).where(User.username == fx.sample.get(key, ""))).first()
            if user is not None:
                _, fx.tokens[key] = issue_token(db.session, user, days=1)
        worker_id = db.session.scalar(select(User.id).where(User.username == fx.sample["caseworker"]))
        ids = db.session.scalars(
            select(Case.id)
            .join(CaseMember, CaseMember.case_id == Case.id)
            .where(CaseMember.user_id == worker_id, Case.organization_id == fx.sample["org_id"])
            .order_by(Case.opened_at.desc())
            .limit(50)
        ).all()
        fx.ids["case_view_ids"] = [fx.sample["case_id"], *(i for i in ids if i != fx.sample["case_id"])]
        db.session.commit()


def caught_up(app: Any) -> int:
    """Mark sent the rungs that came due since the data set was built (as a worker that kept up
    would have sent them): the sweep is measured idle, and the delivery on rungs of its own.
    Returns how many there were."""
    from sqlalchemy import update

    from referral.extensions import db
    from referral.followups.models import ReminderStep
    from referral.models_base import utcnow

    with app.app_context():
        now = utcnow()
        done = db.session.execute(
            update(ReminderStep)
            .where(ReminderStep.state == "pending", ReminderStep.due_at <= now)
            .values(state="sent", claimed_at=now, sent_at=now)
        )
        db.session.commit()
        return int(done.rowcount or 0)


def idle_sweep(app: Any, rounds: int, repetitions: int) -> dict[str, Any]:
    import reminders

    from referral.models_base import utcnow

    with app.app_context():
        try:
            every, medians = reminders.time_sweeps(utcnow(), rounds, repetitions)
        except AssertionError as exc:
            return {"error": f"not idle: {exc}"}
    p95 = reminders.percentile(every, 95)
    return {
        "median_ms": statistics.median(medians),
        "p95_ms": p95,
        "goal_ms": SWEEP_GOAL_MS,
        "meets": p95 < SWEEP_GOAL_MS,
    }


def delivery(
    app: Any, database_url: str, root_key: bytes, network: str, workdir: Path, signing_key: bytes | None = None
) -> dict[str, Any]:
    """bench/reminders.py's delivery: 10,000 rungs due, one Celery worker (solo pool) on Redis;
    the worker's peak RSS is read just before it stops."""
    import reminders
    from sqlalchemy import select

    from referral.directory.models import Network
    from referral.extensions import db

    if not os.environ.get("BENCH_REDIS_URL"):
        return {"skipped": "BENCH_REDIS_URL is not set"}
    peak: list[float] = []
    stop = reminders.stop_worker

    def measured_stop(worker: subprocess.Popen[bytes]) -> None:
        peak.append(max([peak_rss_mb(worker.pid), *(peak_rss_mb(p) for p in children(worker.pid))]))
        stop(worker)

    reminders.stop_worker = measured_stop
    settings = _settings(database_url, root_key, workdir, signing_key)
    args = argparse.Namespace(steps=10_000, sweeps=1, profile=0, runs=1, timeout=300.0, seed=18_2013)
    try:
        with app.app_context():
            network_id = db.session.scalar(select(Network.id).where(Network.governorate == network))
            result = reminders.delivery(args, network_id, settings, app, workdir)
    except (SystemExit, AssertionError) as exc:
        return {"error": str(exc)[:400]}
    finally:
        reminders.stop_worker = stop
    result["worker_peak_rss_mb"] = peak[0] if peak else None
    return result


def verification(app: Any) -> dict[str, Any]:
    from referral.audit import chain
    from referral.extensions import db

    with app.app_context():
        began = time.perf_counter()
        result = chain.verify(db.session)
        seconds = time.perf_counter() - began
        db.session.rollback()
    rate = result.checked / seconds if seconds else 0.0
    return {
        "ok": result.ok,
        "events": result.checked,
        "seconds": seconds,
        "events_per_s": rate,
        "meets": rate > VERIFY_GOAL,
    }


def demo_data_set(app: Any, password: str, totp_secret: str) -> dict[str, Any]:
    """A tiny stand-in for the data set (the demo network, migrated and seeded into an empty
    database), for the harness's own test and for developing it: returns a sample as the
    manifest's, its users given `password` and enrolled with `totp_secret`."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from referral.accounts.models import User
    from referral.cases.models import Case, CaseMember
    from referral.coordination.models import Meeting
    from referral.demo import seed
    from referral.directory.models import Network
    from referral.extensions import db
    from referral.models_base import utcnow
    from referral.referrals.models import Referral
    from referral.runtime import runtime

    with app.app_context():
        upgrade()
        seed(db.session, runtime())
        db.session.commit()
        referral = db.session.scalars(
            select(Referral).where(
                Referral.state.in_(("sent", "accepted", "in_progress")), Referral.to_organization_id.is_not(None)
            )
        ).first()
        assert referral is not None, "the demo has no referral between organisations"
        case = db.session.get(Case, referral.case_id)
        worker = db.session.scalars(
            select(User)
            .join(CaseMember, CaseMember.user_id == User.id)
            .where(CaseMember.case_id == case.id, User.role == "caseworker")
        ).first()
        network = (
            db.session.scalars(select(Network).where(Network.governorate == case.governorate)).first()
            or db.session.scalars(select(Network)).first()
        )

        def one(*conditions: Any) -> User:
            found = db.session.scalars(select(User).where(*conditions).order_by(User.username)).first()
            assert found is not None
            return found

        users = {
            "caseworker": worker,
            "supervisor": one(User.organization_id == case.organization_id, User.role == "supervisor"),
            "focal_point": one(User.organization_id == referral.to_organization_id, User.role == "supervisor"),
            "coordinator": one(User.role == "coordinator", User.network_id == network.id),
            "national_coordinator": one(User.role == "coordinator", User.network_id.is_(None)),
            "auditor": one(User.role == "auditor"),
        }
        hashed = runtime().passwords.hash(password)
        for user in users.values():
            user.password_hash, user.must_change_password = hashed, False
            user.totp_secret, user.totp_enrolled_at, user.totp_last_step = totp_secret, utcnow(), None
        meeting = db.session.scalars(select(Meeting.id).where(Meeting.network_id == network.id)).first()
        sample = {key: user.username for key, user in users.items()}
        sample.update(
            network=network.governorate,
            org_id=case.organization_id,
            receiver_org_id=referral.to_organization_id,
            case_id=case.id,
            case_code=case.case_code,
            referral_id=referral.id,
            meeting_id=meeting,
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return sample


# ---------------------------------------------------------------------------------- the table
def _ms(value: float) -> str:
    return f"{value:,.1f}"


def render(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "row",
        "p50 ms",
        "p95 ms",
        "target",
        "",
        "p95 ms, one client",
        "full / (a) cipher+policy off",
        "full / (b) audit off",
    ]
    lines = []
    for name, entry in results["rows"].items():
        ratio = results.get("ratios", {}).get(name, {})
        cells = []
        for mode in ("cipher+policy off", "audit off"):
            r = ratio.get(f"full / {mode}")
            cells.append(f"{r['ratio']:.2f}x (< {r['goal']}x) {'pass' if r['meets_goal'] else 'MISS'}" if r else "")
        if "error" in entry:
            lines.append([name, "error", "", f"< {entry['target_ms']:.0f} ms", "MISS", "", *cells])
            continue
        verdict = "pass" if entry["meets_target"] else "MISS"
        alone = _ms(entry["alone"]["p95_ms"]) if "alone" in entry else ""
        target = f"< {entry['target_ms']:.0f} ms"
        lines.append([name, _ms(entry["p50_ms"]), _ms(entry["p95_ms"]), target, verdict, alone, *cells])
    extra = results.get("other", {})
    sweep = extra.get("idle_sweep")
    if sweep:
        if "error" in sweep:
            lines.append(["reminder sweep, nothing due", sweep["error"], "", "< 5 ms", "MISS", "", ""])
        else:
            v = "pass" if sweep["meets"] else "MISS"
            lines.append(
                ["reminder sweep, nothing due", _ms(sweep["median_ms"]), _ms(sweep["p95_ms"]), "< 5 ms", v, "", ""]
            )
    deliv = extra.get("delivery")
    if deliv:
        if "median_total_s" in deliv:
            v = "pass" if deliv["meets_goal"] else "MISS"
            lines.append(["10,000 reminders, 1 worker", f"{deliv['median_total_s']:.2f} s", "", "< 10 s", v, "", ""])
        else:
            lines.append(
                ["10,000 reminders, 1 worker", deliv.get("skipped") or deliv.get("error", ""), "", "< 10 s", "", "", ""]
            )
    ver = extra.get("verification")
    if ver and not ver["events"]:
        lines.append(["chain verification", "no sealed audit events in the data set", "", "> 100,000/s", "", "", ""])
    elif ver:
        v = "pass" if ver["meets"] and ver["ok"] else "MISS"
        lines.append(
            [
                "chain verification",
                f"{ver['events_per_s']:,.0f}/s",
                f"{ver['events']:,} events",
                "> 100,000/s",
                v,
                "",
                "",
            ]
        )
    rss = extra.get("peak_rss_mb", {})
    if rss.get("gunicorn_workers"):
        lines.append(["peak RSS per gunicorn worker", f"{max(rss['gunicorn_workers']):.0f} MiB", "", "", "", "", ""])
    if rss.get("celery_worker"):
        lines.append(["peak RSS per Celery worker", f"{rss['celery_worker']:.0f} MiB", "", "", "", "", ""])
    size = extra.get("database_bytes_per_100k_cases")
    if size:
        lines.append(["database size per 100,000 cases", f"{size / 2**20:,.0f} MiB", "", "", "", "", ""])
    return headers, [line + [""] * (len(headers) - len(line)) for line in lines]


def markdown(results: dict[str, Any]) -> str:
    headers, lines = render(results)
    m = results["machine"]
    settings = results["settings"]
    out = [
        SECTION,
        "",
        "`make bench` (bench/table.py): the pages and writes users rely on, through HTTP, on the reference "
        "data set. gunicorn as deployed (production settings, Redis sessions, "
        f"{settings['gunicorn']}, keep-alive clients); readers signed in through the real login (password and "
        "TOTP), writes through the API with a bearer token. p50 and p95 are the medians over "
        f"{settings['runs']} runs of {settings['clients']} concurrent clients x {settings['requests']} requests, "
        'and "one client" the median p95 of as many runs of one client alone x 20 requests (the row\'s own '
        "time, without waiting for a CPU); "
        f"the ratios compare the mean latency at {settings['ratio_clients']} clients in {settings['ratio_rounds']} "
        "interleaved rounds against three servers on the same database: full, (a) the cipher and the access "
        "policy switched off, (b) the audit write switched off (bench/_bench_app.py).",
        "",
        f"**Scale** {results['scale']}: "
        + ", ".join(f"{results['counts'][k]:,} {k}" for k in SHOWN_COUNTS if k in results.get("counts", {}))
        + f". **Measured** {results['measured_at']}.",
        "",
        f"**Machine** (`bench/_common.machine()`): Python {m['python']} ({m['implementation']}), {m['platform']}, "
        f"{m['cpus']} CPUs, cryptography {m['cryptography']} ({m['openssl']}); PostgreSQL and Redis on the same "
        "host, which other people's work shares: read the ratios, and the absolute figures as pessimistic.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    out += ["| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in lines]
    failed = {n: e["error"] for n, e in results["rows"].items() if "error" in e}
    if failed:
        out += ["", "Rows that did not run to the end:"]
        out += [f"- {name}: `{error}`" for name, error in failed.items()]
    return "\n".join(out) + "\n"


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace the section "The reference table" (up to the next `## `), or append it."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    start = current.find(SECTION + "\n")
    if start < 0:
        path.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    following = current.find("\n## ", start + len(SECTION))
    rest = current[following + 1 :] if following >= 0 else ""
    path.write_text(current[:start] + text + ("\n" + rest if rest else ""))


# ---------------------------------------------------------------------------------- main
def _dataset_root_key(dataset: Any, manifest: dict[str, Any]) -> bytes:
    for name in ("BENCH_ROOT_KEY", "ROOT_KEY"):
        value = getattr(dataset, name, None)
        if value:
            return value if isinstance(value, bytes) else base64.b64decode(value)
    if manifest.get("root_key"):
        return base64.b64decode(manifest["root_key"])
    if hasattr(dataset, "root_key"):
        return dataset.root_key()  # type: ignore[no-any-return]
    raise SystemExit("bench/dataset.py does not say under which root key it sealed the data set")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("full", "small", "demo"), default="full", help="demo: the demo network")
    parser.add_argument("--runs", type=int, default=3, help="runs per row (the median is reported)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients per row (default 4)")
    parser.add_argument("--requests", type=int, default=25, help="requests per client per run (default 25)")
    parser.add_argument("--ratio-clients", type=int, default=8, help="clients for the ratios (default 8)")
    parser.add_argument("--ratio-rounds", type=int, default=5, help="interleaved rounds for the ratios")
    parser.add_argument("--only", action="append", help="measure only this row (repeatable; 'none': no HTTP rows)")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit(
            "bench/table.py needs BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<a database of its own>"
        )
    sessions = os.environ.get("BENCH_SESSION_REDIS_URL") or os.environ.get("BENCH_REDIS_URL")
    if not sessions:
        raise SystemExit("bench/table.py needs BENCH_REDIS_URL=redis://127.0.0.1:6379/<n> (sessions as deployed)")
    if args.scale == "demo":  # developing the harness: the demo network in a fresh schema
        database_url, _schema = bench_schema(url, "bench_table_demo")
        root_key, password, secret = secrets.token_bytes(32), "Bench-table-pass-7", pyotp_secret()
        app = app_for(_psycopg(database_url), root_key, Path(tempfile.mkdtemp(prefix="shabaka-table-")))
        sample = demo_data_set(app, password, secret)
        results = run(args, database_url, sessions, root_key, sample, password, secret)
        results.update(scale="demo", counts={})
        finish(results, args)
        return
    import dataset

    began = time.perf_counter()
    manifest = dataset.ensure(url, scale=args.scale)
    print(f"data set ({args.scale}) ready in {time.perf_counter() - began:.0f} s", flush=True)
    root_key = _dataset_root_key(dataset, manifest)
    sample = dict(manifest["sample"])
    results = run(
        args,
        url,
        sessions,
        root_key,
        sample,
        dataset.BENCH_PASSWORD,
        dataset.BENCH_TOTP_SECRET,
        dataset.BENCH_AUDIT_SIGNING_KEY,
    )
    counts = manifest.get("counts", {})
    cases = counts.get("case_file") or counts.get("cases")
    if cases and manifest.get("database_bytes"):
        results["other"]["database_bytes_per_100k_cases"] = manifest["database_bytes"] / cases * 100_000
    results.update(scale=args.scale, counts=counts, database_bytes=manifest.get("database_bytes"))
    finish(results, args)


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def pyotp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def run(
    args: argparse.Namespace,
    url: str,
    sessions: str,
    root_key: bytes,
    sample: dict[str, Any],
    password: str,
    secret: str,
    signing_key: bytes | None = None,
) -> dict[str, Any]:
    """Serve the three modes, measure the rows and the ratios, then the parts without HTTP."""
    rows = [r for r in ROWS if not args.only or r.name in args.only]
    workdir = Path(tempfile.mkdtemp(prefix="shabaka-table-"))
    database_url = _psycopg(url)
    app = app_for(database_url, root_key, workdir, signing_key)
    env = server_env(database_url, root_key, secrets.token_urlsafe(48), sessions, workdir / "instance")
    modes = ["full"] + (["cipher+policy off", "audit off"] if any(r.name in RATIO_ROWS for r in rows) else [])
    servers: dict[str, Server] = {}
    results: dict[str, Any] = {"rows": {}, "ratios": {}, "other": {}}
    try:
        servers = {mode: start_server(mode, env, workdir) for mode in modes}
        fx = Fixture(sample, servers["full"].port, password, secret)
        prepare_fixture(app, fx)
        print(f"measuring {len(rows)} rows through HTTP ({args.clients} clients)", flush=True)
        results["rows"] = measure_rows(fx, rows, args.runs, args.clients, args.requests)
        ratio_rows = [r for r in rows if r.name in RATIO_ROWS]
        if ratio_rows:
            print(f"ratios at {args.ratio_clients} clients, {args.ratio_rounds} interleaved rounds", flush=True)
            results["ratios"] = measure_ratios(
                fx, {m: s.port for m, s in servers.items()}, ratio_rows, args.ratio_rounds, args.ratio_clients, 10
            )
        results["other"]["peak_rss_mb"] = {
            "gunicorn_workers": [peak_rss_mb(p) for p in children(servers["full"].process.pid)]
        }
    finally:
        for server in servers.values():
            stop_server(server)
    try:
        if not args.only or "none" in args.only:
            print("reminder sweep with nothing due, delivery by one worker, chain verification", flush=True)
            results["other"]["caught_up_rungs"] = caught_up(app)
            results["other"]["idle_sweep"] = idle_sweep(app, 5, 40)
            results["other"]["delivery"] = deliv = delivery(
                app, database_url, root_key, sample["network"], workdir, signing_key
            )
            results["other"]["peak_rss_mb"]["celery_worker"] = deliv.get("worker_peak_rss_mb")
            results["other"]["verification"] = verification(app)
    finally:
        with app.app_context():
            from referral.extensions import db

            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    results["settings"] = {
        "runs": args.runs,
        "clients": args.clients,
        "requests": args.requests,
        "ratio_clients": args.ratio_clients,
        "ratio_rounds": args.ratio_rounds,
        "gunicorn": "2 workers x 4 threads",
        "writes": "API, bearer token",
    }
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="minutes")
    results["machine"] = machine()
    return results


def finish(results: dict[str, Any], args: argparse.Namespace) -> None:
    headers, lines = render(results)
    print()
    print(table(headers, lines))
    print(f"results: {write_results('table-' + results['scale'], results)}")
    if not args.no_docs and not args.only:
        write_docs(markdown(results))
        print(f"written to {DOCS.relative_to(ROOT)} ({SECTION[3:]})")


if __name__ == "__main__":
    main()
