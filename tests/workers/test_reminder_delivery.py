"""Reminders delivered by a real Celery worker, exactly once per due rung, also under faults:
two beats sweeping at once, the broker losing its messages, the worker killed with SIGKILL in
the middle of a delivery. Embedded transport always; Redis when TEST_REDIS_URL is set (CI)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text, update

from config import Settings
from referral import dispatch
from referral.extensions import db
from referral.followups import clocks
from referral.followups.models import Notification, ReminderStep
from referral.models_base import new_id, utcnow
from tests.cases.conftest import World, open_case
from tests.cases.conftest import world as world
from tests.conftest import REDIS_URL
from tests.referrals.test_services import _consent, _refer
from tests.workers.test_worker import BROKERS, _broker_url, _start_worker
from tests.workers.test_worker import use_broker as use_broker
from tests.workers.test_worker import worker_env as worker_env

pytestmark = pytest.mark.worker


def _due_rung(app: Flask, world: World) -> str:
    """A sent referral whose "half" rung fell due a minute ago; returns the rung's id."""
    case_id = open_case(app, world)
    referral_id = _refer(app, world, case_id, _consent(app, world, case_id), priority="emergency")
    with app.app_context():
        step = db.session.scalars(
            select(ReminderStep).where(ReminderStep.target_id == referral_id, ReminderStep.step == "half")
        ).one()
        step.due_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        return step.id


