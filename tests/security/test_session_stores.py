"""Both session stores behave alike; the app's sign-in rules hold on the Redis store too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from referral.extensions import db
from referral.models_base import utcnow
from referral.security.sessions import DatabaseStore, RedisStore, SessionRecord, SessionStore
from tests.conftest import REDIS_URL, Factory, csrf, sign_in

STORES = ["database"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, app: Flask) -> Iterator[SessionStore]:
    if request.param == "redis":
        yield RedisStore(str(REDIS_URL), timedelta(hours=12), prefix=f"test-{uuid.uuid4().hex}:")
    else:
        yield DatabaseStore()


def _record(user_id: str | None, n: int) -> SessionRecord:
    now = utcnow()
    return SessionRecord(f"{n:064x}", str(uuid.uuid4()), user_id, {"k": n, "t": (1, 2)}, now, now, "agent")


def test_store_save_load_list_and_end(app: Flask, factory: Factory, store: SessionStore) -> None:
    alice, bob = factory.user(), factory.user()
    with app.app_context():
        records = [_record(alice.id, 1), _record(alice.id, 2), _record(bob.id, 3)]
        for rec in records:
            store.save(rec, None)
        loaded = store.load(records[0].sid_hash)
        assert loaded is not None and loaded.data == {"k": 1, "t": (1, 2)} and loaded.user_id == alice.id
        assert {r.sid_hash for r in store.for_user(alice.id)} == {records[0].sid_hash, records[1].sid_hash}
        # ending sessions takes effect with the transaction's commit
        store.end_for_user(db.session, alice.id, keep_hash=records[0].sid_hash)
        db.session.commit()
        assert store.load(records[1].sid_hash) is None and store.load(records[0].sid_hash) is not None
        assert store.end_by_handle(db.session, bob.id, records[2].handle)
        db.session.commit()
        assert store.load(records[2].sid_hash) is None
        assert not store.end_by_handle(db.session, alice.id, "no-such-handle")
        db.session.commit()
        # rotating a record removes the old id
        rotated = _record(alice.id, 4)
        store.save(rotated, records[0].sid_hash)
        assert store.load(records[0].sid_hash) is None and store.load(rotated.sid_hash) is not None


def test_store_end_is_dropped_on_rollback(app: Flask, factory: Factory, store: SessionStore) -> None:
    alice = factory.user()
    with app.app_context():
        rec = _record(alice.id, 7)
        store.save(rec, None)
        store.end_for_user(db.session, alice.id)
        db.session.rollback()
        db.session.commit()
        assert store.load(rec.sid_hash) is not None


@pytest.fixture
def redis_app(settings: Settings, make_app: Any) -> Flask:
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    return make_app(replace(settings, session_backend="redis", redis_url=REDIS_URL))


def test_sign_in_logout_and_password_change_on_redis_sessions(redis_app: Flask, factory: Factory) -> None:
    account = factory.user()
    client: FlaskClient = redis_app.test_client()
    sign_in(client, redis_app, account)
    other = redis_app.test_client()
    sign_in(other, redis_app, account)
    stolen = other.get_cookie("shabaka").value  # type: ignore[union-attr]
    token = csrf(client, "/account/password")
    new = "quiet-river-under-amber-sky"
    changed = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": account.password, "new_password": new, "confirm_password": new},
    )
    assert changed.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    replay = redis_app.test_client()
    replay.set_cookie("shabaka", stolen)
    assert replay.get("/").status_code == 302
    token = csrf(client, "/")
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/").status_code == 302
