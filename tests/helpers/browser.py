"""Browser tests: viewports, artifacts, the Arabic of a message and the navigation links."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Any

import referral

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"  # screenshots of the accessibility checks
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ARABIC_CATALOGUE = Path(referral.__file__).parent / "translations" / "ar" / "LC_MESSAGES" / "messages.mo"


def ar(message: str) -> str:
    """The Arabic of `message` when the catalogue is compiled (else the English: still a valid page)."""
    if not ARABIC_CATALOGUE.exists():
        return message
    with ARABIC_CATALOGUE.open("rb") as fh:
        return gettext.GNUTranslations(fh).gettext(message)


# ----------------------------------------------------------------------------- navigation
def nav_link(page: Any, name: str) -> Any:
    """The main navigation's link `name`, its menu opened first when it sits in one (the
    navigation groups its entries by area: templates/base.html)."""
    link = page.locator("#nav").get_by_role("link", name=name, exact=True)
    if not link.is_visible():
        # (a closed menu's entries are hidden, so no role query finds them: match the text)
        entry = page.locator("a.dropdown-item").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
        page.locator("#nav .dropdown").filter(has=entry).locator(".dropdown-toggle").click()
    return link
