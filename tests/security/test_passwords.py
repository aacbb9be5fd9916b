"""Password policy and argon2id hashing with rehash on sign-in."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from referral.accounts.models import User
from referral.extensions import db
from referral.runtime import runtime
from referral.security.passwords import PasswordHashing, check_policy
from tests.conftest import Factory, password_step


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short-one", "too_short"),
        ("x" * 129, "too_long"),
        ("password1234", "common"),
        ("aaaaaaaaaaaaaaaa", "weak"),
        ("123456654321", "common"),
        ("mariam.hassan-2026-mariam.hassan", "contains_username"),
    ],
)
def test_policy_refuses(password: str, problem: str) -> None:
    found = check_policy(password, "mariam.hassan")
    assert found is not None and found.code == problem


def test_policy_accepts_a_passphrase() -> None:
    assert check_policy("violet-harbour-compass-lantern", "someone") is None
    assert check_policy("زيتون-نافذة-قمر-بحر", "someone") is None


def test_production_parameters_read_back_from_a_stored_hash(tmp_path: object) -> None:
    prod = Settings.from_env(
        {
            "SECRET_KEY": "s" * 40,
            "REFERRAL_ROOT_KEY": "a2trazJrazJrazJrazJrazJrazJrazJrazJrazJrazI=",
            "DATABASE_URL": "postgresql://x/y",
            "REDIS_URL": "redis://x",
        }
    )
    hashing = PasswordHashing(prod.argon2_time_cost, prod.argon2_memory_kib, prod.argon2_parallelism)
    stored = hashing.hash("violet-harbour-compass-lantern")
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    assert hashing.verify(stored, "violet-harbour-compass-lantern")
    assert not hashing.verify(stored, "violet-harbour-compass-lanterns")


def test_weaker_hash_is_upgraded_at_sign_in(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    weak = PasswordHashing(1, 64, 1)
    with app.app_context():
        user = db.session.get(User, account.id)
        user.password_hash = weak.hash(account.password)
        db.session.commit()
    assert password_step(client, account.username, account.password).status_code == 302
    with app.app_context():
        stored = db.session.get(User, account.id).password_hash
        params = extract_parameters(stored)
        expected = runtime().settings
        assert (params.time_cost, params.memory_cost) == (expected.argon2_time_cost, expected.argon2_memory_kib)
