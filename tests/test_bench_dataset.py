"""The reference data set (bench/dataset.py), built at a tiny scale: what benchmarks rely on.

A bench caseworker signs in through the real login (password, then a TOTP code) and sees her
cases with their names decrypted; the audit chain verifies with the app's own verifier;
referrals exist in every state; the manifest counts what is in the database.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select

from config import Settings
from referral.audit import chain
from referral.cases.models import Case
from referral.cases.services import masked_name
from referral.extensions import db
from referral.referrals.models import STATES, Referral
from tests.conftest import BACKEND, csrf, password_step

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the data set is built with PostgreSQL's COPY")

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import dataset  # noqa: E402  (bench/ is the harness's folder, not a package)


@pytest.fixture
def built(app: Flask, settings: Settings, make_app: Any) -> tuple[Flask, dict[str, Any]]:
    """The tiny data set in the test database, and an app that holds the bench keys."""
    with app.app_context():
        db.session.remove()
    manifest = dataset.load(settings.database_url, "tiny", seed=7)
    bench_app = make_app(
        replace(
            settings,
            root_key=dataset.BENCH_ROOT_KEY,
            audit_signing_key=dataset.BENCH_AUDIT_SIGNING_KEY,
        )
    )
    return bench_app, manifest


def test_a_bench_caseworker_signs_in_and_reads_her_cases(built: tuple[Flask, dict[str, Any]]) -> None:
    bench_app, manifest = built
    sample = manifest["sample"]
    client = bench_app.test_client()
    answer = password_step(client, sample["caseworker"], dataset.BENCH_PASSWORD)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login/mfa")
    token = csrf(client, "/login/mfa")
    code = pyotp.TOTP(dataset.BENCH_TOTP_SECRET).now()
    done = client.post("/login/mfa", data={"csrf_token": token, "code": code})
    assert done.status_code == 302, done.get_data(as_text=True)[:300]

    listing = client.get("/cases")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert sample["case_code"] in page
    with bench_app.app_context():
        case = db.session.get(Case, sample["case_id"])
        assert case is not None and isinstance(case.full_name, str)
        initials = str(masked_name(case))
        assert initials and initials != case.full_name
        assert dataset.PREFIXES[case.governorate] in case.case_code
    assert initials in page  # the list shows her initials, decrypted from the sealed name
    view = client.get(f"/cases/{sample['case_id']}")
    assert view.status_code == 200
    assert re.search(r"integrity-failure", view.get_data(as_text=True)) is None


def test_the_audit_chain_verifies_and_referrals_reach_every_state(built: tuple[Flask, dict[str, Any]]) -> None:
    bench_app, manifest = built
    with bench_app.app_context():
        result = chain.verify(db.session)
        assert result.ok, result.as_dict()
        assert result.keys_pinned and result.checkpoints_checked > 0
        assert result.checked == manifest["counts"]["audit_event"] == dataset.SCALES["tiny"].audit_events
        states = set(db.session.scalars(select(Referral.state).distinct()))
        assert states == set(STATES)
        cases = db.session.scalar(select(func.count()).select_from(Case))
    assert cases == manifest["counts"]["case_file"] == dataset.SCALES["tiny"].cases
    assert manifest["counts"]["referral"] == dataset.SCALES["tiny"].referrals
    assert manifest["counts"]["user_account"] >= 3 * 120
