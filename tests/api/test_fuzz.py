"""The API fuzzes clean (issue 11, "Fuzzing in CI").

schemathesis (pinned in pyproject.toml) reads the OpenAPI document the app serves and drives the
live app with it: examples, the coverage phase's boundary and negative values, random fuzzing and
stateful sequences that follow the document's links (a case created, then read, changed, given a
consent, referred...). Every check runs, object-level authorization included: it replays one
organisation's reads with another organisation's token, and the other organisation must not get
the object. The demo network is the data; the identities are caseworkers of two networks (the
peers), a supervisor, an auditor and a coordinator, so each operation finds a role it admits.

The number of examples per operation is bounded so a backend's run stays under three minutes;
the random and stateful phases run on PostgreSQL (or on SQLite when it is the only pass).
A failure prints schemathesis' own report (with the curl command reproducing it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler

from tests.conftest import POSTGRES_PASS_TOO, serving

pytestmark = pytest.mark.worker  # a live server and a subprocess: grouped with the slow tests

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
# PostgreSQL, the deployed database, takes every phase; the SQLite pass takes the document's own
# examples and the coverage phase's boundary and negative values (what finds a 500 on bad input),
# leaving the random fuzzing and the stateful runs, which double the time, to the other pass.
PHASES = os.environ.get(
    "FUZZ_PHASES", "examples,coverage" if POSTGRES_PASS_TOO else "examples,coverage,fuzzing,stateful"
)
SEED = int(os.environ.get("FUZZ_SEED", "20261203"))
# (name in the report, demo username); the first two are peers that must not see each other's objects
IDENTITIES = (
    ("nablus-caseworker", "nbl.caseworker"),
    ("hebron-caseworker", "heb.caseworker"),
    ("nablus-supervisor", "nbl.supervisor"),
    ("auditor", "auditor"),
    ("nablus-coordinator", "coord.nablus"),
)
PEERS = ("nablus-caseworker", "hebron-caseworker")


class _QuietHandler(WSGIRequestHandler):
    """Thousands of requests: the access lines would drown schemathesis' report."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture
def fuzzed_server(app: Flask, make_app: Any) -> Iterator[str]:
    """The app on a local port with the demo network seeded; the request limits are raised so the
    fuzzer's burst is not refused (the limits have their own tests)."""
    from referral.demo import seed
    from referral.extensions import db
    from referral.runtime import runtime

    settings = app.config["SHABAKA_SETTINGS"]
    served = make_app(replace(settings, requests_per_minute_per_address=10**6, api_requests_per_minute_per_token=10**6))
    with served.app_context():
        seed(db.session, runtime())
        db.session.commit()
    with serving(served, _QuietHandler) as url:
        yield url


def _tokens(app: Flask) -> dict[str, str]:
    from referral.accounts import services as accounts
    from referral.extensions import db

    tokens = {}
    with app.app_context():
        for name, username in IDENTITIES:
            user = accounts.find_user(db.session, username)
            assert user is not None, username
            _, raw = accounts.issue_token(db.session, user, days=1, label="fuzzing")
            tokens[name] = raw
        db.session.commit()
    return tokens


def _auth_file(path: Path, tokens: dict[str, str]) -> Path:
    """A Web Fuzzing Commons auth file: one entry per identity, a fixed bearer header each."""
    entries = [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {raw}"}]}
        for name, raw in tokens.items()
    ]
    path.write_text(json.dumps({"auth": entries}))
    return path


def _config_file(path: Path, auth: Path) -> Path:
    path.write_text(
        "\n".join(
            [
                "[auth.wfc]",
                f'path = "{auth}"',
                f"peers = {json.dumps(list(PEERS))}",
                "",
                "[checks]",
                "enabled = true",
                "",
                # A well-formed request may still be refused by the state it meets: a 412 for a
                # stale If-Match, a 422 for a domain rule (an unknown organisation, a past expiry).
                # The document's own links (a case to its consent and follow-ups, a consent to a
                # referral, a referral to its steps), longer runs of them.
                "[phases.stateful]",
                "max-steps = 8",
                "",
                "[phases.stateful.generation]",
                "max-examples = 60",
                "",
                "[phases.stateful.inference]",
                "algorithms = []",
                "",
                "[checks.positive_data_acceptance]",
                'expected-statuses = ["2XX", "3XX", "401", "403", "404", "409", "412", "422", "429"]',
                "",
            ]
        )
    )
    return path


@pytest.mark.timeout(900)
def test_the_api_fuzzes_clean(app: Flask, fuzzed_server: str, tmp_path: Path) -> None:
    auth = _auth_file(tmp_path / "auth.json", _tokens(app))
    config = _config_file(tmp_path / "schemathesis.toml", auth)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{fuzzed_server}/api/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
        *os.environ.get("FUZZ_ARGS", "").split(),  # e.g. FUZZ_ARGS="--phases stateful --report har"
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=840, cwd=tmp_path, check=False)
    report = done.stdout + done.stderr
    print(report)
    if os.environ.get("FUZZ_REPORT"):  # a file for the report, and the report folder beside it
        Path(os.environ["FUZZ_REPORT"]).write_text(report)
        shutil.copytree(tmp_path / "report", Path(os.environ["FUZZ_REPORT"] + ".d"), dirs_exist_ok=True)
    assert done.returncode == 0, report[-20000:]
    assert "operations" in report.lower()
