"""Shared helpers of the benchmark harness: timing by median of rounds, a table, JSON results.

A benchmark here is not a test: it measures and reports, it does not pass or fail. The
machine is noisy, so every figure is the median of several rounds, each the mean over many
repetitions, and results are compared only side by side within one run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere finds the application
    sys.path.insert(0, str(ROOT))


def per_call_ns(fn: Callable[[], object], repetitions: int) -> float:
    """Mean nanoseconds per call of `fn` over `repetitions` back-to-back calls."""
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(repetitions):
        fn()
    return (clock() - start) / repetitions


def rounds_ns(fn: Callable[[], object], repetitions: int, rounds: int, warmup: int | None = None) -> list[float]:
    """Per-call nanoseconds of each round, after a warm-up."""
    per_call_ns(fn, warmup if warmup is not None else max(1, repetitions // 10))
    return [per_call_ns(fn, repetitions) for _ in range(rounds)]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "rounds": len(samples),
    }


def machine() -> dict[str, Any]:
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>-<UTC time>.json, and <name>-latest.json next to it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    document = {"benchmark": name, "measured_at": stamp.isoformat(timespec="seconds"), "machine": machine(), **payload}
    text = json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"
    path = RESULTS / f"{name}-{stamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names if it is absent (connecting to `postgres`).

    Refuses the database `test`: the test suite empties it on every run.
    """
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    if not name or name == "test":
        raise SystemExit(f"BENCH_DATABASE_URL must name a database of its own, not {name or 'none'!r}")
    admin = urlunsplit(parts._replace(path="/postgres", query=""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += [
        "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    return "\n".join(out)


def us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def bench_schema(url: str, prefix: str) -> tuple[str, str]:
    """A fresh schema in the bench database `url` (created if absent): the demo seeds only into
    an empty schema. Returns the URL that uses it, and the schema's name."""
    import secrets
    from urllib.parse import quote

    import psycopg
    from psycopg import sql

    ensure_database(url)
    schema = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}", schema


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def case_body(i: int) -> dict[str, Any]:
    """A fictional case file for `POST /api/v1/cases`, every identifying field filled (number i)."""
    return {
        "full_name": f"سلمى تجريبية {i}",
        "national_id": f"8{i:08d}",
        "date_of_birth": "1990-05-17",
        "phone": f"+970 59 {i % 1000:03d} {i % 10000:04d}",
        "address": "عنوان تجريبي – حي تجريبي، نابلس",
        "safe_contact": {
            "safe_to_call": True,
            "safe_to_text": False,
            "safe_voicemail": False,
            "safe_hours": "10:00-13:00",
            "instructions": "اسألي عن أم محمد",
        },
        "narrative": "رواية تجريبية لحالة متخيّلة في بيانات القياس.",
        "governorate": "nablus",
        "age_group": "25-59",
        "sex": "female",
        "disability": False,
        "gbv_type": "psychological_abuse",
        "perpetrator_relationship": "intimate_partner",
        "risk_level": "medium",
    }
