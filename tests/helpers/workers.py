"""A real Celery worker: its brokers, starting and stopping it, and publishing tasks to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from config import BASE_DIR
from referral import dispatch
from referral.extensions import db
from tests.conftest import BACKEND, POSTGRES_PASS_TOO, REDIS_URL

# The worker tests are slow (real processes), and each broker with each database would run them
# four times. The pairs that ship run: SQLite with the embedded transport (`make run`) and
# PostgreSQL with Redis (a deployment). A SQLite-only run (no PostgreSQL pass to come) takes both.
if BACKEND == "postgres":
    BROKERS = ["redis"] if REDIS_URL else ["embedded"]
else:
    BROKERS = ["embedded"] + (["redis"] if REDIS_URL and not POSTGRES_PASS_TOO else [])


def broker_url(kind: str, tmp_path: Path) -> str:
    if kind == "redis":
        import redis

        url = REDIS_URL.rstrip("/") + "/14" if REDIS_URL and REDIS_URL.count("/") < 3 else str(REDIS_URL)
        redis.Redis.from_url(url).flushdb()
        return url
    return f"sqla+sqlite:///{tmp_path / 'broker.db'}"


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery_app",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def publish(app: Flask, task: str, *args: str) -> None:
    with app.app_context():
        dispatch.enqueue(task, *args)
        db.session.commit()


def stop_worker(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(worker.pid, sig)
    except ProcessLookupError:
        return
    worker.wait(timeout=30)
