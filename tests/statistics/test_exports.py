"""CSV and XLSX exports of a protected payload: the numbers as published, labels in the locale.

The Arabic checks need the compiled catalogues (gitignored .mo files): this module compiles them
when it is imported, as tests/test_i18n.py does, before any test loads a catalogue.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from openpyxl import load_workbook

from referral.statistics.exports import TOTAL, safe, sheet_name, to_csv, to_xlsx
from tests.helpers.statistics import payload


def _compile_catalogues() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "i18n.py"
    spec = importlib.util.spec_from_file_location("shabaka_i18n", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compile_catalogs()


_compile_catalogues()

FORMULA_STARTS = ("=", "+", "-", "@")


@pytest.fixture
def request_ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context():
        yield


def csv_rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def sheet_rows(data: bytes) -> list[list[Any]]:
    """Every sheet's rows (an empty row between sheets), trailing empty cells dropped."""
    book = load_workbook(io.BytesIO(data))
    rows: list[list[Any]] = []
    for ws in book.worksheets:
        for values in ws.iter_rows(values_only=True):
            row = list(values)
            while row and row[-1] is None:
                row.pop()
            rows.append(row)
        rows.append([])
    return rows


def blocks(rows: Sequence[Sequence[Any]]) -> dict[tuple[str, str], dict[tuple[Any, ...], Any]]:
    """Each table block of an export, read back: (id, period) -> {codes: count}."""
    out: dict[tuple[str, str], dict[tuple[Any, ...], Any]] = {}
    i = 0
    rows = [list(r) for r in rows]
    while i < len(rows):
        row = rows[i]
        if len(row) > 1 and row[0] in ("Code", "الرمز") and i + 2 < len(rows):
            period_row, header = rows[i + 1], [v for v in rows[i + 2] if v is not None]
            if header and header[-1] in ("Count", "عدد", "العدد"):
                period = "previous" if period_row[0] in ("Previous period", "الفترة السابقة") else "current"
                cells: dict[tuple[Any, ...], Any] = {}
                j = i + 3
                while j < len(rows) and any(v not in (None, "") for v in rows[j]):
                    data = [v for v in rows[j] if v is not None]
                    cells[tuple(data[0:-1:2])] = data[-1]
                    j += 1
                out[(row[1], period)] = cells
                i = j
                continue
        i += 1
    return out


def expected(data: dict[str, Any], as_text: bool) -> dict[tuple[str, str], dict[tuple[Any, ...], Any]]:
    out = {}
    for table in data["tables"]:
        out[(table["id"], table["period"])] = {
            tuple(cell["key"].get(d, TOTAL) for d in table["dims"]): (str(cell["count"]) if as_text else cell["count"])
            for cell in table["cells"]
        }
    return out


def test_csv_carries_every_count_exactly_as_published(request_ctx: None) -> None:
    data = payload()
    assert blocks(csv_rows(to_csv(data, "en"))) == expected(data, as_text=True)


def test_xlsx_carries_every_count_exactly_as_published(request_ctx: None) -> None:
    data = payload()
    found = blocks(sheet_rows(to_xlsx(data, "en")))
    assert found == expected(data, as_text=False)
    suppressed = [v for cells in found.values() for v in cells.values() if v == "<5"]
    assert len(suppressed) == sum(1 for t in data["tables"] for c in t["cells"] if c["count"] == "<5")
    assert all(isinstance(v, int) or v == "<5" for cells in found.values() for v in cells.values())


def test_arabic_export_reads_back_the_same_numbers(request_ctx: None) -> None:
    data = payload()
    assert blocks(csv_rows(to_csv(data, "ar"))) == expected(data, as_text=True)
    assert blocks(sheet_rows(to_xlsx(data, "ar"))) == expected(data, as_text=False)


def test_headers_and_labels_in_english(request_ctx: None) -> None:
    text = to_csv(payload(), "en")
    assert "Type of violence" in text
    assert "Type of violence (code)" in text
    assert ",Rape," in text
    assert "January 2026" in text


def test_headers_and_labels_in_arabic(request_ctx: None) -> None:
    text = to_csv(payload(), "ar")
    assert "نوع العنف" in text
    assert "Type of violence" not in text
    assert "يناير 2026" in text
    assert "sexual_assault" in text  # codes stay for machines, whatever the locale


