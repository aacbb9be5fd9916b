"""A real Celery worker process runs a real task queued by the app after commit.

Runs on the embedded transport (SQLite through kombu) always, and on Redis when TEST_REDIS_URL
is set, as CI does.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from config import Settings
from referral import dispatch
from referral.extensions import db
from referral.models_base import utcnow
from referral.runtime import runtime
from referral.security import rotation
from referral.security.models import LoginFailure, StoredSession
from tests.conftest import Factory
from tests.helpers.workers import BROKERS, broker_url, start_worker

pytestmark = pytest.mark.worker


@pytest.mark.parametrize("broker", BROKERS)
def test_a_queued_task_runs_in_a_real_worker(
    app: Flask,
    settings: Settings,
    factory: Factory,
    tmp_path: Path,
    worker_env: dict[str, str],
    use_broker: None,
    broker: str,
) -> None:
    account = factory.user()
    url = broker_url(broker, tmp_path)
    app.config["SHABAKA_SETTINGS"] = replace(settings, broker_url=url)
    app.extensions.pop("shabaka.celery", None)
    long_ago = utcnow() - timedelta(days=2)
    with app.app_context():
        for i, seen in enumerate((long_ago, long_ago, utcnow())):
            db.session.add(
                StoredSession(
                    sid_hash=f"{i:064d}",
                    handle=f"h{i}",
                    user_id=account.id,
                    data="{}",
                    created_at=seen,
                    last_seen_at=seen,
                )
            )
        db.session.add(LoginFailure(account_key="a", client_key="c", occurred_at=long_ago))
        db.session.commit()
        dispatch.enqueue("workers.purge_expired_sessions")
        db.session.rollback()  # a rolled-back transaction publishes nothing
        dispatch.enqueue("workers.purge_expired_sessions")
        db.session.commit()  # published now
        runtime().keyring.rotate(db.session, account.organization_id)
        dispatch.enqueue("workers.reencrypt_keys")
        db.session.commit()
        assert rotation.pending(db.session) == 1

    worker = start_worker({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 90
        remaining = 3
        while time.monotonic() < deadline:
            with app.app_context():
                remaining = db.session.scalar(select(func.count()).select_from(StoredSession))
                failures = db.session.scalar(select(func.count()).select_from(LoginFailure))
                db.session.rollback()
                stale = rotation.pending(db.session)
                db.session.rollback()
            if remaining == 1 and failures == 0 and stale == 0:
                break
            time.sleep(0.5)
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert remaining == 1 and stale == 0, log[-3000:]
        assert "workers.purge_expired_sessions" in log and "succeeded" in log
        runs = set(re.findall(r"Task workers\.purge_expired_sessions\[([0-9a-f-]+)\] succeeded", log))
        assert len(runs) == 1, log[-3000:]  # the rolled-back enqueue published nothing
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
