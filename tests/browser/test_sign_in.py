"""Sign-in in a real browser: Arabic and right-to-left first, MFA enrolment with the key shown on
the page, the language switch, sign-out, the phone layout, and axe on every page on the way."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pyotp
from playwright.sync_api import expect

import referral

ARABIC_CATALOGUE = Path(referral.__file__).parent / "translations" / "ar" / "LC_MESSAGES" / "messages.mo"


def _arabic(message: str) -> str | None:
    """The Arabic translation of `message`, once the catalogue is compiled; else None."""
    if not ARABIC_CATALOGUE.exists():
        return None
    with ARABIC_CATALOGUE.open("rb") as fh:
        translated = gettext.GNUTranslations(fh).gettext(message)
    return translated if translated != message else None


def _expect_arabic(page) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")


def test_caseworker_signs_in_enrols_switches_language_and_signs_out(
    page, demo_network, check_a11y, sign_in_and_enrol
) -> None:
    login = demo_network["nbl.caseworker"]

    page.goto("/login")
    _expect_arabic(page)
    if sign_in := _arabic("Sign in"):
        expect(page.locator("main h1")).to_have_text(sign_in)
    check_a11y(page, "login-ar")

    page.locator("#username").fill(login.username)
    page.locator("#password").fill(login.password)
    page.locator("main form button[type=submit]").click()

    page.wait_for_url("**/login/mfa/enrol")
    _expect_arabic(page)
    check_a11y(page, "mfa-enrol-ar")
    secret = page.get_by_test_id("totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", secret.strip()), secret
    page.locator("#code").fill(pyotp.TOTP(secret.replace(" ", "")).now())
    page.locator("main form button[type=submit]").click()

    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    _expect_arabic(page)
    check_a11y(page, "recovery-codes-ar")

    page.locator("main a.btn-primary").click()
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    _expect_arabic(page)
    expect(page.get_by_test_id("whoami")).to_have_text(login.username)
    if sign_out := _arabic("Sign out"):
        expect(page.get_by_role("button", name=sign_out)).to_be_visible()
    check_a11y(page, "home-ar")

    page.get_by_test_id("switch-locale").click()
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "ltr")
    expect(html).to_have_attribute("lang", "en")
    sign_out_button = page.get_by_role("button", name="Sign out")
    expect(sign_out_button).to_be_visible()
    check_a11y(page, "home-en")

    sign_out_button.click()
    page.wait_for_url("**/login")
    expect(page.locator("#username")).to_be_visible()


def test_login_page_fits_a_phone_without_horizontal_scroll(phone_page, check_a11y) -> None:
    page = phone_page
    page.goto("/login")
    _expect_arabic(page)
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"the login page scrolls sideways on a phone: {scroll_width} > {inner_width}"
    check_a11y(page, "login-ar-phone")


def test_sysadmin_pages_pass_axe(page, demo_network, check_a11y, sign_in_and_enrol) -> None:
    login = demo_network["sysadmin"]
    sign_in_and_enrol(page, login.username, login.password)
    for path, name in (
        ("/networks", "networks"),
        ("/organizations", "organizations"),
        ("/admin/users", "admin-users"),
        ("/account/", "account"),
    ):
        response = page.goto(path)
        assert response is not None and response.ok, f"{path} answered {response and response.status}"
        assert response.url.endswith(path), f"{path} redirected to {response.url}"
        _expect_arabic(page)
        check_a11y(page, f"sysadmin-{name}-ar")
