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

from tests.helpers.browser import ar, nav_link

NAME = "ريم-علامة سعيد"
WIDTHS = (390, 1024, 1280)
PROGRESS = "عُقدت جلسة أولى مع المحامية"
NEXT_STEP = "جلسة المحكمة يوم الإثنين"
OUTCOME = "صدر قرار الحضانة لصالحها"


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

    page.locator("main a", has_text=ar("Consent and referrals")).first.click()
    page.wait_for_url(re.compile(r"/referrals$"))
    check_a11y(page, "case-referrals-ar")
    page.locator("main a", has_text=ar("Record consent")).click()
    check_a11y(page, "consent-form-ar")
    page.locator("#method").select_option("verbal")
    page.get_by_label("مركز الخليل للمساعدة القانونية", exact=True).check()
    page.locator('input[name="field_groups"][value="identity"]').check()
    page.locator('input[name="field_groups"][value="contact"]').check()
    page.locator("#purpose").fill("تمثيل قانوني في قضية حضانة")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("consents")).to_contain_text(ar("In force"))

    page.locator("#to_organization_id").select_option(label="مركز الخليل للمساعدة القانونية")
    page.locator("#priority").select_option("urgent")
    page.locator('input[name="field_groups"][value="identity"]').check()
    page.locator("#consent_id").select_option(index=1)
    page.locator("#reason").fill("جلسة حضانة الأسبوع القادم")
    page.locator("main form button[type=submit]", has_text=ar("Send the referral")).click()
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    referral_url = page.url
    expect(page.get_by_test_id("referral-state")).to_have_text(ar("Sent"))
    check_a11y(page, "referral-sent-ar")

    context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(20_000)  # two passes share two cores in CI
    try:
        hebron = context.new_page()
        boss = demo_network["heb.supervisor"]
        sign_in_and_enrol(hebron, boss.username, boss.password)
        nav_link(hebron, ar("Referrals")).click()
        expect(hebron.get_by_test_id("referral-list")).to_contain_text("NBL-")
        check_a11y(hebron, "referral-inbox-ar")
        hebron.goto(referral_url)
        expect(hebron.get_by_test_id("shared")).to_contain_text(NAME)
        check_a11y(hebron, "referral-received-ar")
        hebron.get_by_test_id("act-accept").click()
        expect(hebron.get_by_test_id("referral-state")).to_have_text(ar("Accepted"))
        hebron.locator("#user_id").select_option(label="heb.caseworker")
        hebron.locator("section[aria-labelledby=assign-heading] button[type=submit]").click()
        expect(hebron.locator("main")).to_contain_text(ar("The referral was assigned."))
        hebron.get_by_test_id("act-start").click()
        hebron.locator("#outcome").fill("حضرت المحامية الجلسة")
        hebron.get_by_test_id("act-complete").click()
        expect(hebron.get_by_test_id("referral-state")).to_have_text(ar("Completed"))
        expect(hebron.get_by_test_id("referral-timeline").locator("li")).to_have_count(6)
        assert NAME not in hebron.content()  # the loop is closed: Hebron keeps the record only
        check_a11y(hebron, "referral-completed-ar")
    finally:
        context.close()

    page.goto(referral_url)  # the sender sees the outcome and the whole timeline
    expect(page.get_by_test_id("referral-state")).to_have_text(ar("Completed"))
    expect(page.locator("main")).to_contain_text("حضرت المحامية الجلسة")
    expect(page.get_by_test_id("referral-timeline").locator("li")).to_have_count(6)

    context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(20_000)  # two passes share two cores in CI
    try:
        outsider = context.new_page()
        third = demo_network["nbl.mosd"]
        sign_in_and_enrol(outsider, third.username, third.password)
        for url in (case_url, referral_url):
            response = outsider.goto(url)
            assert response is not None and response.status == 404, url
            expect(outsider.locator("main h1")).to_have_text(ar("Not found"))
            assert NAME not in outsider.content() and "NBL-" not in outsider.content()
        check_a11y(outsider, "referral-not-found-ar")
    finally:
        context.close()


