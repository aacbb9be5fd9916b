"""Every page fits the screen, in Arabic: each role of the demo visits its main pages (home, lists,
a case, a referral, a meeting, statistics, audit, admin) at 390, 1024 and 1280 px, and no page
scrolls sideways; at 1024 and 1280 px the navigation (menus by area) stays on one line and works
from the keyboard. A refused form moves the focus to its error summary."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.helpers.browser import ARTIFACTS, ar

WIDTHS = (1280, 1024, 390)
HEIGHT = 900
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Per role: the pages to visit, in order. A (list page, pattern) pair stands for the first link
# of that list page matching the pattern (a case, a referral, a meeting... of the demo).
PAGES: dict[str, tuple[str | tuple[str, str], ...]] = {
    "nbl.caseworker": (
        "/",
        "/followups",
        "/cases",
        ("/cases", rf"^/cases/{UUID}$"),
        "/cases/new",
        "/referrals",
        ("/referrals", rf"^/referrals/{UUID}$"),
        "/transfers",
        "/conferences",
        "/statistics/releases",
        "/plans",
        "/services",
        "/notifications",
        "/account/",
    ),
    "nbl.supervisor": (
        "/",
        "/cases/approvals",
        "/breakglass",
        "/followups/team",
        ("/cases", rf"^/cases/{UUID}$"),
        ("/referrals", rf"^/referrals/{UUID}$"),
        "/conferences",
        ("/plans", rf"^/plans/{UUID}$"),
        "/statistics",
        "/coordination/",
        "/coordination/action-points",
    ),
    "nbl.admin": (
        "/",
        "/admin/users",
        ("/admin/users", rf"^/admin/users/{UUID}$"),
        "/admin/users/new",
        "/statistics",
        "/plans",
        ("/plans", rf"^/plans/{UUID}$"),
        ("/services", rf"^/services/{UUID}$"),
        "/networks",
    ),
    "coord.nablus": (
        "/",
        "/escalations",
        "/coordination/",
        ("/coordination/", rf"^/coordination/meetings/{UUID}$"),
        ("/coordination/", rf"^/coordination/networks/{UUID}$"),
        "/statistics",
        "/statistics/releases",
        ("/", rf"^/coordination/action-points/{UUID}$"),
        "/statistics/requests",
        ("/networks", rf"^/networks/{UUID}$"),
        "/organizations",
    ),
    "coord.national": ("/", "/statistics", "/coordination/", "/networks"),
    "auditor": (
        "/",
        "/audit",
        "/audit/flags",
        "/audit/verify",
        "/statistics/releases",
        "/organizations",
    ),
    "sysadmin": (
        "/",
        "/networks",
        "/networks/new",
        "/organizations",
        "/services",
        "/admin/users",
        ("/admin/users", rf"^/admin/users/{UUID}$"),
    ),
}

_FITS = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# The top of every visible entry of the expanded navigation (brand, menus, account, sign out,
# language): on one line they all sit within a few pixels of each other.
_NAV_ROWS = """() => {
  const nav = document.querySelector('nav.navbar');
  const parts = nav.querySelectorAll(
    '.navbar-brand, .navbar-nav > .nav-item, #nav > form, nav > .container-fluid > form');
  return [...parts].filter(e => e.offsetParent !== null).map(e => {
    const r = e.getBoundingClientRect();
    return Math.round(r.top + r.height / 2);
  });
}"""
_WIDEST = """() => {
  const w = window.innerWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > w + 1 || e.getBoundingClientRect().left < -1)
    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'));
}"""


def _resolve(page: Any, target: str | tuple[str, str], username: str) -> str | None:
    """The page itself, or the first link of the list matching the pattern (not her own account:
    an administrator does not manage herself)."""
    if isinstance(target, str):
        return target
    listing, pattern = target
    page.goto(listing)
    links = page.eval_on_selector_all(
        "main a[href]", "els => els.map(e => [e.getAttribute('href'), e.innerText.trim()])"
    )
    return next((href for href, text in links if re.match(pattern, href) and text != username), None)


def _check_widths(page: Any, role: str, path: str, problems: list[str], shots: set[str]) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.wait_for_timeout(30)
        scroll, inner = page.evaluate(_FITS)
        name = re.sub(r"[^\w]+", "-", f"layout-{role}-{path}-{width}").strip("-")
        if scroll > inner + 1:
            problems.append(f"{role} {path} at {width} px: {scroll} px wide; {page.evaluate(_WIDEST)}")
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        if width >= 1024:
            toggler = page.locator(".navbar-toggler")
            if toggler.count() and toggler.is_visible():
                problems.append(f"{role} {path} at {width} px: the navigation is collapsed")
            rows = page.evaluate(_NAV_ROWS)
            if rows and max(rows) - min(rows) > 8:
                problems.append(f"{role} {path} at {width} px: the navigation wraps ({sorted(set(rows))})")
        if path == "/" and name not in shots:
            shots.add(name)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_every_roles_main_pages_fit_phone_tablet_and_desktop(
    browser: Any, live_server: str, demo_network: dict[str, Any], sign_in_and_enrol: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    shots: set[str] = set()
    for role, targets in PAGES.items():
        context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": HEIGHT}, base_url=live_server)
        context.set_default_timeout(30_000)  # a statistics page counts on a busy machine
        page = context.new_page()
        try:
            sign_in_and_enrol(page, role, demo_network[role].password)
            for target in targets:
                path = _resolve(page, target, role)
                if path is None:
                    problems.append(f"{role}: no link matching {target[1]} on {target[0]}")
                    continue
                page.set_viewport_size({"width": 1280, "height": HEIGHT})
                response = page.goto(path)
                assert response is not None and response.ok, f"{role} {path} answered {response and response.status}"
                expect(page.locator("html")).to_have_attribute("dir", "rtl")
                _check_widths(page, role, path, problems, shots)
        finally:
            context.close()
    assert not problems, "pages that do not fit:\n" + "\n".join(problems)


def test_the_navigation_menus_work_from_the_keyboard_and_on_a_phone(
    page: Any, browser: Any, live_server: str, demo_network: dict[str, Any], sign_in_and_enrol: Any, check_a11y: Any
) -> None:
    login = demo_network["nbl.supervisor"]
    sign_in_and_enrol(page, login.username, login.password)
    menu = page.get_by_test_id("nav-cases")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(page.locator(".dropdown-menu.show .dropdown-item").nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator(".dropdown-menu.show .dropdown-item").nth(1)).to_be_focused()
    check_a11y(page, "nav-menu-open-ar")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/approvals")
    expect(page.get_by_test_id("nav-cases")).to_have_class(re.compile(r"\bactive\b"))
    page.keyboard.press("Escape")

    # on a phone: the toggler opens the menus, stacked, and the account stays reachable
    page.set_viewport_size({"width": 390, "height": 844})
    toggler = page.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    expect(page.get_by_test_id("nav-directory")).to_be_hidden()
    toggler.click()
    expect(page.get_by_test_id("nav-directory")).to_be_visible()
    page.get_by_test_id("nav-directory").click()
    expect(page.get_by_role("link", name=ar("Services"), exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=ar("Sign out"))).to_be_visible()
    expect(page.get_by_test_id("notifications-link")).to_be_visible()
    scroll, inner = page.evaluate(_FITS)
    assert scroll <= inner + 1
    check_a11y(page, "nav-phone-open-ar")


def test_a_refused_form_moves_the_focus_to_its_error_summary(page: Any, check_a11y: Any) -> None:
    page.goto("/login")
    page.locator("#username").fill("someone")
    page.locator("main form button[type=submit]").click()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.locator("h2")).to_have_text(ar("There is a problem"))
    assert page.title().startswith(ar("Error:") + " ")
    expect(page.locator("#username")).to_have_value("someone")
    link = summary.locator('a[href="#password"]')
    expect(link).to_have_count(1)
    link.click()
    expect(page.locator("#password")).to_be_focused()
    check_a11y(page, "login-error-summary-ar")


def test_marking_a_notification_read_swaps_the_row_and_the_count(
    page: Any, app: Any, demo_network: dict[str, Any], sign_in_and_enrol: Any, check_a11y: Any
) -> None:
    from sqlalchemy import select

    from referral.accounts.models import User
    from referral.extensions import db
    from referral.followups import notifications

    with app.app_context():
        boss = db.session.scalars(select(User).where(User.username == "nbl.supervisor")).one()
        told = [notifications.Message("referral.received", case_code=f"NBL-2026-09{i}") for i in (1, 2)]
        notifications.write_many(db.session, [([boss.id], message) for message in told])
        db.session.commit()
    login = demo_network["nbl.supervisor"]
    sign_in_and_enrol(page, login.username, login.password)
    page.goto("/notifications")
    count = page.get_by_test_id("unread-count")
    before = int(re.match(r"\d+", count.inner_text()).group(0))  # type: ignore[union-attr]
    rows = page.get_by_test_id("notification-row")
    first = rows.filter(has=page.get_by_test_id("mark-read")).first
    row_id = first.get_attribute("id")
    url = page.url
    first.get_by_test_id("mark-read").click()
    swapped = page.locator(f"#{row_id}")
    expect(swapped.get_by_test_id("mark-read")).to_have_count(0)
    expect(swapped).not_to_have_class(re.compile("list-group-item-primary"))
    expect(swapped.locator("a")).to_be_focused()
    if before > 1:
        expect(count).to_have_text(re.compile(rf"^{before - 1}\b"))
    else:
        expect(count).to_have_count(0)
    assert page.url == url  # no page load
    check_a11y(page, "notifications-marked-read-ar")
