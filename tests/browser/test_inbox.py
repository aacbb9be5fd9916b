"""The inbox in a real browser, in Arabic: the Nablus social development directorate's focal
point filters her received referrals (htmx swaps the list, the page stays) and accepts the
overdue emergency referral from the list itself. axe on the way."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.helpers.browser import ar


def test_filter_and_accept_in_the_inbox_without_leaving_the_page(
    page: Any, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    focal = demo_network["nbl.mosd.supervisor"]
    sign_in_and_enrol(page, focal.username, focal.password)
    page.goto("/referrals?box=inbox")
    rows = page.get_by_test_id("referral-list").locator("tbody tr")
    expect(rows.first).to_have_attribute("data-state", "sent")  # the overdue one leads
    assert rows.count() >= 2
    check_a11y(page, "referral-inbox-filters-ar")
    page.evaluate("window.__stayed = true")  # gone if the page were loaded again

    page.locator("#filter-priority").select_option("emergency")
    page.wait_for_url(re.compile(r"priority=emergency"))
    expect(rows).to_have_count(1)
    assert page.evaluate("window.__stayed === true")

    row = rows.first
    row.get_by_test_id("accept").click()
    expect(row.get_by_test_id("row-notice")).to_contain_text(ar("Accepted"))
    expect(page.locator("tbody tr").first).to_have_attribute("data-state", "accepted")
    assert page.evaluate("window.__stayed === true")
    check_a11y(page, "referral-inbox-accepted-ar")

    page.reload()  # the filtered address is kept, and the step was saved
    expect(page.locator("#filter-priority")).to_have_value("emergency")
    expect(page.locator("tbody tr").first).to_have_attribute("data-state", "accepted")
