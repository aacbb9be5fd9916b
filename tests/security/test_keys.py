"""The key hierarchy and the encrypted column type, on the real database."""

from __future__ import annotations

import os

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from referral.accounts.models import User
from referral.extensions import db
from referral.runtime import runtime
from referral.security.crypto import FieldCipher, UnknownKey, blind_index
from referral.security.fields import PlaintextRefused, Unreadable, unreadable_values
from referral.security.keys import DATA, DatabaseKeyring, LocalRootKeys, current_row
from referral.security.models import DataKey
from tests.conftest import Factory


def _raw_secret(user_id: str) -> bytes:
    value = db.session.execute(
        text("SELECT totp_secret FROM user_account WHERE id = :id"), {"id": _db_id(user_id)}
    ).scalar_one()
    return bytes(value)


def _db_id(user_id: str) -> str:
    return user_id if db.engine.dialect.name == "postgresql" else user_id.replace("-", "")


def _load(user_id: str) -> User:
    db.session.expunge_all()
    return db.session.get(User, user_id)


def test_each_organisation_has_its_own_data_key(app: Flask, factory: Factory) -> None:
    a, b = factory.user(), factory.user()
    with app.app_context():
        ids = {FieldCipher.key_id_of(_raw_secret(a.id)), FieldCipher.key_id_of(_raw_secret(b.id))}
        assert len(ids) == 2
        scopes = set(db.session.scalars(select(DataKey.scope).where(DataKey.purpose == DATA)))
        assert {a.organization_id, b.organization_id} <= scopes
        # wrapped keys are stored, never the keys themselves
        for row in db.session.scalars(select(DataKey)):
            assert len(row.wrapped) == 12 + 32 + 16


@pytest.mark.parametrize("target", ["other_row_same_org", "other_org"])
def test_a_value_copied_to_another_row_does_not_decrypt(app: Flask, factory: Factory, target: str) -> None:
    source = factory.user()
    org = factory.organization() if target == "other_org" else None
    victim = factory.user(organization=org) if org else factory.user(organization=_org_of(app, source))
    with app.app_context():
        db.session.execute(
            text("UPDATE user_account SET totp_secret = :blob WHERE id = :id"),
            {"blob": _raw_secret(source.id), "id": _db_id(victim.id)},
        )
        db.session.commit()
        runtime().keyring.forget()
        loaded = _load(victim.id)
        assert loaded.totp_secret == Unreadable("user_account", "totp_secret", victim.id, loaded.organization_id)
        assert unreadable_values(db.session) == [loaded.totp_secret]


def _org_of(app: Flask, account: object) -> object:
    from referral.directory.models import Organization

    with app.app_context():
        org = db.session.get(Organization, account.organization_id)  # type: ignore[attr-defined]
        db.session.expunge(org)
        return org


def test_a_flipped_bit_in_the_database_does_not_decrypt(app: Flask, factory: Factory) -> None:
    account = factory.user()
    with app.app_context():
        blob = bytearray(_raw_secret(account.id))
        blob[-3] ^= 0x10
        db.session.execute(
            text("UPDATE user_account SET totp_secret = :blob WHERE id = :id"),
            {"blob": bytes(blob), "id": _db_id(account.id)},
        )
        db.session.commit()
        assert isinstance(_load(account.id).totp_secret, Unreadable)


def test_plain_values_cannot_bypass_the_orm(app: Flask, factory: Factory) -> None:
    account = factory.user()
    with app.app_context(), pytest.raises(Exception) as caught:
        db.session.execute(User.__table__.update().where(User.id == account.id).values(totp_secret="JBSWY3DP"))
    assert isinstance(caught.value, PlaintextRefused) or isinstance(caught.value.__cause__, PlaintextRefused)


def test_rotation_writes_new_values_with_the_new_version(app: Flask, factory: Factory) -> None:
    account = factory.user()
    with app.app_context():
        rt = runtime()
        before = FieldCipher.key_id_of(_raw_secret(account.id))
        rotated = rt.keyring.rotate(db.session, account.organization_id)
        db.session.commit()
        assert rotated.version == 2
        user = _load(account.id)
        assert user.totp_secret == account.totp_secret  # the old version still reads
        user.totp_secret = account.totp_secret + "AA"
        db.session.commit()
        after = FieldCipher.key_id_of(_raw_secret(account.id))
        assert after == rotated.id != before
        assert _load(account.id).totp_secret == account.totp_secret + "AA"


def test_root_key_rotation_rewraps_and_the_old_root_is_then_unneeded(app: Flask, factory: Factory) -> None:
    account = factory.user()
    with app.app_context():
        rt = runtime()
        old_root = rt.settings.root_key
        new_root = os.urandom(32)
        rotating = DatabaseKeyring(LocalRootKeys(new_root, [old_root]))
        rows = list(db.session.scalars(select(DataKey)))
        assert rows and all(rotating.rewrap(row) for row in rows)
        db.session.commit()
        fresh = FieldCipher(DatabaseKeyring(LocalRootKeys(new_root)))
        blob = _raw_secret(account.id)
        from referral.security.crypto import Context

        context = Context("user_account", "totp_secret", account.id, account.organization_id)
        assert fresh.decrypt_text(blob, context) == account.totp_secret
        with pytest.raises(UnknownKey):  # the old root key no longer opens anything
            FieldCipher(DatabaseKeyring(LocalRootKeys(old_root))).decrypt(blob, context)


def test_a_key_made_in_a_rolled_back_transaction_is_not_remembered(app: Flask, factory: Factory) -> None:
    org = factory.organization()
    with app.app_context():
        rt = runtime()
        rt.keyring.forget()
        from referral.security.crypto import Context

        context = Context("t", "c", "r", org.id)
        _, first_key = rt.keyring.current(context)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(DataKey).where(DataKey.scope == org.id)) == 0
        second_id, second_key = rt.keyring.current(context)
        db.session.commit()
        assert second_key != first_key
        assert current_row(db.session, org.id, DATA).id == second_id  # type: ignore[union-attr]


def test_blind_index_matches_within_an_organisation_only(app: Flask, factory: Factory) -> None:
    a, b = factory.organization(), factory.organization()
    with app.app_context():
        keyring = runtime().keyring
        key_a, key_b = keyring.index_key(a.id), keyring.index_key(b.id)
        db.session.commit()
        same = blind_index(key_a, "phone", "+970 59-123 4567", "phone")
        assert same == blind_index(key_a, "phone", "00970591234567", "phone")
        assert same == blind_index(key_a, "phone", "٩٧٠٥٩١٢٣٤٥٦٧", "phone")  # Arabic-Indic digits
        assert same != blind_index(key_b, "phone", "+970 59-123 4567", "phone")
        assert same != blind_index(key_a, "national_id", "+970 59-123 4567", "national_id")
        assert blind_index(key_a, "phone", "   ", "phone") is None
        assert len(same or "") == 32


def test_two_creators_of_the_same_key_settle_on_one(app: Flask, factory: Factory) -> None:
    """A second creation of the same scope and version (another process won the race) returns
    the existing key, and the transaction goes on unharmed."""
    org = factory.organization()
    with app.app_context():
        keyring = runtime().keyring
        first = keyring._create(db.session, org.id, DATA, 1)
        second = keyring._create(db.session, org.id, DATA, 1)
        assert second.id == first.id and second.wrapped == first.wrapped
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(DataKey).where(DataKey.scope == org.id)) == 1