def test_header_block_states_scope_period_threshold_and_suppression(request_ctx: None) -> None:
    rows = csv_rows(to_csv(payload(), "en", names={"hebron": "Hebron"}))
    head = rows[: rows.index([])]
    assert ["Scope", "Network: Hebron", "network:hebron"] in head
    assert ["Period", "2026-01 – 2026-03", "2026-01/2026-03"] in head
    assert ["Previous period", "2025-01 – 2025-03", "2025-01/2025-03"] in head
    assert ["Suppression threshold", "5"] in head
    assert [
        "Cells shown as <5 are suppressed: fewer than 5, or hidden so that a small count cannot be worked out."
    ] in head


def test_scope_without_names_shows_the_code(request_ctx: None) -> None:
    assert "Network: hebron" in to_csv(payload(), "en")
    national = payload()
    national["scope"] = {"kind": "national", "network": None}
    assert "National: all networks" in to_csv(national, "en")


def test_margins_are_labelled_total_with_a_code(request_ctx: None) -> None:
    rows = csv_rows(to_csv(payload(), "en"))
    assert ["total", "Total", "40"] in rows
    assert ["health", "Health", "total", "Total", "12"] in rows
    assert ["total", "Total", "total", "Total", "63"] in rows


def test_derived_values_have_their_own_columns_and_null_is_empty_with_a_note(request_ctx: None) -> None:
    rows = csv_rows(to_csv(payload(), "en"))
    header = rows.index(["Receiving sector (code)", "Receiving sector", "Per cent", "Note"])
    assert rows[header + 1] == ["health", "Health", "66.7", ""]
    assert rows[header + 2][:3] == ["police", "Police family protection", ""]
    assert rows[header + 2][3] == "Not shown: this value rests on fewer than 5 or on a suppressed cell."
    assert ["Priority (code)", "Priority", "Hours", "Note"] in rows
    assert ["emergency", "Emergency (24 hours)", "18.5", ""] in rows


def test_xlsx_null_derived_value_is_an_empty_cell(request_ctx: None) -> None:
    rows = sheet_rows(to_xlsx(payload(), "en"))
    assert ["health", "Health", 66.7] in rows
    police = next(r for r in rows if r[:2] == ["police", "Police family protection"] and len(r) == 4)
    assert police[2] is None and police[3].startswith("Not shown")


def test_no_cell_starts_a_formula(request_ctx: None) -> None:
    data = copy.deepcopy(payload())
    hostile = '=HYPERLINK("http://example.invalid")'
    data["tables"][2]["categories"]["gbv_type"].append(hostile)
    data["tables"][2]["cells"].append({"key": {"gbv_type": hostile}, "count": "<5"})
    data["tables"][2]["cells"].append({"key": {"gbv_type": "-2+3"}, "count": "@SUM(A1)"})
    data["generated_at"] = "+cmd"
    for row in csv_rows(to_csv(data, "en")):
        for value in row:
            assert not value.startswith(FORMULA_STARTS), value
    book = load_workbook(io.BytesIO(to_xlsx(data, "en")))
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_STARTS), cell.value


def test_safe_leaves_numbers_and_the_suppression_label() -> None:
    assert safe(-3) == -3
    assert safe(66.7) == 66.7
    assert safe("<5") == "<5"
    assert safe("0-11") == "0-11"
    assert safe("-1+2") == "'-1+2"
    assert safe("@x") == "'@x"


def test_xlsx_is_right_to_left_in_arabic_only(request_ctx: None) -> None:
    arabic = load_workbook(io.BytesIO(to_xlsx(payload(), "ar")))
    english = load_workbook(io.BytesIO(to_xlsx(payload(), "en")))
    assert all(ws.sheet_view.rightToLeft for ws in arabic.worksheets)
    assert not any(ws.sheet_view.rightToLeft for ws in english.worksheets)
    texts = [v for ws in arabic.worksheets for row in ws.iter_rows(values_only=True) for v in row]
    assert "نوع العنف" in texts


def test_xlsx_one_sheet_per_indicator_with_safe_names(request_ctx: None) -> None:
    book = load_workbook(io.BytesIO(to_xlsx(payload(), "en")))
    assert len(book.sheetnames) == 5  # new_cases, case_profile, flow, outcomes, response_time (its median)
    for name in book.sheetnames:
        assert 0 < len(name) <= 31
        assert not set(name) & set("[]:*?/\\'")
    taken: set[str] = set()
    long = "A very long indicator title: with [brackets] and / slashes"
    first, second = sheet_name(long, taken), sheet_name(long, taken)
    assert first != second and len(first) <= 31 and len(second) <= 31


def test_the_locale_is_the_one_asked_for(request_ctx: None) -> None:
    with force_locale("en"):
        assert "نوع العنف" in to_csv(payload(), "ar")
    with force_locale("ar"):
        assert "Type of violence" in to_csv(payload(), "en")
