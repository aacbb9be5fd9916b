"""What text the application accepts, in one place: digits folded, controls refused.

An Arabic keyboard types Arabic-Indic digits (٠١٢…), a Persian or Urdu one Extended Arabic-Indic
digits (۰۱۲…), and a phone's wide layout fullwidth ones (０１２…): every number typed in is folded
to ASCII digits before it is read, compared or indexed.

Names and identifiers (a survivor's name, national id, phone, a username, an organisation's
name) refuse every control character and the bidirectional formatting characters, which can
make one name display as another. Free text (notes, narratives, reasons) keeps tabs and line
breaks and refuses the other controls, NUL first. Lone surrogates (half of a UTF-16 pair, which
JSON can spell as "\\ud800") are no text at all and are refused everywhere.
"""

from __future__ import annotations

import re
from typing import Any

_DIGITS = "0123456789"
DIGIT_FOLDING = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹０１２３４５６７８９",
    _DIGITS * 3,
)

# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the direction marks
# (U+200E, U+200F, U+061C): they change how the text around them is drawn.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_FREE_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")

INVALID_CHARACTERS = "invalid_characters"

# The same rules as JSON Schema patterns, for the OpenAPI document (so a client, or a fuzzer,
# knows what is refused). Lone surrogates are left out: no UTF-8 text can carry one.
NAME_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]*$"
FREE_TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"


def fold_digits(value: str) -> str:
    """Arabic-Indic, Extended Arabic-Indic and fullwidth digits as ASCII digits; the rest unchanged."""
    return value.translate(DIGIT_FOLDING)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0


def _is_surrogate(ch: str) -> bool:
    return 0xD800 <= ord(ch) <= 0xDFFF


def text_problem(value: str, *, identifying: bool) -> str | None:
    """`invalid_characters` when `value` holds what its kind of field refuses, else None."""
    for ch in value:
        if _is_surrogate(ch):
            return INVALID_CHARACTERS
        if _is_control(ch):
            if identifying or ch not in _FREE_TEXT_CONTROLS_ALLOWED:
                return INVALID_CHARACTERS
        elif identifying and ch in BIDI_CONTROLS:
            return INVALID_CHARACTERS
    return None


# The names of the fields, in forms and in the API, that hold a name or an identifier.
IDENTIFYING_FIELDS = frozenset(
    {
        "full_name",
        "national_id",
        "phone",
        "username",
        "name",
        "name_ar",
        "name_en",
        "email",
        "representative",
        "external_provider",
        "caregiver_name",
    }
)


