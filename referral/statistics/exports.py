"""A statistics payload as CSV or XLSX: every table with its cells exactly as published.

The payload is already protected (disclosure control has run): a count is an int or the
suppression label ("<5"), and it is written as it stands, never turned into a number. Each row
carries the category codes (for machines) beside their labels in the chosen locale. Auditing the
export is the caller's business (the view that serves it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from babel.dates import format_date
from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from ..i18n import RTL
from ..labels import SECTOR_LABELS
from .indicators import DIMENSIONS, INDICATOR_BY_ID, INDICATORS, MEASURES, TABLE_INDICATOR, Derived

TOTAL = "total"  # the code column's value on a margin row (a dimension summed over)
Row = list[Any]

_DERIVED = {d.id: d for i in INDICATORS for d in i.derived}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\']")


# ------------------------------------------------------------------------------- labels
def month_label(code: str, locale: str) -> str:
    """ "2026-01" as "January 2026" in the locale; the code itself if it is not a month."""
    try:
        year, month = (int(part) for part in code.split("-"))
        return format_date(date(year, month, 1), "MMMM y", locale=locale)
    except ValueError:
        return code


def dimension_label(dim: str) -> str:
    spec = DIMENSIONS.get(dim)
    return str(spec.label) if spec is not None else dim


def category_label(dim: str, code: str, locale: str, names: Mapping[str, str] | None = None) -> str:
    """A category's label in the active locale (call inside `force_locale`)."""
    if dim == "month":
        return month_label(code, locale)
    if dim == "governorate":
        return (names or {}).get(code, code)
    spec = DIMENSIONS.get(dim)
    labels = spec.labels() if spec is not None and spec.labels is not None else {}
    label = labels.get(code)
    return code if label is None else str(label)


def period_label(first: str, last: str) -> str:
    return first if first == last else f"{first} – {last}"


def table_title(table: Mapping[str, Any], locale: str, names: Mapping[str, str] | None = None) -> str:
    """ "New cases opened in the period, by type of violence" (and any fixed categories)."""
    measure = MEASURES.get(table.get("measure", ""))
    title = str(measure) if measure is not None else str(table.get("measure", table["id"]))
    dims = [dimension_label(d) for d in table.get("dims", [])]
    if len(dims) == 1:
        title = _("%(measure)s, by %(dimension)s", measure=title, dimension=dims[0])
    elif len(dims) == 2:
        title = _("%(measure)s, by %(first)s and %(second)s", measure=title, first=dims[0], second=dims[1])
    fixed = table.get("fixed") or {}
    if fixed:
        within = "; ".join(f"{dimension_label(d)}: {category_label(d, c, locale, names)}" for d, c in fixed.items())
        title = f"{title} ({within})"
    return title


