"""Verifying the audit chain where auditors and operators meet it: the command line, the API,
the nightly task that tells auditors, the offline script on an export, and PostgreSQL roles."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from config import BASE_DIR, Settings
from referral.accounts import services as accounts
from referral.accounts.models import User
from referral.audit import chain, checkpoints, roles
from referral.audit.models import AuditCheckpoint, AuditEvent
from referral.audit.services import record
from referral.extensions import db
from referral.followups.audit_alerts import verify_nightly
from referral.followups.models import Notification
from referral.models_base import new_id
from referral.security import signing
from tests.conftest import Account, Factory, audit_guards_lifted

T = AuditEvent.__table__
EXPORT_COLUMNS = ("chain_position", "prev_hash", "event_hash", *chain.HASHED_FIELDS)


def _chain(app: Flask, n: int = 8) -> None:
    with app.app_context():
        for i in range(n):
            record(
                "referral.accept", None, case_code=f"HBR-2026-{i:06d}", organization_id=new_id(), referral_id=new_id()
            )
        db.session.commit()
        chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)


def _break(app: Flask, position: int) -> None:
    with app.app_context():
        with audit_guards_lifted(db.session):
            db.session.execute(update(T).where(T.c.chain_position == position).values(action="case.view"))
        db.session.commit()


def _auth(app: Flask, account: Account) -> dict[str, str]:
    with app.app_context():
        _, raw = accounts.issue_token(db.session, db.session.get(User, account.id), days=1)
        db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


# ------------------------------------------------------------------------------ command line
def test_the_commands_seal_verify_and_fail_with_status_1(app: Flask) -> None:
    with app.app_context():
        record("case.view", None, case_code="NBL-2026-000001")
        db.session.commit()
    runner = app.test_cli_runner()
    sealed = runner.invoke(args=["audit", "seal"])
    assert sealed.exit_code == 0 and "sealed 1 events" in sealed.output and "checkpoint at position 1" in sealed.output
    fine = runner.invoke(args=["audit", "verify"])
    assert fine.exit_code == 0 and fine.output.startswith("ok: 1 events, 1 checkpoints")
    _chain(app, 4)  # the verification above was audited too: it is event 2
    _break(app, 4)
    broken = runner.invoke(args=["audit", "verify", "--json"])
    assert broken.exit_code == 1
    assert json.loads(broken.output)["first_bad_position"] == 4


def test_the_checkpoints_file_holds_the_signed_heads_and_the_public_key(app: Flask, tmp_path: Path) -> None:
    _chain(app)
    out = tmp_path / "checkpoints.json"
    result = app.test_cli_runner().invoke(args=["audit", "checkpoints", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["format"] == checkpoints.FORMAT
    assert [c["position"] for c in document["checkpoints"]] == [8]
    with app.app_context():
        own = checkpoints.signer()
        assert own is not None
        assert document["public_keys"] == [
            {"key_id": own.key_id, "public_key": signing.encode_key(own.public_key), "published": True}
        ]


def test_a_new_key_pair_is_printed_and_the_worker_shows_its_public_key(app: Flask) -> None:
    runner = app.test_cli_runner()
    lines = dict(
        line.split("=", 1) for line in runner.invoke(args=["audit", "new-signing-key"]).output.splitlines()[:2]
    )
    private, public = signing.decode_key(lines["AUDIT_SIGNING_KEY"]), signing.decode_key(lines["AUDIT_PUBLIC_KEY"])
    assert signing.public_key_of(private) == public
    with app.app_context():
        own = checkpoints.signer()
        assert own is not None
    shown = runner.invoke(args=["audit", "public-key"]).output
    assert shown.startswith(signing.encode_key(own.public_key)) and own.key_id in shown


# ------------------------------------------------------------------------------ API
def test_auditors_verify_through_the_api_and_others_may_not(app: Flask, factory: Factory) -> None:
    _chain(app)
    auditor = _auth(app, factory.user("auditor"))
    client = app.test_client()
    answer = client.get("/api/v1/audit/verify", headers=auditor)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] is True and body["checked"] == 8 and body["first_bad_position"] is None
    assert body["checkpoint"]["position"] == 8 and len(body["checkpoint"]["head_hash"]) == 64
    _break(app, 3)
    assert client.get("/api/v1/audit/verify", headers=auditor).get_json()["first_bad_position"] == 3
    caseworker = _auth(app, factory.user("caseworker"))
    assert client.get("/api/v1/audit/verify", headers=caseworker).status_code == 403
    assert client.get("/api/v1/audit/checkpoints", headers=caseworker).status_code == 403
    assert client.get("/api/v1/audit/verify?x=1", headers=auditor).status_code == 400
    with app.app_context():
        verified = db.session.scalars(select(T.c.outcome).where(T.c.action == "audit.verify").order_by(T.c.id)).all()
    assert verified == ["success", "failure"]


def test_the_openapi_document_describes_the_verification(client: object) -> None:
    document = client.get("/api/v1/openapi.json").get_json()  # type: ignore[attr-defined]
    assert "/audit/verify" in document["paths"] and "/audit/checkpoints" in document["paths"]
    assert "AuditVerification" in document["components"]["schemas"]


# ------------------------------------------------------------------------------ nightly task
def test_a_failed_nightly_verification_tells_every_auditor_once_a_day(app: Flask, factory: Factory) -> None:
    first, second = factory.user("auditor"), factory.user("auditor")
    other = factory.user("sysadmin")
    _chain(app)
    with app.app_context():
        assert verify_nightly(db.session).ok
        db.session.commit()
        assert db.session.scalars(select(Notification)).all() == []
    _break(app, 5)
    night = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    with app.app_context():
        for _ in range(2):
            result = verify_nightly(db.session, night)
            db.session.commit()
            assert (result.ok, result.first_bad_position) == (False, 5)
        told = db.session.execute(select(Notification.user_id, Notification.kind, Notification.case_code)).all()
    assert sorted(told) == sorted(
        [(first.id, "audit.verification_failed", None), (second.id, "audit.verification_failed", None)]
    )
    assert other.id not in {row[0] for row in told}


def test_the_beat_seals_every_few_seconds_and_verifies_nightly(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_ENV", "development")  # the module builds its app from the environment
    monkeypatch.setenv("REFERRAL_INSTANCE_PATH", str(tmp_path))
    from workers.celery_app import make_celery

    schedule = make_celery(settings).conf.beat_schedule
    assert schedule["seal-audit"]["task"] == "workers.seal_audit"
    assert schedule["seal-audit"]["schedule"].total_seconds() <= 10
    assert schedule["verify-audit"]["task"] == "workers.verify_audit"


# ------------------------------------------------------------------------------ offline script
def _export(app: Flask, path: Path, where: object = None) -> None:
    """What the auditors' CSV export writes: the stored values, empty cells for null."""
    with app.app_context():
        stmt = select(*(T.c[name] for name in EXPORT_COLUMNS)).order_by(T.c.id)
        if where is not None:
            stmt = stmt.where(where)  # type: ignore[arg-type]
        rows = db.session.execute(stmt).all()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            cells = []
            for name, value in zip(EXPORT_COLUMNS, row, strict=True):
                if value is None:
                    cells.append("")
                elif isinstance(value, bytes):
                    cells.append(value.hex())
                elif isinstance(value, datetime):
                    cells.append(chain.timestamp(value))
                elif name == "details":
                    cells.append(json.dumps(value, ensure_ascii=False))
                elif isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "'"):
                    cells.append("'" + value)  # the export neutralises spreadsheet formulas
                else:
                    cells.append(str(value))
            writer.writerow(cells)


