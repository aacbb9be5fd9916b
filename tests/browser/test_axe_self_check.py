"""The accessibility check itself: axe really runs under the app's CSP and really fails a page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

BREAK_THE_PAGE = """() => {
  const main = document.querySelector('main');
  const input = document.createElement('input');
  input.id = 'unlabelled';
  main.append(input);
  const faint = document.createElement('p');
  faint.id = 'faint';
  faint.textContent = 'faint text';
  faint.style.color = '#eeeeee';
  main.append(faint);
}"""


def test_check_a11y_reports_serious_violations_with_their_targets(page, check_a11y) -> None:
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.evaluate(BREAK_THE_PAGE)
    with pytest.raises(AssertionError) as failure:
        check_a11y(page, "axe-self-check")
    report = str(failure.value)
    assert "label (critical)" in report and "#unlabelled" in report, report
    assert "color-contrast (serious)" in report and "#faint" in report, report