def scope_label(scope: Mapping[str, Any], names: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(label, code) of the payload's scope."""
    kind = scope.get("kind", "network")
    if kind == "national":
        return _("National: all networks"), "national"
    if kind == "organization":
        return _("One organisation's own cases"), "organization"
    network = scope.get("network") or ""
    network_name = _("Network")
    return f"{network_name}: {(names or {}).get(network, network)}", f"network:{network}"


def suppression_note(payload: Mapping[str, Any]) -> str:
    return _(
        "Cells shown as %(label)s are suppressed: fewer than %(threshold)s, or hidden so that a small count "
        "cannot be worked out.",
        label=payload["suppressed_label"],
        threshold=payload["threshold"],
    )


def empty_note(payload: Mapping[str, Any]) -> str:
    return _(
        "Not shown: this value rests on fewer than %(threshold)s or on a suppressed cell.",
        threshold=payload["threshold"],
    )


# ------------------------------------------------------------------------------- safety
def safe(value: Any) -> Any:
    """A cell value that no spreadsheet runs as a formula: numbers pass, text that starts with
    = + - @ (or a tab or line break) is prefixed with an apostrophe."""
    if isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# ------------------------------------------------------------------------------- rows
def header_rows(payload: Mapping[str, Any], locale: str, names: Mapping[str, str] | None = None) -> list[Row]:
    """What the figures are: scope, period, threshold, and what suppression and empty cells mean."""
    label, code = scope_label(payload.get("scope") or {}, names)
    rows: list[Row] = [
        [_("Network statistics")],
        [_("Scope"), label, code],
        [_("Period"), period_label(payload["from"], payload["to"]), f"{payload['from']}/{payload['to']}"],
    ]
    previous = payload.get("previous")
    if previous:
        rows.append(
            [
                _("Previous period"),
                period_label(previous["from"], previous["to"]),
                f"{previous['from']}/{previous['to']}",
            ]
        )
    sector = payload.get("sector")
    if sector:
        rows.append([_("Sector"), str(SECTOR_LABELS.get(sector, sector)), sector])
    rows += [
        [_("Suppression threshold"), payload["threshold"]],
        [_("Generated at"), payload.get("generated_at", "")],
        [suppression_note(payload)],
        [_("An empty value cell is not shown; the note beside it says why.")],
    ]
    return rows


def _ordered_cells(table: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The table's cells in category order, each margin after its categories; cells whose
    categories are not listed keep their place at the end. Every payload cell appears once."""
    dims: Sequence[str] = table.get("dims", [])
    categories: Mapping[str, Sequence[str]] = table.get("categories") or {}
    order = {d: {c: i for i, c in enumerate(categories.get(d, []))} for d in dims}

    def rank(cell: Mapping[str, Any]) -> tuple[int, ...]:
        key = cell.get("key") or {}
        out: list[int] = []
        for d in dims:
            if d not in key:
                out.append(len(order[d]) + 1)  # the margin, after every category
            else:
                out.append(order[d].get(key[d], len(order[d]) + 2))
        return tuple(out)

    return sorted(table.get("cells", []), key=rank)


def table_rows(table: Mapping[str, Any], locale: str, names: Mapping[str, str] | None = None) -> list[Row]:
    """A table block: its title, code and period, a header row and one row per cell."""
    dims: Sequence[str] = table.get("dims", [])
    period_name = _("Previous period") if table.get("period") == "previous" else _("Period")
    rows: list[Row] = [
        [table_title(table, locale, names)],
        [_("Code"), table["id"]],
        [period_name, period_label(table["from"], table["to"])],
    ]
    header: Row = []
    for d in dims:
        header += [_("%(dimension)s (code)", dimension=dimension_label(d)), dimension_label(d)]
    rows.append([*header, _("Count")])
    for cell in _ordered_cells(table):
        key = cell.get("key") or {}
        row: Row = []
        for d in dims:
            if d in key:
                row += [key[d], category_label(d, key[d], locale, names)]
            else:
                row += [TOTAL, _("Total")]
        count = cell.get("count")
        row.append(count if isinstance(count, int) and not isinstance(count, bool) else str(count))
        rows.append(row)
    return rows


def derived_rows(
    derived: Mapping[str, Any], payload: Mapping[str, Any], locale: str, names: Mapping[str, str] | None = None
) -> list[Row]:
    """A percentage, median or 90th percentile block: one value per category of `by` (or one)."""
    spec: Derived | None = _DERIVED.get(derived["id"])
    kind = derived.get("kind", "percent")
    field = "percent" if kind == "percent" else kind
    title = str(spec.label) if spec is not None else derived["id"]
    by = derived.get("by")
    previous = derived.get("period") == "previous"
    window = payload.get("previous") if previous else payload
    rows: list[Row] = [[title], [_("Code"), derived["id"]]]
    if window:
        rows.append([_("Previous period") if previous else _("Period"), period_label(window["from"], window["to"])])
    unit = _("Per cent") if kind == "percent" else _("Hours")
    header: Row = [_("%(dimension)s (code)", dimension=dimension_label(by)), dimension_label(by)] if by else []
    rows.append([*header, unit, _("Note")])
    for item in derived.get("values", []):
        key = item.get("key") or {}
        row: Row = []
        if by:
            code = key.get(by)
            row += [code, category_label(by, code, locale, names)] if code is not None else [TOTAL, _("Total")]
        value = item.get(field)
        if value is None:
            row += [None, empty_note(payload)]
        else:
            row += [value, None]
        rows.append(row)
    return rows


def _blocks(
    payload: Mapping[str, Any], locale: str, names: Mapping[str, str] | None
) -> Iterator[tuple[str, list[Row]]]:
    """(indicator id, block rows) for every table, then every derived value, in payload order."""
    for table in payload.get("tables", []):
        indicator = TABLE_INDICATOR.get(table["id"])
        yield table.get("indicator") or (indicator.id if indicator else ""), table_rows(table, locale, names)
    for derived in payload.get("derived", []):
        yield derived.get("indicator", ""), derived_rows(derived, payload, locale, names)


# ------------------------------------------------------------------------------- formats
def to_csv(payload: Mapping[str, Any], locale: str, names: Mapping[str, str] | None = None) -> str:
    """The payload as one CSV text: the header block, then a block per table and derived value,
    separated by empty rows. Starts with a byte-order mark so that spreadsheets read the Arabic."""
    with force_locale(locale):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in header_rows(payload, locale, names):
            writer.writerow([safe(v) for v in row])
        for _indicator, rows in _blocks(payload, locale, names):
            writer.writerow([])
            for row in rows:
                writer.writerow(["" if v is None else safe(v) for v in row])
        return "\ufeff" + out.getvalue()


def sheet_name(title: str, taken: set[str]) -> str:
    """An Excel sheet name: no []:*?/\\ or apostrophes, at most 31 characters, unique."""
    base = " ".join(_SHEET_UNSAFE.sub(" ", title).split()).strip() or "Sheet"
    base = base[:31].strip()
    name, n = base, 1
    while name.casefold() in {t.casefold() for t in taken}:
        n += 1
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)].strip() + suffix
    taken.add(name)
    return name


def _write(sheet: Worksheet, rows: Sequence[Row], start: int, bold_first: bool = True) -> int:
    """Writes rows from row `start`; returns the next free row."""
    for offset, row in enumerate(rows):
        for col, value in enumerate(row, start=1):
            cell = sheet.cell(row=start + offset, column=col, value=safe(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text is text, never a formula
        if bold_first and offset == 0:
            for col in range(1, len(row) + 1):
                sheet.cell(row=start + offset, column=col).font = Font(bold=True)
    return start + len(rows)


def to_xlsx(payload: Mapping[str, Any], locale: str, names: Mapping[str, str] | None = None) -> bytes:
    """The payload as a workbook: one sheet per indicator, each opening with the header block;
    right-to-left in Arabic."""
    with force_locale(locale):
        workbook = Workbook()
        default = workbook.active
        sheets: dict[str, Worksheet] = {}
        next_row: dict[str, int] = {}
        taken: set[str] = set()
        header = header_rows(payload, locale, names)
        for indicator_id, rows in _blocks(payload, locale, names):
            if indicator_id not in sheets:
                indicator = INDICATOR_BY_ID.get(indicator_id)
                title = str(indicator.title) if indicator is not None else indicator_id or "Statistics"
                sheet = workbook.create_sheet(sheet_name(title, taken))
                sheet.sheet_view.rightToLeft = locale in RTL
                sheets[indicator_id] = sheet
                next_row[indicator_id] = _write(sheet, header, 1) + 1
            next_row[indicator_id] = _write(sheets[indicator_id], rows, next_row[indicator_id]) + 1
        if sheets and default is not None:
            workbook.remove(default)
        elif default is not None:
            default.title = sheet_name(_("Network statistics"), taken)
            default.sheet_view.rightToLeft = locale in RTL
            _write(default, header, 1)
        for sheet in workbook.worksheets:
            for column in "ABCDE":
                sheet.column_dimensions[column].width = 24
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
