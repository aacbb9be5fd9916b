"""A referral in a real browser, in Arabic: the Nablus caseworker opens a case, records consent
and refers it to the Hebron legal aid centre; Hebron's supervisor sees what is shared, accepts,
starts and completes it; once completed, the survivor's data is gone from Hebron's page. A
caseworker of a third organisation (the Nablus social development directorate, in the sender's
own network) who opens the case and the referral by their addresses gets "not found". axe on
every page on the way."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import nav_link
from tests.browser.test_cases import _ar

NAME = "ريم-علامة سعيد"


def test_a_referral_closes_its_loop(
    page: Any, browser: Any, live_server: str, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    worker = demo_network["nbl.caseworker"]
    sign_in_and_enrol(page, worker.username, worker.password)
    page.goto("/cases/new")
    page.locator("#full_name").fill(NAME)
    page.locator("#age_group").select_option("25-59")
    page.locator("#sex").select_option("female")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    case_url = page.url

    page.locator("main a", has_text=_ar("Consent and referrals")).first.click()
    page.wait_for_url(re.compile(r"/referrals$"))
    check_a11y(page, "case-referrals-ar")
    page.locator("main a", has_text=_ar("Record consent")).click()
    check_a11y(page, "consent-form-ar")
    page.locator("#method").select_option("verbal")
    page.get_by_label("مركز الخليل للمساعدة القانونية", exact=True).check()
    page.locator('input[name="field_groups"][value="identity"]').check()
    page.locator('input[name="field_groups"][value="contact"]').check()
    page.locator("#purpose").fill("تمثيل قانوني في قضية حضانة")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("consents")).to_contain_text(_ar("In force"))

    page.locator("#to_organization_id").select_option(label="مركز الخليل للمساعدة القانونية")
    page.locator("#priority").select_option("urgent")
    page.locator('input[name="field_groups"][value="identity"]').check()
    page.locator("#consent_id").select_option(index=1)
    page.locator("#reason").fill("جلسة حضانة الأسبوع القادم")
    page.locator("main form button[type=submit]", has_text=_ar("Send the referral")).click()
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    referral_url = page.url
    expect(page.get_by_test_id("referral-state")).to_have_text(_ar("Sent"))
    check_a11y(page, "referral-sent-ar")

    context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(10_000)
    try:
        hebron = context.new_page()
        boss = demo_network["heb.supervisor"]
        sign_in_and_enrol(hebron, boss.username, boss.password)
        nav_link(hebron, _ar("Referrals")).click()
        expect(hebron.get_by_test_id("referral-list")).to_contain_text("NBL-")
        check_a11y(hebron, "referral-inbox-ar")
        hebron.goto(referral_url)
        expect(hebron.get_by_test_id("shared")).to_contain_text(NAME)
        check_a11y(hebron, "referral-received-ar")
        hebron.get_by_test_id("act-accept").click()
        expect(hebron.get_by_test_id("referral-state")).to_have_text(_ar("Accepted"))
        hebron.locator("#user_id").select_option(label="heb.caseworker")
        hebron.locator("section[aria-labelledby=assign-heading] button[type=submit]").click()
        expect(hebron.locator("main")).to_contain_text(_ar("The referral was assigned."))
        hebron.get_by_test_id("act-start").click()
        hebron.locator("#outcome").fill("حضرت المحامية الجلسة")
        hebron.get_by_test_id("act-complete").click()
        expect(hebron.get_by_test_id("referral-state")).to_have_text(_ar("Completed"))
        expect(hebron.get_by_test_id("referral-timeline").locator("li")).to_have_count(5)
        assert NAME not in hebron.content()  # the loop is closed: Hebron keeps the record only
        check_a11y(hebron, "referral-completed-ar")
    finally:
        context.close()

    page.goto(referral_url)  # the sender sees the outcome and the whole timeline
    expect(page.get_by_test_id("referral-state")).to_have_text(_ar("Completed"))
    expect(page.locator("main")).to_contain_text("حضرت المحامية الجلسة")
    expect(page.get_by_test_id("referral-timeline").locator("li")).to_have_count(5)

    context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(10_000)
    try:
        outsider = context.new_page()
        third = demo_network["nbl.mosd"]
        sign_in_and_enrol(outsider, third.username, third.password)
        for url in (case_url, referral_url):
            response = outsider.goto(url)
            assert response is not None and response.status == 404, url
            expect(outsider.locator("main h1")).to_have_text(_ar("Not found"))
            assert NAME not in outsider.content() and "NBL-" not in outsider.content()
        check_a11y(outsider, "referral-not-found-ar")
    finally:
        context.close()
