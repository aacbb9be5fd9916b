"""Browser tests: the real app served over HTTP, driven by a real Chromium through Playwright.

Every test here carries the `browser` marker (`pytest -m "not browser"` leaves them out). They use
the Debian Chromium at /usr/bin/chromium, never a Playwright-downloaded browser: without it the
tests skip locally and fail in CI (when the CI variable is set), so a CI image that lost its
browser cannot go green silently.

Accessibility is checked with the vendored axe-core (tests/browser/vendor/axe.min.js). It is
injected with `page.evaluate`, which runs through the DevTools protocol and is not subject to the
page's Content-Security-Policy (the app forbids inline scripts, so `add_script_tag` would be
blocked); no CSP bypass is needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask

from tests.conftest import serving
from tests.helpers.browser import ARTIFACTS, DESKTOP, PHONE

HERE = Path(__file__).resolve().parent
AXE_SOURCE = HERE / "vendor" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


# ----------------------------------------------------------------------------- marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Hooks in a sub-folder conftest still see every collected item: mark only this folder's.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


# ----------------------------------------------------------------------------- server
@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The app on a random local port, served by werkzeug in a daemon thread."""
    with serving(app) as url:
        yield url


# ----------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install the Debian chromium package to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _new_page(browser: Any, live_server: str, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(locale="ar-PS", viewport=viewport, base_url=live_server)
    # generous: CI runs the two passes side by side on two cores, so a page that takes a second
    # alone (a statistics release prepared) may take several there
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh browser context (no cookies), Arabic-speaking, desktop size; relative URLs work."""
    yield from _new_page(browser, live_server, DESKTOP)


@pytest.fixture
def phone_page(browser: Any, live_server: str) -> Iterator[Any]:
    """As `page`, at a phone's size."""
    yield from _new_page(browser, live_server, PHONE)


# ----------------------------------------------------------------------------- accessibility
def _format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(map(str, node.get("target", []))) for node in v.get("nodes", []))
        lines.append(f"- {v['id']} ({v['impact']}): {v.get('help', '')} -> {targets}")
    return "\n".join(lines)


def _check_a11y(page: Any, name: str) -> list[dict[str, Any]]:
    """Screenshot the page to test-artifacts/<name>.png, run axe, and fail on serious or critical
    violations (listing the rule ids and target selectors). Returns the milder ones."""
    assert re.fullmatch(r"[\w.-]+", name), f"screenshot names are plain file names, not {name!r}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    violations = results["violations"]
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, f"axe found serious accessibility problems on {name} ({page.url}):\n" + _format_violations(
        blocking
    )
    return [v for v in violations if v not in blocking]


@pytest.fixture
def check_a11y() -> Callable[[Any, str], list[dict[str, Any]]]:
    """`check_a11y(page, name)`: screenshot + axe; fails on serious or critical violations."""
    return _check_a11y


# ----------------------------------------------------------------------------- demo data
@pytest.fixture
def demo_network(app: Flask) -> dict[str, Any]:
    """The demo network in the test database; returns the demo logins by username. The autouse
    cleanup in tests/conftest.py empties every table after the test."""
    from referral.demo import logins, seed
    from referral.extensions import db
    from referral.runtime import runtime

    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
    return {login.username: login for login in logins()}


# ----------------------------------------------------------------------------- sign-in helper
HOME_URL = re.compile(r"^https?://[^/]+/$")


def _sign_in_and_enrol(page: Any, username: str, password: str, check: Callable[[str], Any] | None = None) -> None:
    page.goto("/login")
    if check:
        check("login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/login/mfa/enrol")
    if check:
        check("mfa-enrol")
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "").strip()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("main form button[type=submit]").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    codes.first.wait_for()
    assert codes.count() == 10, f"expected 10 recovery codes, saw {codes.count()}"
    if check:
        check("recovery-codes")
    page.locator("main a.btn-primary").click()
    page.wait_for_url(HOME_URL)


@pytest.fixture
def sign_in_and_enrol() -> Callable[..., None]:
    """`sign_in_and_enrol(page, username, password, check=None)`: sign in a user who has no second
    factor yet (password, enrolment with the key shown on the page, recovery codes) and land on
    home. `check(name)`, when given, is called on the login, enrolment and recovery codes pages."""
    return _sign_in_and_enrol
