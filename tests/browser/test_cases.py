"""The case file in a real browser, in Arabic: intake (with a refused first try), the masked list,
reveal, a note, a document upload, and the first steps up to implementation with a supervisor approving the plan;
axe on every page on the way."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.helpers.browser import ar, nav_link

NAME = "سلمى-علامة خالد"
NATIONAL_ID = "401234562"  # valid check digit, fictional
PHONE = "0599123456"
PHONE_STORED = "+970 59 912 3456"  # the one form phones are stored and shown in
NOTE = "اتصلنا بها في الوقت الآمن وحدّدنا موعدًا"


def _button(page: Any, action: str, value: str | None = None) -> Any:
    """The submit button of the case-page form posting to `action` (and carrying `value`)."""
    form = f'form[action$="{action}"]'
    if value is not None:
        form += f':has(input[value="{value}"])'
    return page.locator(f"{form} button[type=submit]")


def _expect_status(page: Any, status: str) -> None:
    expect(page.get_by_test_id("case-status")).to_have_text(ar(status))


def test_caseworker_and_supervisor_take_a_case_through_its_first_steps(
    page, browser, live_server, demo_network, check_a11y, sign_in_and_enrol
) -> None:
    worker = demo_network["nbl.caseworker"]
    sign_in_and_enrol(page, worker.username, worker.password)
    nav_link(page, ar("Cases")).click()
    page.wait_for_url("**/cases")
    expect(page.locator("main h1")).to_have_text(ar("Cases"))
    check_a11y(page, "cases-empty-ar")

    # Intake: a first try without the name is refused, with the typed values kept.
    page.locator("main a.btn-primary", has_text=ar("New case")).click()
    page.wait_for_url("**/cases/new")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#governorate")).to_have_value("nablus")
    check_a11y(page, "case-intake-ar")
    page.locator("#national_id").fill(NATIONAL_ID)
    page.locator("#phone").fill(PHONE)
    page.locator("#date_of_birth").fill("1994-03-02")
    page.locator("#address").fill("البلدة القديمة")
    page.locator("#safe_to_call").check()
    page.locator("#safe_hours").fill("9:00-12:00")
    page.locator("#instructions").fill("اسألي عن أم أحمد")
    page.locator("#narrative").fill("رواية ما حدث")
    page.locator("#age_group").select_option("25-59")
    page.locator("#sex").select_option("female")
    page.locator("#gbv_type").select_option("physical_assault")
    page.locator("#perpetrator_relationship").select_option("intimate_partner")
    page.locator("#risk_level").select_option("medium")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#full_name-error")).to_be_visible()
    expect(page.locator("#full_name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#national_id")).to_have_value(NATIONAL_ID)
    expect(page.locator("#risk_level")).to_have_value("medium")
    check_a11y(page, "case-intake-error-ar")

    page.locator("#full_name").fill(NAME)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    case_url = page.url
    code = page.locator("main h1 .ltr").inner_text().strip()
    assert re.fullmatch(r"NBL-\d{4}-\d{6}", code), code
    _expect_status(page, "Intake")
    html = page.content()
    assert NAME not in html and NATIONAL_ID not in html and PHONE not in html and PHONE_STORED not in html
    check_a11y(page, "case-view-ar")

    # The list shows the code and initials only.
    page.goto("/cases")
    row = page.get_by_test_id("case-list").locator("tbody tr").first
    expect(row).to_contain_text(code)
    html = page.content()
    assert NAME not in html and NATIONAL_ID not in html and PHONE not in html and PHONE_STORED not in html
    check_a11y(page, "cases-list-ar")

    # Reveal: the identifiers for this response only; the address bar carries none.
    row.get_by_role("link").click()
    page.wait_for_url(case_url)
    _button(page, "/reveal").click()
    expect(page.get_by_test_id("identifiers")).to_contain_text(NAME)
    expect(page.get_by_test_id("identifiers")).to_contain_text(NATIONAL_ID)
    assert NATIONAL_ID not in page.url and PHONE not in page.url
    check_a11y(page, "case-revealed-ar")
    page.goto(case_url)
    expect(page.get_by_test_id("identifiers")).not_to_contain_text(NAME)

    # A note, with its author.
    page.locator("#note-body").fill(NOTE)
    _button(page, "/notes").click()
    expect(page.get_by_test_id("notes")).to_contain_text(NOTE)
    expect(page.get_by_test_id("notes")).to_contain_text(worker.username)

    # A scanned consent form, uploaded: listed by title and type, its bytes encrypted in storage.
    page.locator("#document-title").fill("استمارة الموافقة")
    page.locator("#document-file").set_input_files(
        files=[{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n" + b"0" * 2048}]
    )
    page.locator('form[action$="/documents"] button[type=submit]').click()
    expect(page.locator("#documents")).to_contain_text("استمارة الموافقة")
    check_a11y(page, "case-document-ar")
    page.goto(case_url)

    # Intake -> assessment -> action plan.
    page.locator("#consent_for_services-given").check()
    page.locator("#consent_for_services-limits_explained").check()
    page.locator("#consent_for_services-method").select_option("verbal")
    _button(page, "/steps/consent_for_services").click()
    _button(page, "/move", "assessment").click()
    _expect_status(page, "Assessment")
    check_a11y(page, "case-assessment-ar")
    page.locator("#assessment-needs").fill("مأوى آمن\nاستشارة قانونية")
    page.locator("#assessment-risk_level").select_option("medium")
    _button(page, "/steps/assessment").click()
    _button(page, "/move", "action_plan").click()
    _expect_status(page, "Action plan")
    page.locator("#action_plan-actions").fill("إحالة إلى بيت الأمان\nإحالة إلى المساعدة القانونية")
    _button(page, "/steps/action_plan").click()
    page.locator("#safety_plan-safety_plan").fill("خطة السلامة المتفق عليها")
    _button(page, "/steps/safety_plan").click()
    _button(page, "/move", "implementation").click()
    expect(page.locator("#step-problems")).to_contain_text(ar("A supervisor must approve the action plan first."))
    check_a11y(page, "case-plan-waiting-ar")

    # The supervisor approves the plan from her queue.
    context = browser.new_context(locale="ar-PS", viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(20_000)  # two passes share two cores in CI
    try:
        boss = context.new_page()
        supervisor = demo_network["nbl.supervisor"]
        sign_in_and_enrol(boss, supervisor.username, supervisor.password)
        expect(boss.get_by_test_id("count-awaiting")).to_have_text("1")
        nav_link(boss, ar("Approvals")).click()
        boss.wait_for_url("**/cases/approvals")
        expect(boss.get_by_test_id("approval-queue")).to_contain_text(code)
        assert NAME not in boss.content()
        check_a11y(boss, "approvals-ar")
        boss.get_by_test_id("approval-queue").get_by_role("link", name=code).click()
        check_a11y(boss, "case-supervisor-ar")
        _button(boss, "/approve", "action_plan").click()
        expect(boss.get_by_test_id("plan-approval")).to_contain_text(supervisor.username)
    finally:
        context.close()

    # The caseworker starts the implementation.
    page.goto(case_url)
    _button(page, "/move", "implementation").click()
    _expect_status(page, "Implementation")
    timeline = page.get_by_test_id("timeline")
    for step in ("Intake", "Assessment", "Action plan", "Implementation"):
        expect(timeline).to_contain_text(ar(step))
    check_a11y(page, "case-implementation-ar")
