"""A plan as XLSX (openpyxl, the statistics' way: text never runs as a formula, right to left in
Arabic) and as PDF (fpdf2 with HarfBuzz shaping and the Noto Naskh Arabic font shipped with the
app: the one way of referral/pdf.py). Both hold the same things: the
progress against plan by type and quarter, then every activity. Auditing the export is the
caller's business (the view that serves it)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date, get_day_names
from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from ..i18n import RTL, list_separator
from ..labels import SECTOR_LABELS
from ..pdf import Document
from ..statistics.exports import safe, sheet_name
from .labels import QUARTER_LABELS, STATUS_LABELS, TYPE_LABELS
from .models import Activity
from .services import Progress, ProgressRow


@dataclass
class Content:
    network_name: str
    year: int
    activities: list[Activity]
    progress: Progress
    org_names: dict[str, str]
    governorate_names: dict[str, str]
    generated_on: date


def month_label(year: int, month: int, locale: str) -> str:
    return format_date(date(year, month, 1), "MMMM y", locale=locale)


def weekday_names(locale: str) -> list[str]:
    """Saturday to Friday, as the month grid runs."""
    names = get_day_names("wide", locale=locale)
    return [names[i] for i in (5, 6, 0, 1, 2, 3, 4)]


def _title(content: Content) -> str:
    return _("Activity and training plan %(year)s: %(network)s", year=content.year, network=content.network_name)


def _percent(value: int | None) -> str:
    return "—" if value is None else f"{value}%"


def progress_header() -> list[str]:
    return [
        _("Type of activity"),
        _("Quarter"),
        _("Planned"),
        _("Delivered"),
        _("Cancelled"),
        _("Delivered of planned"),
        _("Target participants"),
        _("Participants reached"),
        _("Reached of target"),
    ]


def progress_rows(progress: Progress) -> list[list[Any]]:
    def row(r: ProgressRow) -> list[Any]:
        kind = str(TYPE_LABELS.get(r.activity_type or "", "")) if r.activity_type else _("All types")
        quarter = str(QUARTER_LABELS[r.quarter]) if r.quarter else _("The whole year")
        return [
            kind,
            quarter,
            r.planned,
            r.delivered,
            r.cancelled,
            _percent(r.share_delivered),
            r.target,
            r.participants,
            _percent(r.share_reached),
        ]

    rows = [row(r) for r in progress.rows]
    rows += [row(r) for r in progress.by_type if r.planned or r.cancelled]
    rows += [row(r) for r in progress.by_quarter]
    rows.append(row(progress.total))
    return rows


def activity_header() -> list[str]:
    return [
        _("Title"),
        _("Type of activity"),
        _("Status"),
        _("Responsible organisation"),
        _("Partner organisations"),
        _("Planned start"),
        _("Planned end"),
        _("Place (governorate)"),
        _("Target sectors"),
        _("Target participants"),
        _("Participants reached"),
        _("Decision reference in the minutes"),
    ]


def activity_row(activity: Activity, content: Content, separator: str) -> list[Any]:
    return [
        activity.title,
        str(TYPE_LABELS.get(activity.activity_type, activity.activity_type)),
        str(STATUS_LABELS.get(activity.status, activity.status)),
        content.org_names.get(activity.responsible_organization_id, ""),
        separator.join(content.org_names.get(o, "") for o in activity.partner_organization_ids),
        activity.planned_start.isoformat(),
        activity.planned_end.isoformat(),
        content.governorate_names.get(activity.governorate, activity.governorate),
        separator.join(str(SECTOR_LABELS.get(s, s)) for s in activity.target_sectors),
        activity.target_participants,
        sum(d.participants_total for d in activity.deliveries),
        activity.decision_ref,
    ]


# ---------------------------------------------------------------------------------- XLSX
def _write(sheet: Worksheet, rows: list[list[Any]], start: int, bold_first: bool = True) -> int:
    for offset, row in enumerate(rows):
        for col, value in enumerate(row, start=1):
            cell = sheet.cell(row=start + offset, column=col, value=safe(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text is text, never a formula
            if bold_first and offset == 0:
                cell.font = Font(bold=True)
    return start + len(rows)


def to_xlsx(content: Content, locale: str) -> bytes:
    """Two sheets: the progress against plan, and the activities; right to left in Arabic."""
    with force_locale(locale):
        separator = list_separator(locale)
        workbook = Workbook()
        taken: set[str] = set()
        progress = workbook.active
        assert progress is not None
        progress.title = sheet_name(_("Progress against plan"), taken)
        row = _write(progress, [[_title(content)]], 1)
        row = _write(progress, [[_("Generated on"), content.generated_on.isoformat()]], row, bold_first=False) + 1
        _write(progress, [progress_header(), *progress_rows(content.progress)], row)
        listing = workbook.create_sheet(sheet_name(_("Activities"), taken))
        _write(listing, [activity_header(), *(activity_row(a, content, separator) for a in content.activities)], 1)
        for sheet in workbook.worksheets:
            sheet.sheet_view.rightToLeft = locale in RTL
            for column in "ABCDEFGHIJKL":
                sheet.column_dimensions[column].width = 22
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()


# ---------------------------------------------------------------------------------- PDF
def to_pdf(content: Content, locale: str) -> bytes:
    """An A4 PDF: Arabic shaped and right to left (left to right in English)."""
    with force_locale(locale):
        rtl = locale in RTL
        separator = list_separator("ar" if rtl else "en")
        pdf = Document(_title(content), rtl)
        line = pdf.line

        line(_title(content), 16, "B", 10)
        line(f"{_('Generated on')}: {content.generated_on.isoformat()}", 9)
        pdf.ln(3)
        line(_("Progress against plan"), 13, "B", 9)
        header = progress_header()
        for values in progress_rows(content.progress):
            line(f"{values[0]} · {values[1]}", 11, "B", 6)
            line(
                separator.join(f"{name}: {value}" for name, value in zip(header[2:], values[2:], strict=True)),
                10,
            )
        pdf.ln(3)
        line(_("Activities"), 13, "B", 9)
        names = activity_header()
        for activity in content.activities:
            values = activity_row(activity, content, separator)
            pdf.ln(1)
            line(str(values[0]), 11, "B", 6)
            for name, value in zip(names[1:], values[1:], strict=True):
                if value not in ("", None):
                    line(f"{name}: {value}", 10, height=6)
        if not content.activities:
            line(_("No activity in the plan yet."), 10)
        return pdf.output()
