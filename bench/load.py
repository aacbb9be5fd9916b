"""A working day's load against a real deployment, with a fault drill (issue 15).

Two shapes, one script:

- `--backend postgres` (BENCH_DATABASE_URL, BENCH_REDIS_URL): the production shape started from
  deploy/Procfile as honcho would start it: one gunicorn master with 2 workers x 4 threads, 2
  Celery workers and 1 beat (RedBeat) on PostgreSQL and Redis, REFERRAL_ENV=production, behind
  a pretend proxy (PROXY_HOPS=1, each person her own address). The data live in a fresh schema
  of the database, dropped at the end unless --keep; the Redis database is flushed first.
- `--backend sqlite`: make run's stack (scripts/run_dev.py's gunicorn command line, one Celery
  worker with its beat on the embedded transport, SQLite), as bench/embedded_load.py runs it.

Both seed the demo network with the app's own `seed-demo`, then add USERS people of their own,
each signed in through the sign-in pages (password, then the code of her authenticator), with a
personal token for the API. In each of the first networks one person is the focal point of the
legal aid centre and the others are caseworkers of the social development directorate who refer
to it. Every person reads about ten pages per change she makes, with a pause between requests:

    reads   home, case list, case view, inbox (referrals), referral view     (the web pages)
    writes  open a case, add a follow-up due within the minute, send a referral (consent + send),
            accept a referral (the focal point)                              (the JSON API)

for DURATION seconds or MAX_REQUESTS requests, whichever comes first. With the drill (on by
default on PostgreSQL) one Celery worker is killed with SIGKILL at 30 % of the run and started
again, and one gunicorn worker is killed with SIGKILL at 55 % (its master starts another).

Afterwards it checks, and exits 1 unless all hold:
- no request failed (5xx, refused or reset connections, timeouts, any answer but the expected
  one), except requests that were in flight on the killed gunicorn worker: each of those started
  before the kill and ended, failed, right after it; they are counted apart;
- every follow-up reminder that fell due inside the run was delivered exactly once (its rung
  `sent`, one notification per recipient, one `followup.reminder` audit event), waiting for late
  ones as long as a claim takes to go stale (a rung claimed by the killed worker is taken again);
- the audit chain verifies (`flask audit verify`), once every event is sealed.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_load \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/load.py --users 50 --duration 300
    .venv/bin/python bench/load.py --backend sqlite --users 8 --duration 120

Writes bench/results/load-<backend>-*.json. tests/test_load.py runs the same harness for a few
seconds on PostgreSQL, with the worker drill.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import importlib.util
import json
import os
import random
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "bench"):  # the app, and _common beside this file, however it is loaded
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
PROCFILE = ROOT / "deploy" / "Procfile"
PASSWORD = "load-Test-passphrase-42"  # noqa: S105  (fictional people on a throwaway database)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105
SWEEP_SECONDS = 10  # the beat's reminder sweep during a load run (60 in production)
FOLLOWUP_DUE = (5.0, 60.0)  # a new follow-up falls due this many seconds after it is added
REQUEST_TIMEOUT = 30.0
WEB_WORKERS, WEB_THREADS = 2, 4

# (operation, weight): a caseworker's mix, about ten reads per change.
SENDER_MIX = [
    ("home", 2.0),
    ("case list", 3.0),
    ("case view", 3.0),
    ("inbox", 1.5),
    ("referral view", 1.5),
    ("case open", 0.35),
    ("followup add", 0.4),
    ("referral send", 0.35),
]
RECEIVER_MIX = [("home", 2.0), ("inbox", 3.0), ("referral view", 3.0), ("case list", 2.0), ("referral accept", 1.2)]
WRITES = ("case open", "followup add", "referral send", "consent", "referral accept")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_call(base: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One JSON API request with a bearer token (a new connection); returns (status, JSON)."""
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw[:200]


def procfile(path: Path = PROCFILE) -> dict[str, str]:
    """The process types of a Procfile: name -> command line (a shell command)."""
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            found[name.strip()] = command.strip()
    return found


