"""Queueing background tasks by name, after the transaction commits.

The application never imports `workers/`: it names a task and this dispatcher publishes it
once the data it refers to is durable. A rolled-back request publishes nothing.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import current_app

from .transaction import after_commit


def _client() -> Celery:
    client = current_app.extensions.get("shabaka.celery")
    if client is None:
        settings = current_app.config["SHABAKA_SETTINGS"]
        client = Celery("shabaka-dispatch", broker=settings.broker_url, set_as_current=False)
        client.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)
        current_app.extensions["shabaka.celery"] = client
    return client


def enqueue(task_name: str, *args: str | int | list[str]) -> None:
    """Publish `task_name(*args)` after commit. Arguments are ids and numbers, never records."""
    client = _client()
    payload: list[Any] = list(args)
    after_commit(lambda: client.send_task(task_name, args=payload))


def publish_now(task_name: str, *args: Any) -> None:
    """Publish at once, for data already committed (an after-commit hook's own transaction).
    A broker that is down loses nothing durable: the sweeper finds the work again."""
    try:
        _client().send_task(task_name, args=list(args))
    except Exception:
        import logging

        logging.getLogger(__name__).warning("could not publish %s now; the next sweep will", task_name)
