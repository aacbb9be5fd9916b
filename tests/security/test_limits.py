"""Request rate limits: per API token and per client address, 429 with Retry-After in the API
error format or as the translated page; on the embedded store always, on Redis when
TEST_REDIS_URL is set (CI)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from config import Settings
from referral.accounts import services
from referral.accounts.models import User
from referral.extensions import db
from referral.security import limits
from tests.conftest import REDIS_URL, Factory

STORES = ["memory"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=STORES)
def limited_app(request: pytest.FixtureRequest, app: Flask, make_app: Any) -> Iterator[Flask]:
    """The app with small limits (3 a minute per token, 5 per address), on each store."""
    settings: Settings = app.config["SHABAKA_SETTINGS"]
    changed = replace(settings, api_requests_per_minute_per_token=3, requests_per_minute_per_address=5)
    if request.param == "redis":
        changed = replace(changed, redis_url=str(REDIS_URL))
    limited = make_app(changed)
    limiter = limited.extensions[limits.EXTENSION]
    if request.param == "redis":  # counters of this test only
        limiter._key_prefix = f"shabaka-limits-test-{uuid.uuid4().hex}"
    assert type(limiter.storage).__name__ == ("RedisStorage" if request.param == "redis" else "MemoryStorage")
    yield limited
    limiter.reset()


def _token(app: Flask, user_id: str) -> str:
    with app.app_context():
        _, raw = services.issue_token(db.session, db.session.get(User, user_id), days=1)
        db.session.commit()
        return raw


def test_defaults_are_300_per_token_and_600_per_address() -> None:
    settings = Settings.from_env({"REFERRAL_ENV": "production", **_production_env()})
    assert settings.api_requests_per_minute_per_token == 300
    assert settings.requests_per_minute_per_address == 600
    assert settings.rate_limit_storage == "redis://127.0.0.1:6379/9"
    raised = Settings.from_env(
        {
            "REFERRAL_ENV": "production",
            **_production_env(),
            "RATE_LIMIT_PER_TOKEN": "5000",
            "RATE_LIMIT_PER_ADDRESS": "9000",
        }
    )
    assert (raised.api_requests_per_minute_per_token, raised.requests_per_minute_per_address) == (5000, 9000)


def _production_env() -> dict[str, str]:
    import base64
    import secrets

    return {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "REFERRAL_ROOT_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": "postgresql://db/shabaka",
        "REDIS_URL": "redis://127.0.0.1:6379/9",
    }


def test_one_token_is_limited_and_told_when_to_retry(limited_app: Flask, factory: Factory) -> None:
    one, other = factory.user(), factory.user()
    token, other_token = _token(limited_app, one.id), _token(limited_app, other.id)
    client = limited_app.test_client()
    for _ in range(3):
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61  # the rest of the one-minute window, rounded up
    # another token from the same address is not limited by this token's count
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other_token}"}).status_code == 200


def test_one_address_is_limited_whatever_the_tokens(limited_app: Flask, factory: Factory) -> None:
    tokens = [_token(limited_app, factory.user().id) for _ in range(6)]
    client = limited_app.test_client()
    for token in tokens[:5]:
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens[5]}"})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in refused.headers
    # bad tokens count too: guessing tokens is limited by address
    guess = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert guess.status_code == 429
    elsewhere = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens[5]}"}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert elsewhere.status_code == 200


def test_pages_get_the_translated_429_page(limited_app: Flask) -> None:
    client = limited_app.test_client()
    for _ in range(5):
        assert client.get("/login").status_code == 200
    refused = client.get("/login", headers={"Accept-Language": "ar"})
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert refused.mimetype == "text/html"
    body = refused.get_data(as_text=True)
    assert "Too many requests" not in body  # Arabic, not the msgid
    assert "<html" in body


def test_the_address_behind_the_configured_proxy_is_the_clients(app: Flask, make_app: Any) -> None:
    settings: Settings = app.config["SHABAKA_SETTINGS"]
    proxied = make_app(replace(settings, requests_per_minute_per_address=2, proxy_hops=1))
    client = proxied.test_client()
    for _ in range(2):
        assert client.get("/login", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 200
    assert client.get("/login", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    # a second office behind the same proxy has its own count
    assert client.get("/login", headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 200
    proxied.extensions[limits.EXTENSION].reset()