def _run_dev() -> Any:
    spec = importlib.util.spec_from_file_location("run_dev", ROOT / "scripts" / "run_dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------- the stacks
class Stack:
    """A deployment's processes on a fresh instance directory, each in its own process group,
    stopped on exit. Subclasses say which processes and with what settings."""

    behind_proxy = False

    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        path = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # the Procfile names gunicorn and celery
        self.env = self._clean({**os.environ, "PYTHONPATH": str(ROOT), "PATH": path})
        self.seed_env = self.env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._log: Any = None
        self.seeded = False

    @staticmethod
    def _clean(env: dict[str, str]) -> dict[str, str]:
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TEST_DATABASE_URL", "REFERRAL_ENV"):
            env.pop(name, None)
        return env

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "referral", *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"flask {args[0]} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
        return done.stdout

    def processes(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        raise NotImplementedError

    def start(self, name: str) -> subprocess.Popen[bytes]:
        command, env = self.commands[name]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=self._log, start_new_session=True)
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started (a Celery worker and its pool)."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def web_workers(self) -> list[int]:
        """The gunicorn master's worker processes."""
        pid = self.procs["web"].pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def seed(self) -> None:
        """Migrate and seed the demo network (once)."""
        if not self.seeded:
            self.cli("init-db", env=self.seed_env)
            self.cli("seed-demo", "--if-empty", env=self.seed_env)
            self.seeded = True

    def __enter__(self) -> Stack:
        self.seed()
        self._log = (self.instance / "stack.log").open("ab")
        self.commands = self.processes()
        for name in self.commands:
            self.start(name)
        for _ in range(300):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200 and len(self.web_workers()) >= 1:
                    return self
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the web server did not start (see {self.instance / 'stack.log'})")

    def __exit__(self, *_: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()


class EmbeddedStack(Stack):
    """make run's processes: its gunicorn command line and one Celery worker with its beat on the
    embedded transport, SQLite under the instance directory (development settings)."""

    def __init__(self, instance: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(instance)
        self.env.update(
            {
                "REFERRAL_ENV": "development",
                "REFERRAL_INSTANCE_PATH": str(instance),
                # Eight machine clients from one address send far more than eight people would;
                # the rate limits (tests/security/test_limits.py) are not what this measures.
                "RATE_LIMIT_PER_ADDRESS": "1000000",
                "RATE_LIMIT_PER_TOKEN": "1000000",
                **(extra_env or {}),
            }
        )

    def processes(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        worker = [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--beat", "--concurrency", "1"]
        worker += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
        web = _run_dev().gunicorn_command(str(self.port), str(self.instance / "access.log"))
        return {"worker-1": (worker, self.env), "web": (web, self.env)}


class ProductionStack(Stack):
    """deploy/Procfile's processes with production settings: 1 gunicorn master with `web_workers`
    workers, `workers` Celery workers, 1 beat, on PostgreSQL (a fresh schema) and Redis."""

    behind_proxy = True

    def __init__(
        self, instance: Path, database_url: str, redis_url: str, workers: int = 2, web_workers: int = WEB_WORKERS
    ) -> None:
        super().__init__(instance)
        self.workers, self.web_count = workers, web_workers
        keys = instance / "keys"
        keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        signing = secrets.token_bytes(32)
        public = Ed25519PrivateKey.from_private_bytes(signing).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        for name, value in (("root_key", secrets.token_bytes(32)), ("audit_signing_key", signing)):
            (keys / name).write_text(base64.b64encode(value).decode() + "\n")
            (keys / name).chmod(0o400)
        common = {
            "REFERRAL_INSTANCE_PATH": str(instance),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "REFERRAL_ROOT_KEY_FILE": str(keys / "root_key"),
            "AUDIT_SIGNING_KEY_FILE": str(keys / "audit_signing_key"),
            "AUDIT_PUBLIC_KEY": base64.b64encode(public).decode(),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REMINDER_SWEEP_SECONDS": str(SWEEP_SECONDS),
        }
        # The demo is seeded only outside production: the same database and keys, development mode.
        self.seed_env = {**self.env, **common, "REFERRAL_ENV": "development"}
        self.env.update(
            {
                **common,
                "REFERRAL_ENV": "production",
                "PROXY_HOPS": "1",
                "LOG_LEVEL": "WARNING",
                "WEB_CONCURRENCY": str(web_workers),
                "WEB_THREADS": str(WEB_THREADS),
                "WORKER_CONCURRENCY": "1",
            }
        )

    def processes(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """Each Procfile line under `sh -c "exec ..."`, as honcho runs it; honcho's PORT too."""
        shape = procfile()
        found = {"web": (["/bin/sh", "-c", "exec " + shape["web"]], {**self.env, "PORT": str(self.port)})}
        for i in range(1, self.workers + 1):
            found[f"worker-{i}"] = (["/bin/sh", "-c", "exec " + shape["worker"]], {**self.env, "PORT": str(5100 + i)})
        found["beat"] = (["/bin/sh", "-c", "exec " + shape["beat"]], {**self.env, "PORT": "5200"})
        return found


# ---------------------------------------------------------------------------------- the people
@dataclass
class Person:
    username: str
    role: str  # "sender" (a caseworker who refers) or "receiver" (the focal point who accepts)
    network: int
    governorate: str
    token: str = ""
    address: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)
    cases: list[str] = field(default_factory=list)
    unreferred: list[str] = field(default_factory=list)
    referrals: list[str] = field(default_factory=list)


def seed_people(env: dict[str, str], users: int) -> tuple[list[Person], dict[int, str]]:
    """USERS people of the load's own in the demo's networks (enrolled in two-step sign-in, with
    a token each); returns them and, by network, the organisation its senders refer to."""
    from sqlalchemy import select

    from config import Settings
    from referral import create_app
    from referral.accounts.models import User
    from referral.accounts.services import issue_token
    from referral.demo import NETWORKS
    from referral.directory.models import Organization
    from referral.extensions import db
    from referral.models_base import new_id, utcnow
    from referral.runtime import runtime

    app = create_app(Settings.from_env({**env, "REFERRAL_ENV": "development"}))
    count = min(len(NETWORKS), max(1, users // 8))
    nets = sorted(NETWORKS, key=lambda n: n[0] != "nablus")[:count]  # Nablus first
    people: list[Person] = []
    receivers: dict[int, str] = {}
    with app.app_context():
        hashed = runtime().passwords.hash(PASSWORD)
        orgs = {o.name_en: o.id for o in db.session.scalars(select(Organization))}
        for i in range(users):
            k = i % count
            governorate, _, _, en = nets[k]
            n = i // count
            role = "receiver" if n == 0 else "sender"
            receivers[k] = orgs[f"{en} Legal Aid Centre"]
            org = receivers[k] if role == "receiver" else orgs[f"Social Development Directorate – {en}"]
            user = User(
                id=new_id(),
                organization_id=org,
                role="supervisor" if role == "receiver" else "caseworker",
                username=f"load_{role}_{governorate}_{n:02d}",
                locale="en",
                password_hash=hashed,
                must_change_password=False,
            )
            user.totp_secret = TOTP_SECRET
            user.totp_enrolled_at = utcnow()
            db.session.add(user)
            db.session.flush()
            _, raw = issue_token(db.session, user, days=1)
            address = f"10.20.{i // 250}.{i % 250 + 1}"  # her own, as the proxy would say
            people.append(Person(user.username, role, k, governorate, token=raw, address=address))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # this process's connections close now, not when collected
    return people, receivers


class Browser:
    """One person's HTTP client: her session cookie for the pages, her token for the API. Each
    request opens a new connection and closes it (no keep-alive), so a request is in flight on
    exactly one gunicorn worker."""

    def __init__(self, stack: Stack, person: Person) -> None:
        self.port, self.person, self.proxy = stack.port, person, stack.behind_proxy

    def request(
        self, method: str, path: str, *, form: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Connection": "close", "Referer": f"http://127.0.0.1:{self.port}{path}"}
        if self.proxy:  # what the reverse proxy would add (PROXY_HOPS=1)
            headers.update({"X-Forwarded-For": self.person.address, "X-Forwarded-Proto": "https"})
            headers["Referer"] = f"https://127.0.0.1:{self.port}{path}"
        data: bytes | None = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {self.person.token}"
        elif self.person.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.person.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            for raw in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = raw.partition("=")
                value = rest.split(";", 1)[0]
                if "expires=thu, 01 jan 1970" in raw.lower() or not value:
                    self.person.cookies.pop(name.strip(), None)
                elif not path.startswith("/api/"):
                    self.person.cookies[name.strip()] = value
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
        finally:
            conn.close()

    def sign_in(self) -> None:
        """The sign-in pages: password, then the authenticator's code; raises unless both pass."""
        import pyotp

        for path, fields in (
            ("/login", {"username": self.person.username, "password": PASSWORD}),
            ("/login/mfa", {"code": pyotp.TOTP(TOTP_SECRET).now()}),
        ):
            status, _, page = self.request("GET", path)
            token = _csrf(page)
            if status != 200 or token is None:
                raise RuntimeError(f"{self.person.username}: GET {path} answered {status}")
            status, _, page = self.request("POST", path, form={"csrf_token": token, **fields})
            if status != 302:
                raise RuntimeError(f"{self.person.username}: POST {path} answered {status}: {page[:200]!r}")
        status, _, _ = self.request("GET", "/")
        if status != 200:
            raise RuntimeError(f"{self.person.username}: home answered {status} after signing in")


def _csrf(page: bytes) -> str | None:
    tag = re.search(rb'<input[^>]*name="csrf_token"[^>]*>', page)
    value = re.search(rb'value="([^"]+)"', tag.group(0)) if tag else None
    return value.group(1).decode() if value else None


def _case(person: Person, n: int) -> dict[str, Any]:
    from _common import case_body

    body = {**case_body(n), "governorate": person.governorate}
    body.pop("national_id")  # the fictional numbers do not carry a valid check digit
    return body


# ---------------------------------------------------------------------------------- the run
@dataclass
class Call:
    op: str
    started: float
    ended: float
    status: int
    detail: str = ""


@dataclass
class Outcome:
    backend: str
    users: int
    duration: float = 0.0
    calls: list[Call] = field(default_factory=list)
    kills: dict[str, float] = field(default_factory=dict)  # what was killed -> when (perf_counter)
    drill: dict[str, Any] = field(default_factory=dict)
    followups: list[tuple[str, datetime]] = field(default_factory=list)  # (id, due) of those added
    window: tuple[datetime, datetime] | None = None
    reminders: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)

    def failed(self) -> list[Call]:
        return [c for c in self.calls if not _expected(c)]

    def in_flight(self) -> list[Call]:
        """Failures of requests that were being served by the killed gunicorn worker: started
        before the kill, ended by a broken connection right after it."""
        kill = self.kills.get("gunicorn worker")
        if kill is None:
            return []
        return [c for c in self.failed() if c.status == 599 and c.started < kill <= c.ended <= kill + 5]

    def errors(self) -> list[Call]:
        spared = {id(c) for c in self.in_flight()}
        return [c for c in self.failed() if id(c) not in spared]

    def problems(self) -> list[str]:
        found = [f"{c.op}: {c.status} {c.detail}" for c in self.errors()[:10]]
        if len(self.in_flight()) > self.users:
            found.append(f"{len(self.in_flight())} requests in flight on one killed worker, more than the users")
        if not self.reminders.get("ok"):
            found.append(f"reminders: {self.reminders.get('problems') or 'not checked'}")
        if not self.audit.get("ok"):
            found.append(f"audit chain: {self.audit}")
        if self.drill and not self.drill.get("ok"):
            found.append(f"drill: {self.drill}")
        return found

    def summary(self) -> dict[str, Any]:
        done = [c for c in self.calls if _expected(c)]
        by_op: dict[str, list[float]] = defaultdict(list)
        for c in done:
            by_op[c.op].append(c.ended - c.started)
        writes = sum(len(v) for k, v in by_op.items() if k in WRITES and k != "consent")
        reads = sum(len(v) for k, v in by_op.items() if k not in WRITES)
        return {
            "backend": self.backend,
            "users": self.users,
            "duration_s": round(self.duration, 1),
            "requests": len(self.calls),
            "requests_per_s": round(len(done) / self.duration, 1) if self.duration else 0.0,
            "reads_per_write": round(reads / writes, 1) if writes else None,
            "errors": len(self.errors()),
            "in_flight_on_killed_worker": len(self.in_flight()),
            "ms": {
                op: {"n": len(v), "p50": _ms(statistics.median(v)), "p95": _ms(_pct(v, 0.95))}
                for op, v in sorted(by_op.items())
            },
            "drill": self.drill,
            "reminders": self.reminders,
            "audit": self.audit,
            "first_errors": [f"{c.op}: {c.status} {c.detail}" for c in self.errors()[:10]],
            "in_flight": [
                {"op": c.op, "began_ms_before_kill": _ms(self.kills["gunicorn worker"] - c.started), "why": c.detail}
                for c in self.in_flight()
            ],
            "problems": self.problems(),
        }


EXPECTED = {"case open": 201, "followup add": 201, "consent": 201, "referral send": 201, "referral accept": 200}


def _expected(call: Call) -> bool:
    return call.status == EXPECTED.get(call.op, 200)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Load:
    """The people's loops, the drill, and the checks afterwards, against a started stack."""

    def __init__(self, stack: Stack, people: list[Person], receivers: dict[int, str], outcome: Outcome) -> None:
        self.stack, self.people, self.receivers, self.out = stack, people, receivers, outcome
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.queues: dict[int, list[str]] = defaultdict(list)  # referrals waiting for each network's focal point
        self.numbers = iter(range(10**9))
        self.deadline = 0.0
        self.max_requests = 10**9
        self.followup_due = FOLLOWUP_DUE

    def call(self, browser: Browser, op: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        started = time.perf_counter()
        try:
            status, _, payload = browser.request(method, path, **kwargs)
            detail = "" if status < 400 else payload[:160].decode(errors="replace")
        except (OSError, http.client.HTTPException) as error:
            status, payload, detail = 599, b"", repr(error)[:160]
        ended = time.perf_counter()
        with self.lock:
            self.out.calls.append(Call(op, started, ended, status, detail))
            if len(self.out.calls) >= self.max_requests:
                self.stop.set()
        if path.startswith("/api/") and payload:
            try:
                return status, json.loads(payload)
            except ValueError:
                return status, None
        return status, None

    def open_case(self, browser: Browser, op: str = "case open") -> str | None:
        status, body = self.call(browser, op, "POST", "/api/v1/cases", body=_case(browser.person, next(self.numbers)))
        if status != 201:
            return None
        browser.person.cases.append(body["id"])
        browser.person.unreferred.append(body["id"])
        return str(body["id"])

    def send_referral(self, browser: Browser) -> None:
        person = browser.person
        case_id = person.unreferred.pop() if person.unreferred else self.open_case(browser)
        if case_id is None:
            return
        receiver = self.receivers[person.network]
        consent = {
            "organization_ids": [receiver],
            "field_groups": ["identity", "contact"],
            "method": "verbal",
            "purpose": "legal aid",
        }
        status, given = self.call(browser, "consent", "POST", f"/api/v1/cases/{case_id}/consents", body=consent)
        if status != 201:
            return
        referral = {
            "case_id": case_id,
            "to_organization_id": receiver,
            "priority": "normal",
            "reason": "legal aid for a fictional case",
            "field_groups": ["identity", "contact"],
            "consent_id": given["id"],
        }
        status, sent = self.call(browser, "referral send", "POST", "/api/v1/referrals", body=referral)
        if status == 201:
            person.referrals.append(sent["id"])
            with self.lock:
                self.queues[person.network].append(sent["id"])

    def add_followup(self, browser: Browser, rng: random.Random) -> None:
        person = browser.person
        if not person.cases:
            self.open_case(browser)
            return
        due = (datetime.now(UTC) + timedelta(seconds=rng.uniform(*self.followup_due))).replace(microsecond=0)
        body = {"due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ"), "kind": "call"}
        status, made = self.call(
            browser, "followup add", "POST", f"/api/v1/cases/{rng.choice(person.cases)}/followups", body=body
        )
        if status == 201:
            with self.lock:
                self.out.followups.append((made["id"], due))

    def accept(self, browser: Browser) -> bool:
        with self.lock:
            queue = self.queues[browser.person.network]
            referral_id = queue.pop(0) if queue else None
        if referral_id is None:
            return False
        status, _ = self.call(browser, "referral accept", "POST", f"/api/v1/referrals/{referral_id}/accept", body={})
        if status == 200:
            browser.person.referrals.append(referral_id)
        return True

    def person_loop(self, person: Person, seed: int, think: float) -> None:
        rng = random.Random(seed)
        browser = Browser(self.stack, person)
        mix = SENDER_MIX if person.role == "sender" else RECEIVER_MIX
        ops, weights = [m[0] for m in mix], [m[1] for m in mix]
        while not self.stop.is_set() and time.perf_counter() < self.deadline:
            op = rng.choices(ops, weights)[0]
            if op == "home":
                self.call(browser, op, "GET", "/")
            elif op == "case list":
                self.call(browser, op, "GET", "/cases")
            elif op == "inbox":
                self.call(browser, op, "GET", "/referrals")
            elif op == "case view" and person.cases:
                self.call(browser, op, "GET", f"/cases/{rng.choice(person.cases)}")
            elif op == "referral view" and person.referrals:
                self.call(browser, op, "GET", f"/referrals/{rng.choice(person.referrals)}")
            elif op == "case open":
                self.open_case(browser)
            elif op == "followup add":
                self.add_followup(browser, rng)
            elif op == "referral send":
                self.send_referral(browser)
            elif op == "referral accept" and self.accept(browser):
                pass
            else:
                self.call(browser, "inbox", "GET", "/referrals")
            self.stop.wait(rng.uniform(0, 2 * think))

    def prepare(self) -> None:
        """Sign every person in (untimed, a few at a time) and give each caseworker a first case
        with a follow-up falling due early in the run."""
        errors: list[str] = []

        def ready(person: Person) -> None:
            try:
                browser = Browser(self.stack, person)
                browser.sign_in()
                if person.role == "sender" and self.open_case(browser, op="warm-up"):
                    self.add_followup(browser, random.Random(person.username))
            except (RuntimeError, OSError) as error:
                errors.append(str(error))

        for first in range(0, len(self.people), 8):
            threads = [threading.Thread(target=ready, args=(p,)) for p in self.people[first : first + 8]]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        self.out.calls.clear()
        if errors:
            raise RuntimeError(f"signing in failed: {errors[:3]}")

    def run(self, duration: float, think: float, drill: bool, max_requests: int) -> None:
        self.prepare()
        self.max_requests = max_requests
        begun_at = datetime.now(UTC)
        started = time.perf_counter()
        self.deadline = started + duration
        threads = [
            threading.Thread(target=self.person_loop, args=(p, i, think), daemon=True)
            for i, p in enumerate(self.people)
        ]
        for t in threads:
            t.start()
        if drill:
            self.drill(started, duration)
        while time.perf_counter() < self.deadline and not self.stop.is_set():
            time.sleep(0.2)
        self.stop.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 10)
        self.out.duration = time.perf_counter() - started
        self.out.window = (begun_at, datetime.now(UTC))

    def drill(self, started: float, duration: float) -> None:
        """SIGKILL a Celery worker and start it again; then SIGKILL a gunicorn worker."""
        stack, record = self.stack, self.out.drill
        worker = next(n for n in stack.procs if n.startswith("worker"))
        self._sleep_until(started + 0.3 * duration)
        self.out.kills["celery worker"] = time.perf_counter()
        stack.kill(worker)
        record["celery_worker_killed_at_s"] = round(time.perf_counter() - started, 1)
        time.sleep(2)
        stack.start(worker)
        record["celery_worker_restarted_at_s"] = round(time.perf_counter() - started, 1)
        self._sleep_until(started + 0.55 * duration)
        before = stack.web_workers()
        if not before:
            record.update(ok=False, problem="no gunicorn worker found")
            return
        victim = random.choice(before)
        self.out.kills["gunicorn worker"] = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        record["gunicorn_worker_killed_at_s"] = round(time.perf_counter() - started, 1)
        for _ in range(100):
            time.sleep(0.2)
            now = stack.web_workers()
            if len(now) == len(before) and victim not in now:
                respawned = time.perf_counter() - self.out.kills["gunicorn worker"]
                record["gunicorn_worker_respawned_after_s"] = round(respawned, 1)
                break
        record["ok"] = "gunicorn_worker_respawned_after_s" in record and stack.procs[worker].poll() is None

    def _sleep_until(self, moment: float) -> None:
        while time.perf_counter() < moment and not self.stop.is_set():
            time.sleep(0.1)


# ---------------------------------------------------------------------------------- the checks
def check_reminders(env: dict[str, str], outcome: Outcome, wait: float) -> dict[str, Any]:
    """Every follow-up rung due inside the run: sent, once per recipient, one audit event."""
    from sqlalchemy import func, select

    from config import Settings
    from referral import create_app
    from referral.audit.models import AuditEvent
    from referral.extensions import db
    from referral.followups.models import Notification, ReminderStep

    assert outcome.window is not None
    begun, ended = outcome.window
    app = create_app(Settings.from_env({**env, "REFERRAL_ENV": "development"}))
    due = (ReminderStep.clock == "followup", ReminderStep.due_at >= begun, ReminderStep.due_at <= ended)
    deadline = time.monotonic() + wait
    waited = 0.0
    with app.app_context():
        while True:
            counted = select(ReminderStep.state, func.count()).where(*due).group_by(ReminderStep.state)
            states = dict(db.session.execute(counted).all())
            db.session.rollback()
            if not states.get("pending") or time.monotonic() > deadline:
                break
            time.sleep(2)
            waited += 2
        steps = {s.id: s for s in db.session.scalars(select(ReminderStep).where(*due))}
        told: dict[str, list[str]] = defaultdict(list)
        for key in db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.like("step:%"))):
            _, step_id, user_id = key.split(":")
            told[step_id].append(user_id)
        events = dict(
            db.session.execute(
                select(AuditEvent.object_id, func.count())
                .where(AuditEvent.action == "followup.reminder")
                .group_by(AuditEvent.object_id)
            ).all()
        )
        rung_of = {s.target_id: s for s in steps.values() if s.step == "due"}
        db.session.expunge_all()  # the rows stay readable as they were loaded
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    problems = []
    for step in steps.values():
        users = told.get(step.id, [])
        if step.state != "sent":
            problems.append(f"rung {step.id} {step.state}")
        elif len(users) != len(set(users)) or len(users) != step.recipients or not users:
            problems.append(f"rung {step.id} told {len(users)} for {step.recipients} recipients")
        elif events.get(step.id) != 1:
            problems.append(f"rung {step.id} has {events.get(step.id, 0)} audit events")
    missing = [f for f, when in outcome.followups if begun <= when <= ended and f not in rung_of]
    if missing:
        problems.append(f"{len(missing)} follow-ups added in the run have no due rung")
    late = [
        (s.sent_at - s.due_at).total_seconds() for s in steps.values() if s.sent_at is not None and s.due_at is not None
    ]
    return {
        "ok": not problems and bool(steps),
        "due_in_window": len(steps),
        "delivered_once": len(steps) - len(problems),
        "notifications": sum(len(told.get(s, [])) for s in steps),
        "lateness_s": {"p50": round(statistics.median(late), 1), "max": round(max(late), 1)} if late else {},
        "waited_after_run_s": waited,
        "problems": problems[:10] if steps else ["no reminder fell due in the run"],
    }


def check_audit(stack: Stack, wait: float = 90.0) -> dict[str, Any]:
    """`flask audit verify` once the workers have sealed every event."""
    deadline = time.monotonic() + wait
    while True:
        try:
            result = json.loads(stack.cli("audit", "verify", "--json"))
        except RuntimeError as error:  # exit 1: the chain does not hold (the JSON says where)
            return {"ok": False, "error": str(error)[-300:]}
        if not result.get("unsealed") or time.monotonic() > deadline:
            checkpoint = result.get("checkpoint") or {}
            found = {k: result.get(k) for k in ("ok", "checked", "first_bad_position", "unsealed", "keys_pinned")}
            return {**found, "signed_checkpoint_at": checkpoint.get("position")}
        time.sleep(3)


# ---------------------------------------------------------------------------------- entry points
def run_load(
    stack: Stack,
    users: int,
    duration: float,
    *,
    think: float = 1.0,
    drill: bool = False,
    max_requests: int = 10**9,
    reminder_wait: float | None = None,
    followup_due: tuple[float, float] = FOLLOWUP_DUE,
) -> Outcome:
    """Seed the people, run the load (and the drill) against `stack`, check; returns the outcome."""
    outcome = Outcome(backend="postgres" if isinstance(stack, ProductionStack) else "sqlite", users=users)
    stack.seed()
    people, receivers = seed_people(stack.seed_env, users)
    with stack:
        load = Load(stack, people, receivers, outcome)
        load.followup_due = followup_due
        load.run(duration, think, drill, max_requests)
        # a rung claimed by the killed worker is claimed again once its claim is stale (2 minutes)
        wait = reminder_wait if reminder_wait is not None else (150.0 if drill else 3 * SWEEP_SECONDS + 20)
        outcome.reminders = check_reminders(stack.seed_env, outcome, wait)
        outcome.audit = check_audit(stack)
    return outcome


def _schema_url(url: str) -> tuple[str, str]:
    """A fresh schema of its own in the database `url` names (the demo seeds only an empty one)."""
    from urllib.parse import quote

    import psycopg
    from psycopg import sql

    schema = f"load_{secrets.token_hex(4)}"
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}", schema


def production(database_url: str, redis_url: str, instance: Path, keep: bool = False, **load: Any) -> Outcome:
    """The production shape on a fresh schema of `database_url` and a flushed Redis database."""
    import redis
    from _common import drop_schema

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    url, schema = _schema_url(database_url)
    try:
        return run_load(ProductionStack(instance, url, redis_url), **load)
    finally:
        if not keep:
            drop_schema(database_url, schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default=None)
    parser.add_argument("--users", type=int, default=None, help="default: 50 on PostgreSQL, 8 on SQLite")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between one person's requests (s)")
    parser.add_argument("--drill", action=argparse.BooleanOptionalAction, default=None, help="default: on PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the schema (PostgreSQL)")
    args = parser.parse_args(argv)
    backend = args.backend or ("postgres" if os.environ.get("BENCH_DATABASE_URL") else "sqlite")
    users = args.users or (50 if backend == "postgres" else 8)
    drill = args.drill if args.drill is not None else backend == "postgres"
    load = {"users": users, "duration": args.duration, "think": args.think, "drill": drill}
    load["max_requests"] = args.max_requests
    instance = Path(tempfile.mkdtemp(prefix=f"shabaka-load-{backend}-"))
    if backend == "postgres":
        from _common import ensure_database

        url, redis_url = os.environ.get("BENCH_DATABASE_URL"), os.environ.get("BENCH_REDIS_URL")
        if not url or not redis_url:
            sys.exit("--backend postgres needs BENCH_DATABASE_URL and BENCH_REDIS_URL (a Redis database it may flush)")
        ensure_database(url)
        outcome = production(url, redis_url, instance, keep=args.keep, **load)
    else:
        stack = EmbeddedStack(instance, {"REMINDER_SWEEP_SECONDS": str(SWEEP_SECONDS)})
        outcome = run_load(stack, **load)
    summary = outcome.summary()
    from _common import write_results

    path = write_results(f"load-{backend}", {"command": shlex.join(sys.argv), "instance": str(instance), **summary})
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"written to {path}")
    if summary["problems"]:
        print("FAILED:\n  " + "\n  ".join(summary["problems"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
