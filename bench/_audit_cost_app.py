"""The web application as `bench/audit_cost.py` serves it with gunicorn, from the environment
(as `make run` does). With BENCH_AUDIT_OFF=1 the audit write (`referral.audit.services.write`,
which every `record` goes through) does nothing: the same request, the same queries and
commit, without the audit write. Only the benchmark loads this module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from flask import Flask

from referral import create_app
from referral.audit import services


def _no_audit_write(_session: Any, _events: Sequence[Any]) -> None:
    return None


def create() -> Flask:
    app = create_app()
    if os.environ.get("BENCH_AUDIT_OFF") == "1":
        services.write = _no_audit_write
    return app
