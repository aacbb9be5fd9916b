"""The auditors' workspace in a real browser, in Arabic: Hebron's supervisor has opened a Nablus
case by emergency access and read it; the auditor searches the case code and finds who viewed
it, with the break-the-glass flag, sees it again on the flags page, exports the result as CSV
and verifies the chain. axe on every page on the way."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from referral.access import breakglass
from referral.accounts.models import User
from referral.audit import search
from referral.audit.views import CSV_LABEL_COLUMNS
from referral.cases import services as cases
from referral.cases.models import Case
from referral.extensions import db
from tests.helpers.browser import ar, nav_link


def _emergency_read(app: Flask) -> str:
    """Hebron's supervisor opens a Nablus demo case by emergency access and reads it."""
    with app.app_context():
        nablus = db.session.scalars(select(User).where(User.username == "nbl.caseworker")).one()
        boss = db.session.scalars(select(User).where(User.username == "heb.supervisor")).one()
        case = db.session.scalars(
            select(Case)
            .where(Case.organization_id == nablus.organization_id, Case.purged_at.is_(None))
            .order_by(Case.case_code)
        ).first()
        assert case is not None
        code = str(case.case_code)
        breakglass.open_grant(db.session, boss, code, "الشرطة أبلغت عن خطر فوري الليلة")
        cases.view_case(db.session, boss, case.id)
        db.session.commit()
        return code


def test_an_auditor_finds_who_viewed_a_case_sees_the_emergency_access_exports_and_verifies(
    page: Any, app: Flask, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    code = _emergency_read(app)
    auditor = demo_network["auditor"]
    sign_in_and_enrol(page, auditor.username, auditor.password)

    nav_link(page, ar("Audit trail")).click()
    page.wait_for_url("**/audit")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    check_a11y(page, "audit-search-ar")
    page.locator("#f-case_code").fill(code)
    page.locator("main form[role=search] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/audit\?"))
    results = page.get_by_test_id("audit-results")
    viewed = results.locator("tr[data-action='case.view']", has_text="heb.supervisor")
    expect(viewed).to_have_count(1)
    expect(viewed.get_by_test_id("breakglass-flag")).to_have_text(ar("Emergency access"))
    expect(results.locator("tr[data-action='breakglass.open']")).to_contain_text("heb.supervisor")
    check_a11y(page, "audit-results-ar")

    # Who opened this file: the case's history.
    results.locator("a", has_text=code).first.click()
    page.wait_for_url(f"**/audit/cases/{code}")
    expect(page.get_by_test_id("case-history")).to_contain_text("heb.supervisor")
    check_a11y(page, "audit-case-history-ar")

    # The flags page lists the emergency access.
    nav_link(page, ar("Flags")).click()
    page.wait_for_url("**/audit/flags")
    expect(page.get_by_test_id("flag-breakglass")).to_contain_text(code)
    expect(page.get_by_test_id("flag-breakglass")).to_contain_text("heb.supervisor")
    check_a11y(page, "audit-flags-ar")

    # Export the search result.
    page.goto(f"/audit?case_code={code}")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    assert re.fullmatch(r"audit-events-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [*search.COLUMNS, *CSV_LABEL_COLUMNS]  # the codes, then the labels
    assert {r["action_label"] for r in rows if r["action"] == "case.view"} == {ar("Case file viewed")}
    assert {r["case_code"] for r in rows} == {code}
    assert {"case.create", "breakglass.open", "case.view"} <= {r["action"] for r in rows}
    assert "الشرطة" not in text  # the emergency reason is not in the trail, nor any name

    nav_link(page, ar("Verification")).click()
    page.wait_for_url("**/audit/verify")
    check_a11y(page, "audit-verify-ar")
    page.get_by_test_id("verify-now").click()
    expect(page.get_by_test_id("verification-result")).to_have_class(re.compile(r"\balert-success\b"))
    expect(page.get_by_test_id("checkpoint")).to_be_visible()
    check_a11y(page, "audit-verified-ar")
