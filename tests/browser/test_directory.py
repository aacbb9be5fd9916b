"""The service directory in a real browser, in Arabic: an org admin adds her organisation's
service, then finds it with the directory search; axe on every page on the way."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.helpers.browser import ar, nav_link

SERVICE_AR = "الإرشاد القانوني للنساء"


def test_org_admin_adds_a_service_and_the_directory_finds_it(
    page: Any, live_server: str, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    admin = demo_network["nbl.admin"]
    sign_in_and_enrol(page, admin.username, admin.password)
    nav_link(page, ar("Services")).click()
    page.wait_for_url("**/services")
    expect(page.locator("main h1")).to_have_text(ar("Services"))
    check_a11y(page, "services-directory-ar")

    page.locator("main a.btn-primary", has_text=ar("New service")).click()
    page.wait_for_url("**/services/new")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    check_a11y(page, "service-new-ar")
    page.locator("#name_ar").fill(SERVICE_AR)
    page.locator("#name_en").fill("Legal counselling for women")
    page.locator("#description_ar").fill("استشارات قانونية مجانية في قضايا الأسرة")
    page.locator("#sector").select_option("legal_aid")
    page.locator('input[name="governorates"][value="nablus"]').check()
    page.locator('input[name="languages"][value="ar"]').check()
    page.locator("#eligibility").fill("النساء في محافظة نابلس")
    page.locator("#opening_hours").fill("الأحد–الخميس 9:00–14:00")
    page.locator("#capacity_status").select_option("limited")
    page.locator("#address").fill("شارع رفيديا 12")
    page.locator("#focal_points-0-name").fill("هدى")
    page.locator("#focal_points-0-role").fill("منسّقة التحويل")
    page.locator("#focal_points-0-phone").fill("+970-9-2345678")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/services/*-*")
    expect(page.locator("main h1")).to_contain_text(SERVICE_AR)
    expect(page.get_by_test_id("service-capacity")).to_have_text(ar("Limited places"))
    check_a11y(page, "service-detail-ar")

    nav_link(page, ar("Services")).click()
    page.wait_for_url("**/services")
    page.locator("#filter-q").fill("الإرشاد القانوني")
    page.locator("#filter-governorate").select_option("nablus")
    page.locator("main form[role=search] button[type=submit]").click()
    page.wait_for_url("**/services?*")
    results = page.get_by_test_id("service-list")
    expect(results.get_by_role("link", name=SERVICE_AR)).to_be_visible()
    check_a11y(page, "services-search-ar")