def problems_in(data: Any, path: str = "") -> dict[str, str]:
    """Every string inside a decoded JSON value checked by its field's kind: {path: problem}.

    Iterative, so a deeply nested value cannot exhaust the stack."""
    found: dict[str, str] = {}
    stack: list[tuple[str, str, Any]] = [(path, "", data)]
    while stack:
        where, key, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value, identifying=key in IDENTIFYING_FIELDS)
            if problem:
                found.setdefault(where or "_", problem)
        elif isinstance(value, dict):
            for name, item in value.items():
                name_text = str(name)
                if text_problem(name_text, identifying=True):
                    found.setdefault(where or "_", INVALID_CHARACTERS)
                    continue
                stack.append((f"{where}.{name_text}" if where else name_text, name_text, item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((f"{where}.{index}" if where else str(index), key, item))
    return found


def depth_of(data: Any, limit: int) -> int:
    """How deeply `data` nests, counted without recursion and no further than `limit` + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return deepest


# A case code as people write it: the network's three letters, the year and the number
# ("NBL-2026-000009"), in any letter case, with hyphens, dashes, slashes, underscores or spaces
# between the parts and any kind of digits (folded first).
_CASE_CODE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{3}\s*[-_/\u2010-\u2015\u2212\ufe63\uff0d\s]\s*\d{4}"
    r"\s*[-_/\u2010-\u2015\u2212\ufe63\uff0d\s]\s*\d{1,6}(?!\d)"
)


def contains_case_code(value: str | None) -> bool:
    """Whether free text holds something that looks like a case code: text of an ordinary record
    (a delivery report, ordinary minutes) must never name a case."""
    return bool(value) and _CASE_CODE_IN_TEXT.search(fold_digits(value or "")) is not None


# ------------------------------------------------------------------------------ identifiers
# A Palestinian national id: 9 digits, the last a check digit (weights 1,2,1,2,... from the left,
# the digits of each product summed, the total a multiple of 10). A phone: a mobile (059, 056)
# or a landline (02, 04, 08, 09 and seven digits), typed in the national form or after +970,
# +972, 00970 or 00972, with spaces, dashes, dots or brackets; stored in one form,
# "+970 59 123 4567" / "+970 2 298 1234", so that every written form is one number.
_SEPARATORS = re.compile(r"[ \-.()\u00a0]")
_MOBILE = re.compile(r"5[69]\d{7}")
_LANDLINE = re.compile(r"[2489]\d{7}")

INVALID_NATIONAL_ID = "invalid_national_id"  # not nine digits (400)
NATIONAL_ID_CHECK_DIGIT = "national_id_check_digit"  # nine digits, a wrong check digit (422: no schema states it)
INVALID_PHONE = "invalid_phone"


def _digit(which: str = "0-9") -> str:
    """A regular-expression class of the digits `which` in the four scripts folded."""
    chars = [c for c in "0123456789" if re.fullmatch(f"[{which}]", c)]
    return (
        "["
        + "".join(c + "٠١٢٣٤٥٦٧٨٩"[int(c)] + "۰۱۲۳۴۵۶۷۸۹"[int(c)] + "０１２３４５６７８９"[int(c)] for c in chars)
        + "]"
    )


# The same rules as JSON Schema patterns, for the OpenAPI document: what is accepted, exactly
# (the national id's check digit excepted, which a pattern cannot state).
_S = "[ \\-.()\u00a0]*"
NATIONAL_ID_PATTERN = f"^(?:{_S}(?:{_digit()}{_S}){{9}})?$"
PHONE_PATTERN = (
    f"^(?:{_S}(?:\\+{_S}{_digit('9')}{_S}{_digit('7')}{_S}{_digit('02')}"
    f"|{_digit('0')}{_S}{_digit('0')}{_S}{_digit('9')}{_S}{_digit('7')}{_S}{_digit('02')}|{_digit('0')})"
    f"{_S}(?:{_digit('0')}{_S})?"
    f"(?:{_digit('5')}{_S}{_digit('69')}(?:{_S}{_digit()}){{7}}|{_digit('2489')}(?:{_S}{_digit()}){{7}}){_S})?$"
)


def national_id_checks(digits: str) -> bool:
    """True for 9 ASCII digits whose check digit is right."""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, ch in enumerate(digits):
        product = int(ch) * (1 if position % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10 == 0


def with_check_digit(first_eight: str) -> str:
    """The national id that `first_eight` digits begin (its check digit added): for demo data and tests."""
    for last in "0123456789":
        if national_id_checks(first_eight + last):
            return first_eight + last
    raise ValueError("eight digits expected")


def clean_national_id(value: str) -> str | None:
    """The id as 9 ASCII digits (digits folded, spaces and dashes dropped), or None if it is not one."""
    digits = _SEPARATORS.sub("", fold_digits(value))
    return digits if national_id_checks(digits) else None


def national_id_problem(value: str) -> str:
    """Why `value` is not a national id: not nine digits, or a wrong check digit."""
    digits = _SEPARATORS.sub("", fold_digits(value))
    return (
        NATIONAL_ID_CHECK_DIGIT if len(digits) == 9 and digits.isascii() and digits.isdigit() else INVALID_NATIONAL_ID
    )


def clean_phone(value: str) -> str | None:
    """The number in its one stored form, "+970 59 123 4567", or None if it is not a phone number."""
    text = _SEPARATORS.sub("", fold_digits(value))
    if text.startswith("+"):
        text = text[1:]
        if not text.startswith(("970", "972")):
            return None
        national = text[3:]
    elif text.startswith(("00970", "00972")):
        national = text[5:]
    elif text.startswith("0"):
        national = text[1:]
    else:
        return None
    if national.startswith("0"):  # "+970 059 …": the trunk zero written after the country code
        national = national[1:]
    if not national.isascii() or not national.isdigit():
        return None
    if _MOBILE.fullmatch(national):
        return f"+970 {national[:2]} {national[2:5]} {national[5:]}"
    if _LANDLINE.fullmatch(national):
        return f"+970 {national[0]} {national[1:4]} {national[4:]}"
    return None