def _at_every_width(page: Any, check_a11y: Any, name: str, testid: str) -> None:
    """axe at 390, 1024 and 1280 px, and the section named by `testid` within the screen."""
    first = page.viewport_size
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        check_a11y(page, f"{name}-{width}")
        box = page.get_by_test_id(testid).bounding_box()
        assert box is not None and box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (name, width, box)
    page.set_viewport_size(first)


def _refer(page: Any) -> tuple[str, str]:
    """The Nablus caseworker opens a case, records consent and refers it to Hebron legal aid."""
    page.goto("/cases/new")
    page.locator("#full_name").fill(NAME)
    page.locator("#age_group").select_option("25-59")
    page.locator("#sex").select_option("female")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    case_url = page.url
    page.locator("main a", has_text=ar("Consent and referrals")).first.click()
    page.locator("main a", has_text=ar("Record consent")).click()
    page.locator("#method").select_option("verbal")
    page.get_by_label("مركز الخليل للمساعدة القانونية", exact=True).check()
    page.locator('input[name="field_groups"][value="identity"]').check()
    page.locator("#purpose").fill("تمثيل قانوني في قضية حضانة")
    page.locator("main form button[type=submit]").click()
    page.locator("#to_organization_id").select_option(label="مركز الخليل للمساعدة القانونية")
    page.locator("#priority").select_option("urgent")
    page.locator('input[name="field_groups"][value="identity"]').check()
    page.locator("#consent_id").select_option(index=1)
    page.locator("#reason").fill("جلسة حضانة الأسبوع القادم")
    page.locator("main form button[type=submit]", has_text=ar("Send the referral")).click()
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    return case_url, page.url


def test_the_receiver_logs_progress_and_the_sender_sees_it_on_her_case(
    page: Any, browser: Any, live_server: str, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    worker = demo_network["nbl.caseworker"]
    sign_in_and_enrol(page, worker.username, worker.password)
    case_url, referral_url = _refer(page)

    context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(20_000)  # two passes share two cores in CI
    try:
        hebron = context.new_page()
        boss = demo_network["heb.supervisor"]
        sign_in_and_enrol(hebron, boss.username, boss.password)
        hebron.goto(referral_url)
        hebron.get_by_label(ar("Also open our own case file from this referral")).check()
        hebron.get_by_test_id("act-accept").click()
        expect(hebron.get_by_test_id("referral-state")).to_have_text(ar("Accepted"))
        expect(hebron.get_by_test_id("own-case")).to_contain_text("-")
        hebron.locator("#text").fill(PROGRESS)
        hebron.locator("#next_step").fill(NEXT_STEP)
        hebron.get_by_test_id("log-progress").click()
        expect(hebron.get_by_test_id("service-log")).to_contain_text(PROGRESS)
        expect(hebron.get_by_test_id("service-log")).to_contain_text(NEXT_STEP)
        _at_every_width(hebron, check_a11y, "referral-log-receiver-ar", "service-log")
        hebron.get_by_test_id("act-start").click()
        hebron.locator("#outcome").fill(OUTCOME)
        hebron.get_by_test_id("act-complete").click()
        expect(hebron.get_by_test_id("referral-state")).to_have_text(ar("Completed"))
        assert NAME not in hebron.content()  # the shared view ended with the referral...
        hebron.get_by_test_id("own-case").locator("a").click()
        hebron.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
        hebron.get_by_role("button", name=ar("Reveal identifying details")).click()
        expect(hebron.locator("main")).to_contain_text(NAME)  # ...her own case file keeps the record
    finally:
        context.close()

    page.goto(case_url)  # the sender's case page: state, outcome and the service log
    panel = page.get_by_test_id("case-referrals")
    expect(panel.get_by_test_id("case-referral-state")).to_have_text(ar("Completed"))
    expect(panel.get_by_test_id("case-referral-outcome")).to_contain_text(OUTCOME)
    expect(panel.get_by_test_id("case-referral-log")).to_contain_text(PROGRESS)
    _at_every_width(page, check_a11y, "case-referrals-sender-ar", "case-referrals")
