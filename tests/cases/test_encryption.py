"""Case ciphertext is bound to its place, and survives key rotation of every kind."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect, select, text

from config import Settings
from referral.cases import services
from referral.cases.models import Case, CaseNote, Incident
from referral.extensions import db
from referral.runtime import runtime
from referral.security.fields import Unreadable, encrypted_attributes, unreadable_values
from tests.helpers.cases import MARKER_NAME, World, open_case, user


def _db_id(value: str) -> str:
    return value if db.engine.dialect.name == "postgresql" else value.replace("-", "")


def _raw(table: str, column: str, row_id: str) -> bytes:
    return bytes(
        db.session.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": _db_id(row_id)}).scalar_one()
    )


def _put(table: str, column: str, row_id: str, blob: bytes) -> None:
    db.session.execute(text(f"UPDATE {table} SET {column} = :b WHERE id = :id"), {"b": blob, "id": _db_id(row_id)})
    db.session.commit()


def _reload(model: Any, row_id: str) -> Any:
    db.session.expunge_all()
    runtime().keyring.forget()
    return db.session.get(model, row_id)


@pytest.mark.parametrize("move", ["other_column", "other_row", "other_organisation", "other_table"])
def test_moved_ciphertext_is_refused(app: Flask, world: World, move: str) -> None:
    first = open_case(app, world)
    second = open_case(app, world)
    theirs = open_case(app, world, by=world.other.caseworker)
    with app.app_context():
        blob = _raw("case_file", "full_name", first)
        if move == "other_column":
            _put("case_file", "address", first, blob)
            target_model, target = Case, first
        elif move == "other_row":
            _put("case_file", "full_name", second, blob)
            target_model, target = Case, second
        elif move == "other_organisation":
            _put("case_file", "full_name", theirs, blob)
            target_model, target = Case, theirs
        else:
            incident_id = db.session.scalar(select(Incident.id).where(Incident.case_id == first))
            _put("incident", "narrative", incident_id, blob)
            target_model, target = Incident, incident_id
        column = {"other_column": "address", "other_table": "narrative"}.get(move, "full_name")
        _assert_only_broken(_reload(target_model, target), column)


def _assert_only_broken(loaded: Any, column: str) -> None:
    """The moved or altered value is refused (a marker, noted for the request edge); the row's
    other values, which still authenticate, load as they were."""
    marker = getattr(loaded, column)
    assert isinstance(marker, Unreadable) and (marker.table, marker.column) == (loaded.__tablename__, column)
    assert unreadable_values(db.session) == [marker]
    others = set(encrypted_attributes(inspect(type(loaded)))) - {column}
    assert not any(isinstance(getattr(loaded, name), Unreadable) for name in others)
    if column != "full_name" and isinstance(loaded, Case):
        assert MARKER_NAME in loaded.full_name


def test_a_flipped_bit_in_a_case_field_is_refused(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        blob = bytearray(_raw("case_file", "safe_contact", case_id))
        blob[20] ^= 0x80
        _put("case_file", "safe_contact", case_id, bytes(blob))
        _assert_only_broken(_reload(Case, case_id), "safe_contact")


def _snapshot(app: Flask) -> dict[str, Any]:
    with app.app_context():
        db.session.expunge_all()
        runtime().keyring.forget()
        cases = {
            c.id: (c.full_name, c.national_id, c.phone, c.safe_contact, c.address)
            for c in db.session.scalars(select(Case))
        }
        notes = {n.id: n.body for n in db.session.scalars(select(CaseNote))}
        incidents = {i.id: i.narrative for i in db.session.scalars(select(Incident))}
        return {"cases": cases, "notes": notes, "incidents": incidents}


def _cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_every_case_reads_after_rotation_reencryption_and_retirement(app: Flask, world: World) -> None:
    ids = [open_case(app, world) for _ in range(3)] + [open_case(app, world, by=world.other.caseworker)]
    with app.app_context():
        services.add_note(db.session, user(world.mine.caseworker), ids[0], "Marker note before rotation")
        db.session.commit()
    before = _snapshot(app)
    assert before["cases"][ids[0]][0].startswith(MARKER_NAME)
    with app.app_context():
        new = runtime().keyring.rotate(db.session, world.mine.id)
        db.session.commit()
        from referral.security.keys import current_row

        current_id = current_row(db.session, world.mine.id, "data").id  # type: ignore[union-attr]
    assert "re-encrypted" in _cli(app, "keys", "reencrypt")
    status = _cli(app, "keys", "status")
    assert "values waiting for re-encryption: 0" in status
    with app.app_context():
        from referral.security.models import DataKey

        old_ids = list(
            db.session.scalars(
                select(DataKey.id).where(
                    DataKey.scope == world.mine.id, DataKey.id != current_id, DataKey.purpose == "data"
                )
            )
        )
    assert old_ids and new.id == current_id
    for key_id in old_ids:
        _cli(app, "keys", "retire", str(key_id))
    assert _snapshot(app) == before


def test_every_case_reads_after_root_key_rotation(app: Flask, settings: Settings, make_app: Any, world: World) -> None:
    for _ in range(2):
        open_case(app, world)
    before = _snapshot(app)
    new_root = os.urandom(32)
    _cli(make_app(replace(settings, root_key=new_root, previous_root_keys=(settings.root_key,))), "keys", "rotate-root")
    assert _snapshot(make_app(replace(settings, root_key=new_root, previous_root_keys=()))) == before
