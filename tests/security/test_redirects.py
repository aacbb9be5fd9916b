"""Redirects that take a target from the request never leave the site (issue 11, finding 2).

The corpus gathers the known ways of smuggling another host past a "starts with /" check: tabs,
newlines and other whitespace browsers drop, backslashes they read as slashes, scheme-relative
`//`, schemes, userinfo, and the percent-encoded (also double-encoded) forms of each.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from referral.security.redirects import is_same_site_path, safe_next
from tests.conftest import Factory, csrf, password_step, reset_totp_step

BYPASSES = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/ /evil.example",
    "\t//evil.example",
    " //evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "@evil.example",
    "/%2fevil.example",
    "/%2Fevil.example",
    "%2f%2fevil.example",
    "/%5cevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%252fevil.example",
    "/%25252fevil.example",
    "/%2525252fevil.example",
    "/%00/evil.example",
    "/%7f/evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "/\x0c/evil.example",
    "/\u3000/evil.example",  # ideographic space
    "/\u200b/evil.example",  # zero-width space
    "/\uff0fevil.example",  # fullwidth solidus
    "/\u2215evil.example",  # division slash
    "/\u202e/evil.example",  # right-to-left override
    "https:/\\evil.example",
    "//evil.example@shabaka.example",
    "/" + "a" * 3000,
    "",
]


@pytest.mark.parametrize("target", BYPASSES)
def test_a_known_bypass_falls_back_to_the_default(target: str) -> None:
    assert not is_same_site_path(target)
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", ["/", "/cases", "/cases?status=open&cursor=abc", "/referrals/x#y", "/a%20b"])
def test_a_path_on_this_site_is_kept(target: str) -> None:
    assert safe_next(target, "/home") == target


@pytest.mark.parametrize("target", [None, 42, ["/cases"]])
def test_anything_not_text_falls_back(target: object) -> None:
    assert safe_next(target, "/home") == "/home"


def _stays_on_site(location: str) -> bool:
    parts = urlsplit(location)
    return (
        parts.scheme in ("", "http")
        and parts.netloc in ("", "localhost")
        and location.startswith(("/", "http://localhost/"))
        and not location.startswith("//")
        and is_same_site_path(parts.path or "/")
    )


@pytest.mark.parametrize("target", BYPASSES)
def test_the_language_switch_never_sends_anyone_elsewhere(client: FlaskClient, target: str) -> None:
    response = client.post("/locale", data={"csrf_token": csrf(client), "locale": "en", "next": target})
    assert response.status_code == 302
    assert _stays_on_site(response.headers["Location"]), response.headers["Location"]


def test_the_language_switch_still_returns_to_the_page(client: FlaskClient) -> None:
    response = client.post("/locale", data={"csrf_token": csrf(client), "locale": "en", "next": "/login?x=1"})
    assert response.headers["Location"] == "/login?x=1"


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/%2f%2fevil.example", "\\\\evil"])
def test_the_second_step_of_sign_in_never_sends_anyone_elsewhere(
    app: Flask, client: FlaskClient, factory: Factory, target: str
) -> None:
    account = factory.user()
    reset_totp_step(app, account)
    password_step(client, account.username, account.password)
    page = f"/login/mfa?next={target}"
    response = client.post(page, data={"csrf_token": csrf(client, "/login/mfa"), "code": account.totp()})
    assert response.status_code == 302
    assert _stays_on_site(response.headers["Location"]), response.headers["Location"]
