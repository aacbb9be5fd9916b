"""The one check that keeps case codes out of network records (minutes, agendas, action points).

A case code is the network's three-letter prefix, the year and a number: `NBL-2026-000009`
(cases/services.py `_next_case_code`). Written by hand it may be in lower case, with other dashes,
spaces around them, Arabic-Indic digits or a shortened number; all of those are refused too.
"""

from __future__ import annotations

import re

from ..text import fold_digits

_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d_/", "-"))
# letters (3, as prefixes are), a 4-digit year, a number of 1 to 6 digits, not inside a longer word
_CASE_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{3}\s*-\s*(19|20)\d{2}\s*-\s*\d{1,6}(?!\d)")


def looks_like_case_code(value: str | None) -> bool:
    """Whether any part of `value` reads as a case code."""
    if not value:
        return False
    return _CASE_CODE.search(fold_digits(value).translate(_DASHES)) is not None


def case_code_fields(values: dict[str, str | None]) -> dict[str, str]:
    """`{field: "case_code_refused"}` for each of `values` holding a case code."""
    return {name: "case_code_refused" for name, value in values.items() if looks_like_case_code(value)}
