"""A real worker seals the audit trail with its own signing key, which the web process lacks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from config import Settings
from referral.audit import chain
from referral.audit.models import AuditCheckpoint, AuditEvent
from referral.audit.services import record
from referral.extensions import db
from referral.security import signing
from tests.helpers.workers import broker_url, publish, start_worker, stop_worker, wait_until

pytestmark = pytest.mark.worker


def test_the_worker_seals_and_signs_with_the_key_only_it_holds(
    app: Flask, settings: Settings, tmp_path: Path, worker_env: dict[str, str], use_broker: None
) -> None:
    worker_key = signing.new_private_key()
    public = signing.public_key_of(worker_key)
    url = broker_url("embedded", tmp_path)
    # the web side: no signing key, only the published public key
    app.config["SHABAKA_SETTINGS"] = replace(
        settings, broker_url=url, audit_signing_key=None, audit_public_keys=(public,)
    )
    app.extensions.pop("shabaka.celery", None)
    with app.app_context():
        for i in range(3):
            record("case.view", None, case_code=f"NBL-2026-{i:06d}")
        db.session.commit()
    publish(app, "workers.seal_audit")
    env = {**worker_env, "CELERY_BROKER_URL": url, "AUDIT_SIGNING_KEY": signing.encode_key(worker_key)}
    worker = start_worker(env, tmp_path / "worker.log")

    def sealed() -> bool:
        with app.app_context():
            done = db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
            db.session.rollback()
            return done

    try:
        assert wait_until(sealed), (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    finally:
        stop_worker(worker)
    with app.app_context():
        assert db.session.scalar(select(func.max(AuditEvent.chain_position))) == 3
        mark = db.session.scalar(select(AuditCheckpoint))
        assert mark.key_id == signing.key_id(public)
        result = chain.verify(db.session)
        assert result.ok and result.keys_pinned and result.checkpoints_checked == 1