def _wait(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def _delivered(app: Flask, step_id: str) -> tuple[str, int]:
    with app.app_context():
        state = db.session.scalar(select(ReminderStep.state).where(ReminderStep.id == step_id))
        told = db.session.scalar(select(func.count()).where(Notification.dedupe_key.like(f"step:{step_id}:%")))
        db.session.rollback()
        return str(state), int(told or 0)


def _publish(app: Flask, task: str, *args: str) -> None:
    with app.app_context():
        dispatch.enqueue(task, *args)
        db.session.commit()


def _point_at(app: Flask, settings: Settings, url: str) -> None:
    app.config["SHABAKA_SETTINGS"] = replace(settings, broker_url=url)
    app.extensions.pop("shabaka.celery", None)


def _stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(worker.pid, sig)
    except ProcessLookupError:
        return
    worker.wait(timeout=30)


@pytest.mark.parametrize("broker", BROKERS)
def test_two_beats_sweeping_at_once_deliver_each_rung_once(
    app: Flask,
    world: World,
    settings: Settings,
    tmp_path: Path,
    worker_env: dict[str, str],
    use_broker: None,
    broker: str,
) -> None:
    step_id = _due_rung(app, world)
    url = _broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    _publish(app, "workers.sweep_reminders")
    _publish(app, "workers.sweep_reminders")  # a second beat, the same minute
    worker = _start_worker({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    try:
        assert _wait(lambda: _delivered(app, step_id)[0] == "sent"), (tmp_path / "worker.log").read_text()[-3000:]
        time.sleep(2)  # let any duplicate run finish
    finally:
        _stop(worker)
    state, told = _delivered(app, step_id)
    assert state == "sent" and told == 1  # the one focal point of the receiving organisation, once


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (TEST_REDIS_URL)")
def test_a_broker_restarted_empty_loses_no_reminder(
    app: Flask, world: World, settings: Settings, tmp_path: Path, worker_env: dict[str, str], use_broker: None
) -> None:
    import redis

    step_id = _due_rung(app, world)
    url = _broker_url("redis", tmp_path)
    _point_at(app, settings, url)
    with app.app_context():
        ids = clocks.sweep(db.session)  # claimed, and its delivery task published ...
        for claimed in ids:
            dispatch.enqueue("workers.deliver_reminder", claimed)
        db.session.commit()
    assert ids == [step_id]
    redis.Redis.from_url(url).flushdb()  # ... then Redis restarts without persistence
    with app.app_context():  # time passes: the claim goes stale
        db.session.execute(
            update(ReminderStep)
            .where(ReminderStep.id == step_id)
            .values(claimed_at=utcnow() - clocks.CLAIM_STALE - timedelta(seconds=5))
        )
        db.session.commit()
    _publish(app, "workers.sweep_reminders")  # the next minute's sweep
    worker = _start_worker({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    try:
        assert _wait(lambda: _delivered(app, step_id)[0] == "sent"), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        _stop(worker)
    assert _delivered(app, step_id) == ("sent", 1)


class _WriteLock:
    """Holds the database's write lock (SQLite) or the rung's row lock (PostgreSQL), so that a
    worker's delivery blocks in the middle, where the test can kill it."""

    def __init__(self, settings: Settings, step_id: str) -> None:
        self.url = settings.database_url
        self.step_id = step_id
        self.handle: Any = None

    def __enter__(self) -> _WriteLock:
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1]
            self.handle = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.handle.execute("BEGIN IMMEDIATE")
        else:
            engine = create_engine(self.url)
            self.handle = engine.connect()
            self.handle.begin()
            self.handle.execute(text("SELECT id FROM reminder_step WHERE id = :id FOR UPDATE"), {"id": self.step_id})
        return self

    def __exit__(self, *exc: object) -> None:
        if isinstance(self.handle, sqlite3.Connection):
            self.handle.execute("ROLLBACK")
            self.handle.close()
        else:
            self.handle.rollback()
            self.handle.close()
            self.handle.engine.dispose()


@pytest.mark.parametrize("broker", BROKERS)
def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_nothing(
    app: Flask,
    world: World,
    settings: Settings,
    tmp_path: Path,
    worker_env: dict[str, str],
    use_broker: None,
    broker: str,
) -> None:
    step_id = _due_rung(app, world)
    url = _broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    env = {**worker_env, "CELERY_BROKER_URL": url}
    with app.app_context():
        db.session.execute(update(ReminderStep).where(ReminderStep.id == step_id).values(claimed_at=utcnow()))
        db.session.commit()
    log = tmp_path / "worker.log"
    with _WriteLock(settings, step_id):
        _publish(app, "workers.deliver_reminder", step_id)
        worker = _start_worker(env, log)
        try:
            assert _wait(lambda: log.exists() and "workers.deliver_reminder" in log.read_text(errors="replace"))
            time.sleep(1.5)  # the delivery is now waiting on the lock, half done
        finally:
            _stop(worker, signal.SIGKILL)
    assert _delivered(app, step_id) == ("pending", 0)  # nothing half written
    with app.app_context():  # the claim goes stale; the next sweep finds the rung again
        db.session.execute(
            update(ReminderStep)
            .where(ReminderStep.id == step_id)
            .values(claimed_at=utcnow() - clocks.CLAIM_STALE - timedelta(seconds=5))
        )
        db.session.commit()
    _publish(app, "workers.sweep_reminders")
    worker = _start_worker(env, tmp_path / "worker2.log")
    try:
        assert _wait(lambda: _delivered(app, step_id)[0] == "sent"), (tmp_path / "worker2.log").read_text()[-3000:]
        time.sleep(2)  # a redelivered copy of the killed task, if any, runs too
    finally:
        _stop(worker)
    assert _delivered(app, step_id) == ("sent", 1)


@pytest.mark.parametrize("broker", BROKERS)
def test_one_sweep_drains_a_backlog_larger_than_its_batch(
    app: Flask,
    world: World,
    settings: Settings,
    tmp_path: Path,
    worker_env: dict[str, str],
    use_broker: None,
    broker: str,
) -> None:
    step_id = _due_rung(app, world)
    due = utcnow() - timedelta(minutes=1)
    with app.app_context():  # rungs whose referral is gone: each is settled as cancelled
        for i in range(clocks.SWEEP_BATCH + 20):
            db.session.add(
                ReminderStep(clock="referral_response", target_id=new_id(), step="half", case_code=f"X{i}", due_at=due)
            )
        db.session.commit()
    url = _broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    _publish(app, "workers.sweep_reminders")  # one beat; the full sweep publishes the next
    worker = _start_worker({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    try:
        assert _wait(lambda: _due_unsent(app) == 0, 90), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        _stop(worker)
    assert _delivered(app, step_id) == ("sent", 1)


def _due_unsent(app: Flask) -> int:
    with app.app_context():
        count = clocks.status(db.session).due_unsent
        db.session.rollback()
        return count
