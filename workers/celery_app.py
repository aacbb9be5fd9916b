"""The Celery application, configured from the same settings as the web app.

Run with `celery -A workers.celery_app worker` (and `beat`). Tasks run inside a Flask
application context and commit at their edge, like a request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask

from config import Settings

_flask_app: Flask | None = None


def flask_app() -> Flask:
    global _flask_app
    if _flask_app is None:
        from referral import create_app

        _flask_app = create_app(Settings.from_env())
    return _flask_app


class AppTask(Task):  # type: ignore[misc]
    """A task that runs in an application context, committing on success, rolling back on error."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from referral.extensions import db

        with flask_app().app_context():
            try:
                result = self.run(*args, **kwargs)
                db.session.commit()
                return result
            except BaseException:
                db.session.rollback()
                raise
            finally:
                db.session.remove()


def make_celery(settings: Settings) -> Celery:
    app = Celery("shabaka", task_cls=AppTask, set_as_current=True)
    app.conf.update(
        broker_url=settings.broker_url,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        beat_schedule_filename=str(settings.instance_path / "celerybeat-schedule"),
        beat_schedule={
            "purge-expired-sessions": {"task": "workers.purge_expired_sessions", "schedule": timedelta(minutes=5)},
            "purge-closed-cases": {"task": "workers.purge_closed_cases", "schedule": timedelta(days=1)},
            "sweep-reminders": {
                "task": "workers.sweep_reminders",
                "schedule": timedelta(seconds=settings.reminder_sweep_seconds),
            },
            "seal-audit": {"task": "workers.seal_audit", "schedule": timedelta(seconds=settings.audit_seal_seconds)},
            "verify-audit": {"task": "workers.verify_audit", "schedule": crontab(hour=2, minute=30)},
            "refresh-statistics": {
                "task": "workers.refresh_statistics",
                "schedule": timedelta(seconds=max(60, settings.statistics_snapshot_seconds // 2)),
            },
        },
        timezone="UTC",
        imports=("workers.tasks",),
    )
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # One beat at a time: RedBeat keeps the schedule in Redis behind a lock that a second
        # beat process waits on (it takes over if the first one dies).
        app.conf.update(
            beat_scheduler="redbeat.RedBeatScheduler",
            redbeat_redis_url=settings.broker_url,
            redbeat_key_prefix="shabaka:beat:",
            redbeat_lock_timeout=max(30, settings.reminder_sweep_seconds * 3),
            beat_max_loop_interval=5,
        )
    return app


celery = make_celery(Settings.from_env())
