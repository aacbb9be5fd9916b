"""The production shape holds under load and survives its processes being killed (issue 15).

bench/load.py's harness, short: deploy/Procfile's processes with production settings (one
gunicorn master with 2 workers, 2 Celery workers, 1 beat) on PostgreSQL and Redis, a few signed-in
people reading pages and writing through the API; a Celery worker is killed with SIGKILL and
started again, then a gunicorn worker. No request fails but those in flight on the killed gunicorn
worker, every follow-up reminder due in the run reaches each recipient exactly once, and the audit
chain verifies afterwards. bench/load.py is the same at full size (50 people, 5 minutes).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKEND, REDIS_URL

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    pytest.mark.skipif(BACKEND != "postgres", reason="the production shape runs on PostgreSQL"),
    pytest.mark.skipif(not REDIS_URL, reason="the production shape needs Redis (TEST_REDIS_URL)"),
]


def _harness() -> Any:
    spec = importlib.util.spec_from_file_location("load", ROOT / "bench" / "load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(240)
def test_the_production_shape_loses_no_request_and_no_reminder_when_workers_are_killed(tmp_path: Path) -> None:
    load = _harness()
    outcome = load.production(
        os.environ["TEST_DATABASE_URL"],
        str(REDIS_URL),
        tmp_path,
        users=4,
        duration=18,
        think=0.3,
        drill=True,
        # due after the Celery worker is back: a rung it had claimed would wait two minutes
        followup_due=(11.0, 14.0),
        reminder_wait=45,
    )
    summary = outcome.summary()
    print(summary)
    assert summary["requests"] > 50, summary  # the load really ran
    assert {"case open", "followup add", "referral send", "case view", "home"} <= set(summary["ms"]), summary
    assert outcome.drill["ok"], summary  # both killed, the worker restarted, the master replaced its worker
    assert outcome.errors() == [], summary
    assert len(outcome.in_flight()) <= load.WEB_THREADS, summary
    assert outcome.reminders["ok"] and outcome.reminders["due_in_window"] >= 3, summary
    assert outcome.audit["ok"] and outcome.audit["unsealed"] == 0, summary
    assert summary["problems"] == [], summary
