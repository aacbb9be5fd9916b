"""Key operations end to end: rotate, re-encrypt, retire, destroy; root-key rotation;
crypto-shredding of a deleted organisation; a restore drill from a dump and the key backup."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from config import Settings
from referral.accounts.models import User
from referral.extensions import db
from referral.runtime import runtime
from referral.security.crypto import CryptoError
from referral.security.models import DataKey
from tests.conftest import Account, Factory


def _secrets(app: Flask) -> dict[str, str | None]:
    with app.app_context():
        db.session.expunge_all()
        runtime().keyring.forget()
        return {u.id: u.totp_secret for u in db.session.scalars(select(User))}


def _open_case(app: Flask, account: Account, governorate: str, name: str) -> str:
    from referral.cases import services as cases

    with app.app_context():
        actor = db.session.get(User, account.id)
        case, _ = cases.create_case(
            db.session,
            actor,
            cases.CaseInput(
                {
                    "full_name": name,
                    "governorate": governorate,
                    "phone": "0599000111",
                    "narrative": f"narrative of {name}",
                }
            ),
        )
        cases.add_note(db.session, actor, case.id, f"note on {name}")
        db.session.commit()
        return case.id


def _cases(app: Flask) -> dict[str, tuple[Any, ...]]:
    from referral.cases.models import Case, CaseNote, Incident

    with app.app_context():
        db.session.expunge_all()
        runtime().keyring.forget()
        found: dict[str, tuple[Any, ...]] = {}
        for case in db.session.scalars(select(Case)):
            notes = tuple(n.body for n in db.session.scalars(select(CaseNote).where(CaseNote.case_id == case.id)))
            narratives = tuple(
                i.narrative for i in db.session.scalars(select(Incident).where(Incident.case_id == case.id))
            )
            found[case.id] = (case.full_name, case.phone, notes, narratives)
        return found


def _cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_rotate_reencrypt_retire_and_everything_still_reads(app: Flask, factory: Factory) -> None:
    org = factory.organization(name_en="Rotation Centre")
    accounts = [factory.user(organization=org) for _ in range(5)]
    other = factory.user()
    expected = _secrets(app)
    assert expected[accounts[0].id] == accounts[0].totp_secret

    with app.app_context():
        old_key = db.session.scalar(select(DataKey.id).where(DataKey.scope == org.id, DataKey.purpose == "data"))
    out = _cli(app, "keys", "rotate", "--org", "Rotation Centre")
    assert "version 2" in out
    refused = app.test_cli_runner().invoke(args=["keys", "retire", str(old_key)])
    assert refused.exit_code != 0 and "still use" in refused.output
    status = _cli(app, "keys", "status")
    assert "values waiting for re-encryption: 5" in status

    out = _cli(app, "keys", "reencrypt", "--batch", "2")
    assert "re-encrypted 5 values" in out
    assert "re-encrypted 0 values" in _cli(app, "keys", "reencrypt")  # idempotent
    _cli(app, "keys", "retire", str(old_key))
    with app.app_context():
        assert db.session.get(DataKey, old_key) is None  # the old key material is gone
    assert _secrets(app) == expected
    assert expected[other.id] == other.totp_secret
    with app.app_context():
        actions = set(db.session.scalars(text("SELECT action FROM audit_event")))
        assert {"keys.rotate", "keys.reencrypt", "keys.retire"} <= actions


def test_the_current_key_cannot_be_retired(app: Flask, factory: Factory) -> None:
    account = factory.user()
    with app.app_context():
        current = db.session.scalar(select(DataKey.id).where(DataKey.scope == account.organization_id))
    result = app.test_cli_runner().invoke(args=["keys", "retire", str(current)])
    assert result.exit_code != 0


def test_root_key_rotation_end_to_end(app: Flask, settings: Settings, make_app: Any, factory: Factory) -> None:
    accounts = [factory.user() for _ in range(3)]
    expected = _secrets(app)
    new_root = os.urandom(32)
    rotating = make_app(replace(settings, root_key=new_root, previous_root_keys=(settings.root_key,)))
    out = _cli(rotating, "keys", "rotate-root")
    assert "rewrapped" in out
    only_new = make_app(replace(settings, root_key=new_root, previous_root_keys=()))
    assert _secrets(only_new) == expected and expected[accounts[0].id] == accounts[0].totp_secret
    with pytest.raises(CryptoError):
        _secrets(app)  # the old root key alone no longer opens the data keys


def test_deleting_an_organisation_destroys_its_keys(app: Flask, factory: Factory) -> None:
    doomed_org = factory.organization(name_en="Closed Centre")
    doomed: Account = factory.user(organization=doomed_org)
    survivor = factory.user()
    with app.app_context():
        raw = db.session.execute(
            text("SELECT totp_secret FROM user_account WHERE username = :u"), {"u": doomed.username}
        ).scalar_one()
    out = _cli(app, "delete-organization", "Closed Centre", "--yes")
    assert "destroyed 1 data keys" in out  # its one data key (no blind index made yet)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DataKey).where(DataKey.scope == doomed_org.id)) == 0
        assert db.session.get(User, doomed.id) is None
        from referral.security.crypto import Context

        with pytest.raises(CryptoError):
            runtime().cipher.decrypt(bytes(raw), Context("user_account", "totp_secret", doomed.id, doomed_org.id))
    assert _secrets(app)[survivor.id] == survivor.totp_secret


# ---------------------------------------------------------------------------------- restore drill
def test_restore_drill_from_a_dump_and_the_key_backup(
    app: Flask, settings: Settings, make_app: Any, factory: Factory, tmp_path: Path
) -> None:
    """Back up the database and, apart from it, the root key; restore both into an empty
    database; the restored installation reads every encrypted value. Without the key it cannot."""
    accounts = [factory.user() for _ in range(3)]
    net = factory.network()
    worker = factory.user("caseworker", factory.organization(net))
    case_ids = [_open_case(app, worker, net.governorate, f"Restore-Drill-Name-{i}") for i in range(3)]
    expected = _secrets(app)
    expected_cases = _cases(app)
    assert expected_cases[case_ids[0]][0] == "Restore-Drill-Name-0"
    key_backup = tmp_path / "root-key.backup"
    key_backup.write_text(base64.b64encode(settings.root_key).decode())

    if settings.database_url.startswith("sqlite"):
        source = make_url(settings.database_url).database
        assert source
        dump = tmp_path / "dump.sqlite"
        with sqlite3.connect(source) as live, sqlite3.connect(dump) as copy:
            live.backup(copy)  # SQLite's online backup
        live.close()
        copy.close()
        shutil.copy(dump, tmp_path / "restored.db")
        restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        url = make_url(settings.database_url)
        target = f"restore_{uuid.uuid4().hex[:8]}"
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        dump = tmp_path / "dump.sql"
        subprocess.run(["pg_dump", "--no-owner", "-f", str(dump), plain], check=True)
        admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        subprocess.run(["psql", admin, "-q", "-c", f"CREATE DATABASE {target}"], check=True)
        restored_plain = url.set(drivername="postgresql", database=target).render_as_string(hide_password=False)
        subprocess.run(
            ["psql", restored_plain, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(dump)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        restored_url = url.set(database=target).render_as_string(hide_password=False)

    try:
        root = base64.b64decode(key_backup.read_text())
        restored = make_app(replace(settings, database_url=restored_url, root_key=root))
        assert _secrets(restored) == expected
        assert _cases(restored) == expected_cases  # every case reads, notes included
        assert expected[accounts[0].id] == accounts[0].totp_secret
        without_key = make_app(replace(settings, database_url=restored_url, root_key=os.urandom(32)))
        with pytest.raises(CryptoError):
            _secrets(without_key)
    finally:
        if not settings.database_url.startswith("sqlite"):
            for application in (restored, without_key):
                with application.app_context():
                    db.engine.dispose()
            subprocess.run(["psql", admin, "-q", "-c", f"DROP DATABASE IF EXISTS {target}"], check=True)