def _script(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "scripts" / "verify_audit.py"), *map(str, args), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_an_export_verifies_offline_and_tampering_is_found(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        record("case.view", None, reason="=HYPERLINK(x)", case_code="NBL-2026-000001", note="ح")
        db.session.commit()
    _chain(app, 9)
    with app.app_context():
        record("case.view", None, case_code="NBL-2026-UNSEALED")  # written after the seal: not chained yet
        db.session.commit()
        document = checkpoints.document(db.session)
        own = checkpoints.signer()
        assert own is not None
        public = signing.encode_key(own.public_key)
    marks = tmp_path / "checkpoints.json"
    marks.write_text(json.dumps(document))
    export = tmp_path / "export.csv"
    _export(app, export)

    good = _script(export, marks, "--public-key", public)
    assert good.returncode == 0, good.stdout + good.stderr
    result = json.loads(good.stdout)
    assert result["ok"] and result["rows"] == 10 and result["anchored"] == 10 and result["complete"]
    assert result["unsealed"] == 1 and result["keys_pinned"]

    with export.open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    lines[4] = lines[4].replace("HBR-2026-000002", "HBR-2026-000099")  # the event at position 4
    tampered = tmp_path / "tampered.csv"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = _script(tampered, marks, "--public-key", public)
    assert bad.returncode == 1 and json.loads(bad.stdout)["first_bad_position"] == 4

    forged = json.loads(marks.read_text())
    forged["checkpoints"][-1]["head_hash"] = "0" * 64
    marks.write_text(json.dumps(forged))
    assert json.loads(_script(export, marks, "--public-key", public).stdout)["first_bad_position"] == 10

    stranger = signing.encode_key(signing.public_key_of(signing.new_private_key()))
    marks.write_text(json.dumps(document))
    assert _script(export, marks, "--public-key", stranger).returncode == 1


def test_offline_a_checkpoint_removed_from_the_file_breaks_the_next_one_s_link(app: Flask, tmp_path: Path) -> None:
    _chain(app, 3)
    _chain(app, 3)
    with app.app_context():
        document = checkpoints.document(db.session)
    assert [c["position"] for c in document["checkpoints"]] == [3, 6]
    assert document["checkpoints"][0]["previous"] == "0" * 64 and document["checkpoints"][1]["previous"] != "0" * 64
    export = tmp_path / "export.csv"
    _export(app, export)
    marks = tmp_path / "checkpoints.json"
    marks.write_text(json.dumps(document))
    assert _script(export, marks).returncode == 0
    document["checkpoints"].pop(0)
    marks.write_text(json.dumps(document))
    removed = _script(export, marks)
    assert removed.returncode == 1
    assert json.loads(removed.stdout)["problems"] == [
        [6, "the checkpoint does not follow the one before it (one removed or altered)"]
    ]


def test_an_export_of_one_case_verifies_its_rows(app: Flask, tmp_path: Path) -> None:
    _chain(app, 6)
    marks = tmp_path / "checkpoints.json"
    with app.app_context():
        marks.write_text(json.dumps(checkpoints.document(db.session)))
    export = tmp_path / "case.csv"
    _export(app, export, T.c.case_code.in_(["HBR-2026-000001", "HBR-2026-000005"]))
    result = json.loads(_script(export, marks).stdout)
    assert result["ok"] and result["rows"] == 2 and not result["complete"]
    assert result["anchored"] == 1  # position 6 is the checkpoint; position 2 stands alone
    assert not result["keys_pinned"]


# ------------------------------------------------------------------------------ PostgreSQL roles
def test_on_postgresql_the_application_role_may_not_update_or_delete_audit_events(app: Flask) -> None:
    """As the application's role (granted what docs/deploy.md grants), events and checkpoints
    can be read, added and sealed, never changed or removed, whatever the trigger says."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("database roles are PostgreSQL's")
    role = "shabaka_app_test"
    with app.app_context():
        db.session.execute(
            text(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
                f"THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"
            )
        )
        roles.grant_app_role(db.session, role)
        db.session.commit()
        try:
            db.session.execute(text(f"SET LOCAL ROLE {role}"))
            record("case.view", None, case_code="NBL-2026-000001")
            record("case.view", None, case_code="NBL-2026-000002")
            db.session.flush()
            assert db.session.execute(select(T.c.id)).all()
            db.session.commit()
            db.session.execute(text(f"SET LOCAL ROLE {role}"))
            sealed = chain.seal(db.session, db.session.commit, signer=checkpoints.signer(), checkpoint_every=None)
            assert sealed.sealed == 2 and sealed.checkpoint_position == 2
            refused = (
                update(T).where(T.c.chain_position == 1).values(case_code="NBL-2026-999999"),
                update(T).where(T.c.chain_position == 1).values(event_hash=bytes(32)),
                delete(T).where(T.c.chain_position == 1),
                text("TRUNCATE audit_event"),
                update(AuditCheckpoint.__table__).values(signature=bytes(64)),
                delete(AuditCheckpoint.__table__),
            )
            for statement in refused:
                db.session.execute(text(f"SET LOCAL ROLE {role}"))
                with pytest.raises(DBAPIError) as error:
                    db.session.execute(statement)  # type: ignore[call-overload]
                assert "permission denied" in str(error.value) or "only ever sealed" in str(error.value)
                db.session.rollback()
            assert chain.verify(db.session).ok
        finally:
            db.session.rollback()
            db.session.execute(text(f"DROP OWNED BY {role}"))
            db.session.execute(text(f"DROP ROLE {role}"))
            db.session.commit()


def test_the_application_role_grants_name_a_plain_role() -> None:
    statements = roles.app_role_grants("shabaka_app")
    assert "GRANT UPDATE (chain_position, prev_hash, event_hash) ON audit_event TO shabaka_app" in statements
    assert any(s.startswith("REVOKE UPDATE, DELETE, TRUNCATE ON audit_event, audit_checkpoint") for s in statements)
    with pytest.raises(ValueError):
        roles.app_role_grants("x; DROP TABLE audit_event")
