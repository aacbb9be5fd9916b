"""Reminders delivered by a real Celery worker, exactly once per due rung, also under faults:
two beats sweeping at once, the broker losing its messages, the worker killed with SIGKILL in
the middle of a delivery. Embedded transport always; Redis when TEST_REDIS_URL is set (CI)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text, update

from config import BASE_DIR, Settings
from referral import dispatch
from referral.extensions import db
from referral.followups import clocks
from referral.followups.models import Notification, ReminderStep
from referral.models_base import new_id, utcnow
from tests.conftest import REDIS_URL
from tests.helpers.cases import World, open_case
from tests.helpers.referrals import consent, refer
from tests.helpers.workers import BROKERS, broker_url, publish, start_worker, stop_worker, wait_until

pytestmark = pytest.mark.worker


def _due_rung(app: Flask, world: World) -> str:
    """A sent referral whose "half" rung fell due a minute ago; returns the rung's id."""
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id), priority="emergency")
    with app.app_context():
        step = db.session.scalars(
            select(ReminderStep).where(ReminderStep.target_id == referral_id, ReminderStep.step == "half")
        ).one()
        step.due_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        return step.id


def _delivered(app: Flask, step_id: str) -> tuple[str, int]:
    with app.app_context():
        state = db.session.scalar(select(ReminderStep.state).where(ReminderStep.id == step_id))
        told = db.session.scalar(select(func.count()).where(Notification.dedupe_key.like(f"step:{step_id}:%")))
        db.session.rollback()
        return str(state), int(told or 0)


def _point_at(app: Flask, settings: Settings, url: str) -> None:
    app.config["SHABAKA_SETTINGS"] = replace(settings, broker_url=url)
    app.extensions.pop("shabaka.celery", None)


