"""The embedded default holds a small office (issue 11, finding 9).

make run's own stack (its gunicorn command line, 2 workers x 4 threads, a Celery worker with its
beat on the embedded transport, SQLite) under eight API clients mixing the case list, case views,
new cases and referral sends, while operators run `create-user` beside them: no request fails,
none is refused as a conflict, and every command succeeds. bench/embedded_load.py is the same
harness at the full size (60 s, 100 commands); the test runs 20 s and 12 commands to keep CI short
(each command is a process of its own, and CI measures the coverage of every one).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        os.environ.get("SHABAKA_TEST_BACKEND", "sqlite") != "sqlite", reason="the embedded default is SQLite"
    ),
]


def _harness() -> Any:
    spec = importlib.util.spec_from_file_location("embedded_load", ROOT / "bench" / "embedded_load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_eight_clients_and_the_operators_commands_all_succeed(tmp_path: Path) -> None:
    result = _harness().run(duration=20, cli_writes=12, instance=tmp_path)
    summary = result.summary()
    print(summary)
    assert result.requests > 300, summary  # the load really ran
    assert result.timings["referral send"], summary
    assert result.errors == [] and result.conflicts == 0, summary
    assert result.refused == [], summary
    assert result.cli_writes == 12 and result.cli_failures == [], summary
