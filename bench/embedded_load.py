"""The embedded default under a small office's load: make run's own stack on SQLite.

Starts what `make run` starts (scripts/run_dev.py's gunicorn command line, 2 workers x 4
threads, and a Celery worker with its beat on the embedded transport) on a fresh SQLite
database with the demo network, then runs CLIENTS clients mixing the case list, a case view,
opening a case and sending a referral (with its consent) through the API for DURATION seconds,
while operators' `create-user` commands run beside them until CLI_WRITES have been made.
Reports requests, errors (5xx, refused connections), conflicts (409), other refusals, CLI
failures and p50/p95 per operation, and writes them to bench/results/embedded_load.json.

    python bench/embedded_load.py [DURATION] [CLI_WRITES]      # defaults: 60 s, 100 writes

tests/test_embedded_load.py runs the same harness, shorter, and asserts 0 errors, 0 conflicts
and 0 CLI failures.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/load.py beside it, however it is loaded
from load import EmbeddedStack as Stack  # make run's stack, shared with the load test
from load import api_call as _call

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CLIENTS = 8
CLI_PARALLEL = 2
SENDER, RECEIVER_ORG = "nbl.caseworker", "Social Development Directorate – Nablus"


@dataclass
class Result:
    duration: float = 0.0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    conflicts: int = 0
    refused: list[str] = field(default_factory=list)
    cli_writes: int = 0
    cli_failures: list[str] = field(default_factory=list)
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1) if ordered else 0.0

        return {
            "duration_s": round(self.duration, 1),
            "clients": CLIENTS,
            "requests": self.requests,
            "requests_per_s": round(self.requests / self.duration, 1) if self.duration else 0,
            "errors": len(self.errors),
            "conflicts": self.conflicts,
            "other_refusals": len(self.refused),
            "cli_writes": self.cli_writes,
            "cli_failures": len(self.cli_failures),
            "ms": {
                op: {"n": len(v), "p50": round(statistics.median(v) * 1000, 1), "p95": pct(v, 0.95)}
                for op, v in sorted(self.timings.items())
                if v
            },
            "first_errors": self.errors[:5] + self.cli_failures[:5],
        }


def _intake(n: int) -> dict[str, Any]:
    return {
        "full_name": f"Fictional Load Person {n}",
        "governorate": "nablus",
        "age_group": "25-59",
        "sex": "female",
        "risk_level": "medium",
        "gbv_type": "psychological_abuse",
        "narrative": "A fictional account written by the load benchmark.",
    }


def run(duration: float = 60.0, cli_writes: int = 100, instance: Path | None = None) -> Result:
    """The load, against a stack of its own; returns what happened."""
    made = instance or Path(tempfile.mkdtemp(prefix="shabaka-load-"))
    result = Result()
    with Stack(made) as stack:
        with ThreadPoolExecutor(max_workers=4) as pool:  # each command is a process: side by side
            issued = pool.map(lambda _: stack.cli("issue-token", SENDER, "--days", "1"), range(CLIENTS))
            tokens = [out.strip().splitlines()[-1] for out in issued]
        _, orgs = _call(stack.base, tokens[0], "GET", "/api/v1/directory/organizations?limit=200")
        receiver = next(o["id"] for o in orgs["items"] if o["name"] == RECEIVER_ORG)
        _, page = _call(stack.base, tokens[0], "GET", "/api/v1/cases?limit=50")
        known = [c["id"] for c in page["items"]]
        lock = threading.Lock()
        stop = threading.Event()
        counter = iter(range(10**9))

        def record(op: str, started: float, status: int, body: Any) -> Any:
            elapsed = time.perf_counter() - started
            with lock:
                result.requests += 1
                result.timings[op].append(elapsed)
                if status >= 500:
                    result.errors.append(f"{op}: {status} {str(body)[:160]}")
                elif status == 409:
                    result.conflicts += 1
                    result.errors.append(f"{op}: 409 {str(body)[:160]}")
                elif status >= 400:
                    result.refused.append(f"{op}: {status} {str(body)[:160]}")
            return body

        def timed(op: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
            started = time.perf_counter()
            try:
                status, answer = _call(stack.base, token, method, path, body)
            except OSError as error:
                status, answer = 599, repr(error)
            record(op, started, status, answer)
            return status, answer

        def client(token: str, seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                roll = rng.random()
                if roll < 0.4:
                    timed("case list", token, "GET", "/api/v1/cases?limit=50")
                elif roll < 0.7 and known:
                    timed("case view", token, "GET", f"/api/v1/cases/{rng.choice(known)}")
                elif roll < 0.85:
                    status, body = timed("case create", token, "POST", "/api/v1/cases", _intake(next(counter)))
                    if status == 201:
                        with lock:
                            known.append(body["id"])
                else:
                    status, body = timed("case create", token, "POST", "/api/v1/cases", _intake(next(counter)))
                    if status != 201:
                        continue
                    consent = {
                        "organization_ids": [receiver],
                        "field_groups": ["identity", "contact"],
                        "method": "verbal",
                        "purpose": "social support",
                    }
                    status, given = timed("consent", token, "POST", f"/api/v1/cases/{body['id']}/consents", consent)
                    if status != 201:
                        continue
                    referral = {
                        "case_id": body["id"],
                        "to_organization_id": receiver,
                        "priority": "normal",
                        "reason": "social support for a fictional case",
                        "field_groups": ["identity", "contact"],
                        "consent_id": given["id"],
                    }
                    timed("referral send", token, "POST", "/api/v1/referrals", referral)

        def operator(numbers: list[int]) -> None:
            for n in numbers:
                try:
                    stack.cli(
                        "create-user", "--username", f"load.user{n}", "--org", RECEIVER_ORG, "--role", "caseworker"
                    )
                    with lock:
                        result.cli_writes += 1
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    with lock:
                        result.cli_failures.append(str(error)[-300:])

        threads = [threading.Thread(target=client, args=(t, i), daemon=True) for i, t in enumerate(tokens)]
        operators = [
            threading.Thread(target=operator, args=(list(range(k, cli_writes, CLI_PARALLEL)),), daemon=True)
            for k in range(CLI_PARALLEL)
        ]
        started = time.perf_counter()
        for thread in threads + operators:
            thread.start()
        deadline = started + duration
        while time.perf_counter() < deadline or any(o.is_alive() for o in operators):
            time.sleep(0.2)
            if time.perf_counter() > started + duration + 600:  # bounded whatever happens
                break
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
        result.duration = time.perf_counter() - started
    return result


def main(argv: list[str]) -> int:
    duration = float(argv[1]) if len(argv) > 1 else 60.0
    writes = int(argv[2]) if len(argv) > 2 else 100
    summary = run(duration, writes).summary()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embedded_load.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
