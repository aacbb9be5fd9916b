"""Helpers of the audit tests: the events one request wrote, and a database refusing audit inserts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event, select

from referral.audit.actions import ACTIONS
from referral.audit.models import AuditEvent
from referral.extensions import db


def refuse_audit_inserts(refused: list[str]) -> Callable[[], None]:
    """From now on an INSERT into the audit table fails on every engine, as a full disk or a
    revoked grant would (its action names are
    noted in `refused`); returns the undo."""

    def fail(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT"):
            for row in parameters if many else [parameters]:
                values = row.values() if isinstance(row, dict) else row
                refused.extend(v for v in values if isinstance(v, str) and v in ACTIONS)
            raise RuntimeError("the audit store refused the insert")

    event.listen(Engine, "before_cursor_execute", fail)
    return lambda: event.remove(Engine, "before_cursor_execute", fail)


def request_events(app: Flask, request_id: str) -> list[AuditEvent]:
    """The events one request wrote (by its request id), detached."""
    with app.app_context():
        rows = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id))
        )
        db.session.expunge_all()
        return rows
