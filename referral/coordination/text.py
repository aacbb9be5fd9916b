"""The check that keeps case codes out of network records (minutes, agendas, action points):
`referral.text.contains_case_code`, the one definition the activity plans use too. A case code is
the network's three-letter prefix, the year and a number (`NBL-2026-000009`); written by hand in
lower case, with other dashes, spaces, Arabic-Indic digits or a shortened number, it is refused too.
"""

from __future__ import annotations

from ..text import contains_case_code

looks_like_case_code = contains_case_code


def case_code_fields(values: dict[str, str | None]) -> dict[str, str]:
    """`{field: "case_code_refused"}` for each of `values` holding a case code."""
    return {name: "case_code_refused" for name, value in values.items() if contains_case_code(value)}
