"""The web application as `bench/audit_cost.py` serves it with gunicorn, from the environment
(as `make run` does). With BENCH_AUDIT_OFF=1 every audit event is dropped from the session just
before it would be flushed: the same request, the same queries and commit, without the audit
write. Only the benchmark loads this module.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from referral import create_app
from referral.audit.models import AuditEvent


def _drop_audit_events(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.new):
        if isinstance(obj, AuditEvent):
            session.expunge(obj)


def create() -> Flask:
    app = create_app()
    if os.environ.get("BENCH_AUDIT_OFF") == "1":
        event.listen(Session, "before_flush", _drop_audit_events)
    return app
