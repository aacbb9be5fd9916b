"""Statistics in a real browser, in Arabic: Hebron's coordinator opens the statistics page, filters
by period, sees a chart and its table with suppressed cells, prepares a release and submits it;
the two member administrators approve it; she publishes it and exports it to XLSX, which holds
the same suppressed cells. axe on every statistics page on the way, at desktop and phone size."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
from playwright.sync_api import expect

from tests.helpers.browser import PHONE, ar, nav_link


def _period() -> tuple[str, str]:
    today = date.today()
    return f"{today.year - 1}-{today.month:02d}", f"{today.year}-{today.month:02d}"


def test_a_coordinator_publishes_a_release_the_members_approved(
    page: Any, browser: Any, live_server: str, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    coordinator = demo_network["coord.hebron"]
    sign_in_and_enrol(page, coordinator.username, coordinator.password)
    nav_link(page, ar("Statistics")).click()
    page.wait_for_url("**/statistics")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    first, last = _period()
    page.locator("#f-from").fill(first)
    page.locator("#f-to").fill(last)
    page.get_by_test_id("stats-filters").locator("button[type=submit]").click()
    page.wait_for_url(f"**/statistics?*from={first}*")
    expect(page.get_by_test_id("stats-period")).to_contain_text(first)
    chart = page.locator("canvas[data-chart='cases_new_by_month']")
    expect(chart).to_be_visible()
    table = page.get_by_test_id("stats-table-cases_new_by_gbv_type")
    expect(table).to_be_visible()
    expect(page.locator(".stats-table .suppressed").first).to_have_text("<5")
    check_a11y(page, "statistics-ar")

    nav_link(page, ar("Releases")).click()
    page.wait_for_url("**/statistics/releases")
    check_a11y(page, "statistics-releases-ar")
    form = page.get_by_test_id("prepare-form")
    form.locator("#period_from").fill(first)
    form.locator("#period_to").fill(last)
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/statistics/releases/*")
    release_url = page.url
    expect(page.get_by_test_id("release-state")).to_have_text(ar("Draft"))
    check_a11y(page, "statistics-release-draft-ar")
    page.get_by_role("button", name=ar("Submit to the members for approval")).click()
    expect(page.get_by_test_id("release-state")).to_have_text(ar("Waiting for the members' approval"))

    for username in ("heb.admin", "heb.mosd.admin"):
        admin = demo_network[username]
        context = browser.new_context(locale="ar-PS", viewport=PHONE, base_url=live_server)
        context.set_default_timeout(10_000)
        other = context.new_page()
        try:
            sign_in_and_enrol(other, admin.username, admin.password)
            other.goto(release_url)
            decision = other.get_by_test_id("decision-form")
            expect(decision).to_be_visible()
            check_a11y(other, f"statistics-release-approve-{username.replace('.', '-')}-phone-ar")
            decision.locator("input[value=approved]").check()
            decision.locator("button[type=submit]").click()
            expect(other.locator(".alert-success")).to_be_visible()
        finally:
            context.close()

    page.goto(release_url)
    page.get_by_role("button", name=ar("Publish")).click()
    expect(page.get_by_test_id("release-state")).to_have_text(ar("Published"))
    check_a11y(page, "statistics-release-published-ar")
    nav_link(page, ar("Data requests")).click()
    page.wait_for_url("**/statistics/requests")
    check_a11y(page, "statistics-requests-ar")
    page.goto(release_url)
    with page.expect_download() as download_info:
        page.get_by_test_id("release-export-xlsx").click()
    path = download_info.value.path()
    book = openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes()))
    cells = {str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None}
    assert "<5" in cells
    assert any(sheet.sheet_view.rightToLeft for sheet in book.worksheets)
