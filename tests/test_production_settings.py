"""The app built with production settings, read from its own answers over HTTPS: the session
cookie a sign-in leaves, and HSTS and the Content-Security-Policy on every route.

The settings come from `Settings.from_env` exactly as a deployment makes them, on the suite's
database and with the suite's root key (so the factory's users can sign in). Production keeps
its sessions in Redis: with TEST_REDIS_URL they do here too; without it the session store is
the database one, and everything else stays production.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from config import Settings
from tests.conftest import REDIS_URL, Factory, csrf_from, reset_totp_step
from tests.helpers.routes import routes

ONE_YEAR = 365 * 24 * 3600


@pytest.fixture
def production(settings: Settings, make_app: Any) -> Flask:
    prod = Settings.from_env(
        {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "REFERRAL_ROOT_KEY": base64.b64encode(settings.root_key).decode(),
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": REDIS_URL or "redis://redis.invalid:6379/0",
            "REFERRAL_INSTANCE_PATH": str(settings.instance_path),
            "PROXY_HOPS": "1",  # behind the reverse proxy, as docs/deploy.md sets it up
        }
    )
    assert prod.is_production and prod.session_backend == "redis"
    if not REDIS_URL:
        prod = replace(prod, redis_url=None, session_backend="database", broker_url=settings.broker_url)
    application: Flask = make_app(prod)
    return application


@pytest.fixture
def browser(production: Flask) -> Iterator[FlaskClient]:
    """A browser reaching the app through the TLS-terminating proxy. It sends no Referer: the
    app's own Referrer-Policy (no-referrer) tells browsers not to, on this site too."""
    client = production.test_client()
    client.environ_base.update({"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
    yield client


def _get(client: FlaskClient, path: str) -> TestResponse:
    return client.get(path, base_url="http://shabaka.example")


def _post(client: FlaskClient, path: str, data: dict[str, str]) -> TestResponse:
    token = csrf_from(_get(client, path).get_data(as_text=True))
    return client.post(path, base_url="http://shabaka.example", data={"csrf_token": token, **data})


def _session_cookie(response: TestResponse) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-shabaka=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def _attributes(cookie: str) -> dict[str, str]:
    """The attributes of one Set-Cookie value, by lower-cased name."""
    found = {}
    for part in cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        found[name.lower()] = value
    return found


def test_a_form_without_its_token_is_refused(browser: FlaskClient, factory: Factory) -> None:
    account = factory.user()
    _get(browser, "/login")
    response = browser.post(
        "/login", base_url="http://shabaka.example", data={"username": account.username, "password": account.password}
    )
    assert response.status_code == 400


def test_the_session_cookie_after_sign_in_is_host_prefixed_secure_httponly_and_strict(
    browser: FlaskClient, production: Flask, factory: Factory
) -> None:
    """Signed in as a browser is, without a Referer (the forms work over HTTPS without one)."""
    account = factory.user()
    reset_totp_step(production, account)
    password = _post(browser, "/login", {"username": account.username, "password": account.password})
    assert password.status_code == 302, password.get_data(as_text=True)[:300]
    assert password.headers["Location"].endswith("/login/mfa")
    done = _post(browser, "/login/mfa", {"code": account.totp()})
    assert done.status_code == 302, done.get_data(as_text=True)[:300]

    cookie = _session_cookie(done)
    attributes = _attributes(cookie)
    assert "secure" in attributes and "httponly" in attributes
    assert attributes.get("samesite", "").lower() in ("strict", "lax")
    assert attributes.get("path") == "/" and "domain" not in attributes  # what __Host- requires
    assert "expires" not in attributes and "max-age" not in attributes  # ends with the browser
    sid = cookie.split(";")[0].removeprefix("__Host-shabaka=")
    assert len(sid) >= 43  # 32 random bytes, base64url: 256 bits
    assert _get(browser, "/").status_code == 200  # signed in with that cookie


def _directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        assert name not in found, f"{name} twice"
        found[name] = sources
    return found


def _transport_problems(response: TestResponse) -> list[str]:
    """What a deployment behind TLS needs of every answer and this one lacks."""
    problems = []
    hsts = response.headers.get("Strict-Transport-Security", "")
    match = re.fullmatch(r"max-age=(\d+)((;[a-z-]+)*)", hsts.replace(" ", "").lower())
    if not match or int(match.group(1)) < ONE_YEAR or ";includesubdomains" not in match.group(2):
        problems.append(f"HSTS {hsts!r}")
    csp = _directives(response.headers.get("Content-Security-Policy", "default-src *"))
    script = csp.get("script-src", csp.get("default-src", ["*"]))
    if {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(script):
        problems.append(f"script-src {script}")
    if "'unsafe-inline'" in csp.get("style-src", csp.get("default-src", [])):
        problems.append("style-src 'unsafe-inline'")
    for directive in ("frame-ancestors", "object-src", "base-uri"):
        if csp.get(directive) != ["'none'"]:
            problems.append(f"{directive} {csp.get(directive)}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    return problems


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_route_sends_hsts_for_a_year_and_a_csp_without_inline_script_or_framing(
    browser: FlaskClient, production: Flask, factory: Factory, signed_in: bool
) -> None:
    if signed_in:
        account = factory.user("sysadmin")
        reset_totp_step(production, account)
        _post(browser, "/login", {"username": account.username, "password": account.password})
        assert _post(browser, "/login/mfa", {"code": account.totp()}).status_code == 302
    problems = []
    paths = [(method, path) for endpoint, method, path in routes(production) if endpoint != "auth.logout"]
    paths += [("GET", "/static/css/app.css"), ("GET", "/no-such-page"), ("GET", "/api/v1/no-such-route")]
    for method, path in paths:
        if path.startswith("/static/") and path != "/static/css/app.css":
            continue
        response = browser.open(path, method=method, base_url="http://shabaka.example")
        problems += [f"{method} {path}: {problem}" for problem in _transport_problems(response)]
        response.close()
    assert len(paths) > 25 and not problems, "\n".join(problems)
