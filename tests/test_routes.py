"""Walks the URL map: sign-in is required everywhere but an explicit allow-list, every response
carries the security headers, cookies carry their flags, and POST without CSRF is refused."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from referral.access.gate import PENDING_ENDPOINTS, PUBLIC_ENDPOINTS
from tests.conftest import Factory, password_step, sign_in
from tests.helpers.routes import routes

API_PUBLIC = {"api.openapi"}


def test_the_map_is_not_empty(app: Flask) -> None:
    assert len(routes(app)) > 25


def test_anonymous_visitors_are_refused_everywhere_but_the_allow_list(client: FlaskClient, app: Flask) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # reach the sign-in gate itself, not the CSRF check
    try:
        for endpoint, method, path in routes(app):
            if endpoint in PUBLIC_ENDPOINTS or endpoint in API_PUBLIC:
                continue
            response = client.open(path, method=method)
            if endpoint.startswith("api."):
                assert response.status_code == 401, (endpoint, method)
            elif method == "GET":
                assert response.status_code == 302, (endpoint, method)
                assert response.headers["Location"].endswith("/login"), endpoint
            else:
                assert response.status_code == 401, (endpoint, method, response.status_code)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


def test_half_signed_in_users_reach_only_the_second_factor(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    password_step(client, account.username, account.password)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        for endpoint, method, path in routes(app):
            if endpoint in PUBLIC_ENDPOINTS | PENDING_ENDPOINTS | API_PUBLIC:
                continue
            response = client.open(path, method=method)
            expected = 401 if endpoint.startswith("api.") or method != "GET" else 302
            assert response.status_code == expected, (endpoint, method, response.status_code)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


def _assert_headers(response: object, path: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for cookie in headers.getlist("Set-Cookie"):
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, (path, cookie)
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, path
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp, path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    assert headers.get("X-Request-ID"), path
    if not path.startswith("/static/"):
        assert headers.get("Cache-Control") == "no-store", path


@pytest.mark.parametrize("signed_in", [False, True])
def test_security_headers_on_every_route(client: FlaskClient, app: Flask, factory: Factory, signed_in: bool) -> None:
    if signed_in:
        sign_in(client, app, factory.user("sysadmin"))
    for endpoint, method, path in routes(app):
        if endpoint == "auth.logout":
            continue
        if endpoint == "static":
            path = "/static/css/app.css"
        response = client.open(path, method=method)
        _assert_headers(response, path)
        response.close()
    _assert_headers(client.get("/no-such-page"), "/no-such-page")


def test_post_without_csrf_token_is_refused(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    client.get("/login")
    response = client.post("/login", data={"username": account.username, "password": account.password})
    assert response.status_code == 400
    sign_in(client, app, account)
    for endpoint, method, path in routes(app):
        if method == "POST" and not endpoint.startswith("api."):
            refused = client.post(path, data={})
            assert refused.status_code == 400, endpoint
    assert client.get("/").status_code == 200  # still signed in: nothing happened


def test_session_cookie_flags(client: FlaskClient) -> None:
    response = client.get("/login")
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Expires" not in cookie  # a browser-session cookie; the server enforces timeouts


def test_production_cookie_is_host_prefixed_and_secure(settings: object, make_app: Any) -> None:
    from dataclasses import replace

    prod = make_app(replace(settings, env="production"))  # type: ignore[type-var]
    response = prod.test_client().get("/login", base_url="https://shabaka.example")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-shabaka=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "Domain" not in cookie and "SameSite=Strict" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert prod.debug is False


def test_error_pages_are_generic(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "werkzeug" not in body.lower()


def test_debug_is_refused_in_production(settings: object, monkeypatch: Any) -> None:
    from dataclasses import replace

    from config import ConfigError
    from referral import create_app

    monkeypatch.setenv("FLASK_DEBUG", "1")
    try:
        create_app(replace(settings, env="production"))  # type: ignore[type-var]
    except ConfigError as error:
        assert "FLASK_DEBUG" in str(error)
    else:
        raise AssertionError("the app started in production with FLASK_DEBUG set")