def _worker_until_sent(app: Flask, step_id: str, env: dict[str, str], log: Path, linger: float = 0) -> None:
    """Start a worker, wait until the rung is sent (failing with the worker's log if it is not),
    let it run `linger` seconds more so that any duplicate run finishes too, and stop it."""
    worker = start_worker(env, log)
    try:
        assert wait_until(lambda: _delivered(app, step_id)[0] == "sent"), log.read_text(errors="replace")[-3000:]
        time.sleep(linger)
    finally:
        stop_worker(worker)


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
    url = broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    publish(app, "workers.sweep_reminders")
    publish(app, "workers.sweep_reminders")  # a second beat, the same minute
    # linger: let any duplicate run finish
    _worker_until_sent(app, step_id, {**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log", linger=2)
    state, told = _delivered(app, step_id)
    assert state == "sent" and told == 1  # the one focal point of the receiving organisation, once


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (TEST_REDIS_URL)")
def test_a_broker_restarted_empty_loses_no_reminder(
    app: Flask, world: World, settings: Settings, tmp_path: Path, worker_env: dict[str, str], use_broker: None
) -> None:
    import redis

    step_id = _due_rung(app, world)
    url = broker_url("redis", tmp_path)
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
    publish(app, "workers.sweep_reminders")  # the next minute's sweep
    _worker_until_sent(app, step_id, {**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
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
    url = broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    env = {**worker_env, "CELERY_BROKER_URL": url}
    with app.app_context():
        db.session.execute(update(ReminderStep).where(ReminderStep.id == step_id).values(claimed_at=utcnow()))
        db.session.commit()
    log = tmp_path / "worker.log"
    with _WriteLock(settings, step_id):
        publish(app, "workers.deliver_reminder", step_id)
        worker = start_worker(env, log)
        try:
            assert wait_until(lambda: log.exists() and "workers.deliver_reminder" in log.read_text(errors="replace"))
            time.sleep(1.5)  # the delivery is now waiting on the lock, half done
        finally:
            stop_worker(worker, signal.SIGKILL)
    assert _delivered(app, step_id) == ("pending", 0)  # nothing half written
    with app.app_context():  # the claim goes stale; the next sweep finds the rung again
        db.session.execute(
            update(ReminderStep)
            .where(ReminderStep.id == step_id)
            .values(claimed_at=utcnow() - clocks.CLAIM_STALE - timedelta(seconds=5))
        )
        db.session.commit()
    publish(app, "workers.sweep_reminders")
    # linger: a redelivered copy of the killed task, if any, runs too
    _worker_until_sent(app, step_id, env, tmp_path / "worker2.log", linger=2)
    assert _delivered(app, step_id) == ("sent", 1)


def _start_beat(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "DEBUG"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (TEST_REDIS_URL)")
def test_two_beat_processes_one_schedules_and_each_rung_is_delivered_once(
    app: Flask, world: World, settings: Settings, tmp_path: Path, worker_env: dict[str, str], use_broker: None
) -> None:
    step_id = _due_rung(app, world)
    url = broker_url("redis", tmp_path)
    env = {**worker_env, "CELERY_BROKER_URL": url, "REMINDER_SWEEP_SECONDS": "1"}
    beats = [_start_beat(env, tmp_path / f"beat{i}.log") for i in (1, 2)]
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        assert wait_until(lambda: _delivered(app, step_id)[0] == "sent"), (tmp_path / "worker.log").read_text()[-3000:]
        time.sleep(4)  # several more sweeps come and go
    finally:
        for process in (worker, *beats):
            stop_worker(process)
    logs = [(tmp_path / f"beat{i}.log").read_text(errors="replace") for i in (1, 2)]
    sending = [log.count("Sending due task sweep-reminders") for log in logs]
    assert sorted(sending)[0] == 0 and sorted(sending)[1] >= 2, logs  # one beat holds the lock
    assert _delivered(app, step_id) == ("sent", 1)


@pytest.mark.parametrize("broker", BROKERS)
def test_the_database_unreachable_during_a_sweep_and_back_loses_nothing(
    app: Flask,
    world: World,
    settings: Settings,
    tmp_path: Path,
    worker_env: dict[str, str],
    use_broker: None,
    broker: str,
) -> None:
    step_id = _due_rung(app, world)
    url = broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    with app.app_context():  # a sweep claimed the rung and published its delivery ...
        db.session.execute(update(ReminderStep).where(ReminderStep.id == step_id).values(claimed_at=utcnow()))
        db.session.commit()
    publish(app, "workers.deliver_reminder", step_id)
    publish(app, "workers.sweep_reminders")
    unreachable = (
        "postgresql://postgres@127.0.0.1:9/test"
        if settings.database_url.startswith("postgresql")
        else f"sqlite:///{tmp_path / 'gone' / 'missing.db'}"
    )
    log = tmp_path / "down.log"
    worker = start_worker({**worker_env, "CELERY_BROKER_URL": url, "DATABASE_URL": unreachable}, log)
    try:  # ... and the database is unreachable for the delivery and the next sweep
        assert wait_until(lambda: log.exists() and log.read_text(errors="replace").count("raised unexpected") >= 2), (
            log.read_text(errors="replace")[-3000:]
        )
    finally:
        stop_worker(worker)
    assert _delivered(app, step_id) == ("pending", 0)
    with app.app_context():  # the database is back; the claim has gone stale by the next sweep
        db.session.execute(
            update(ReminderStep)
            .where(ReminderStep.id == step_id)
            .values(claimed_at=utcnow() - clocks.CLAIM_STALE - timedelta(seconds=5))
        )
        db.session.commit()
    publish(app, "workers.sweep_reminders")
    _worker_until_sent(app, step_id, {**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "up.log")
    assert _delivered(app, step_id) == ("sent", 1)


@pytest.mark.parametrize("broker", BROKERS)
def test_a_follow_up_due_soon_gives_one_notification_and_one_email(
    app: Flask,
    world: World,
    settings: Settings,
    tmp_path: Path,
    worker_env: dict[str, str],
    use_broker: None,
    broker: str,
) -> None:
    from referral.accounts.models import User
    from referral.followups import services as followups
    from referral.followups.models import FollowUp as FollowUpModel
    from tests.helpers.cases import user
    from tests.helpers.mail import SmtpServer

    smtp = SmtpServer()
    smtp.start()
    case_id = open_case(app, world)
    with app.app_context():
        owner = db.session.get(User, world.mine.caseworker.id)
        owner.email, owner.notify_by_email = "caseworker@example.org", True
        followup = followups.create(
            db.session,
            user(world.mine.caseworker),
            case_id,
            followups.FollowUpInput(due_at=utcnow() + timedelta(seconds=3), kind="call"),
        )
        db.session.commit()
        followup_id = followup.id
    url = broker_url(broker, tmp_path)
    env = {
        **worker_env,
        "CELERY_BROKER_URL": url,
        "REMINDER_SWEEP_SECONDS": "1",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "Shabaka <no-reply@shabaka.test>",
        "BASE_URL": "https://shabaka.test",
    }
    command = [
        *("-m", "celery", "-A", "workers.celery_app", "worker", "--beat", "--pool", "solo", "--loglevel", "INFO"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat", "--schedule", str(tmp_path / "schedule")),
    ]
    with (tmp_path / "worker.log").open("wb") as out:  # the worker and its beat, as `make run` starts them
        worker = subprocess.Popen(
            [sys.executable, *command],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert wait_until(lambda: len(smtp.received) >= 1, 90), (tmp_path / "worker.log").read_text()[-3000:]
        time.sleep(3)  # more sweeps run meanwhile
    finally:
        stop_worker(worker)
        smtp.stop()
    with app.app_context():
        told = db.session.scalars(select(Notification).where(Notification.user_id == world.mine.caseworker.id)).all()
        due = [n for n in told if n.kind == "followup.due"]
        assert len(due) == 1 and due[0].target_id == case_id
        step = db.session.scalars(
            select(ReminderStep).where(ReminderStep.target_id == followup_id, ReminderStep.step == "due")
        ).one()
        assert step.state == "sent"
    assert len(smtp.received) == 1 and smtp.received[0].rcpt == ["caseworker@example.org"]
    body = smtp.received[0].body
    assert "https://shabaka.test/notifications" in body
    with app.app_context():
        code = db.session.get(FollowUpModel, followup_id).case_code
    assert code in body


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
    url = broker_url(broker, tmp_path)
    _point_at(app, settings, url)
    publish(app, "workers.sweep_reminders")  # one beat; the full sweep publishes the next
    worker = start_worker({**worker_env, "CELERY_BROKER_URL": url}, tmp_path / "worker.log")
    try:
        assert wait_until(lambda: _due_unsent(app) == 0, 90), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop_worker(worker)
    assert _delivered(app, step_id) == ("sent", 1)


def _due_unsent(app: Flask) -> int:
    with app.app_context():
        count = clocks.status(db.session).due_unsent
        db.session.rollback()
        return count
