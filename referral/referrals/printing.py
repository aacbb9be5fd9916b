"""The printable referral form: what a provider outside the network receives on paper.

One `Sheet` feeds both the print view and the PDF, so the two hold the same things: the case
code, the two parties, priority, dates, the reason, and the case fields the referral discloses
(`disclosure.py`: what the receiving side sees), nothing else. The PDF is drawn the app's one way
(referral/pdf.py): fpdf2, its Arabic shaped by HarfBuzz and laid out right to left, in the Noto
Naskh Arabic shipped with the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from .. import timefmt
from ..directory.models import Organization
from ..labels import PRIORITY_LABELS, SECTOR_LABELS
from ..models_base import DbSession
from ..pdf import Document
from .disclosure import Disclosure
from .models import Referral


@dataclass
class Row:
    label: str
    lines: list[str]
    ltr: bool = False  # codes, numbers and dates read left to right inside Arabic text
    key: str | None = None  # a case field's key (`disclosure.GROUP_FIELDS`), None for the header


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    code: str = ""  # the field group


@dataclass
class Sheet:
    case_code: str
    header: list[Row]
    sections: list[Section]


def _day(value: datetime | None) -> str:
    return timefmt.local_date(value)  # the reader's calendar day


def _when(value: datetime | None) -> str:
    return timefmt.local_time(value)  # the reader's clock, named: a sheet travels between zones


def _label(table: dict[str, Any], code: str | None) -> str:
    return str(table.get(code or "", code or "—"))


def _text(value: Any) -> list[str]:
    text = str(value).strip() if value is not None else ""
    return text.splitlines() or ["—"]


def build(session: DbSession, referral: Referral, shown: Disclosure, locale: str) -> Sheet:
    """The form's content in the reader's language: of the case, only the fields `shown` (the
    referral's disclosure, `disclosure.disclose`)."""
    sender = session.get(Organization, referral.from_organization_id)
    receiver = session.get(Organization, referral.to_organization_id) if referral.to_organization_id else None
    provider = referral.external_provider if referral.external else (receiver.name(locale) if receiver else "—")
    sector = referral.external_sector if referral.external else None
    header = [
        Row(_("Case code"), [referral.case_code], ltr=True),
        Row(_("Referring organisation"), [sender.name(locale) if sender else "—"]),
        Row(_("Referred to"), [provider or "—"]),
    ]
    if sector:
        header.append(Row(_("Sector"), [_label(SECTOR_LABELS, sector)]))
    header += [
        Row(_("Priority"), [_label(PRIORITY_LABELS, referral.priority)]),
        Row(_("Date of the referral"), [_when(referral.sent_at or referral.created_at)], ltr=True),
        Row(_("Answer due"), [_when(referral.due_at)], ltr=True),
        Row(_("Reason for the referral"), _text(referral.reason)),
    ]
    sections = [
        Section(group.title, [Row(f.label, list(f.lines), f.ltr, f.key) for f in group.fields], group.code)
        for group in shown.groups
    ]
    return Sheet(referral.case_code, header, sections)


def render_pdf(sheet: Sheet, rtl: bool) -> bytes:
    """The sheet as an A4 PDF: Arabic shaped and right to left (left to right in English)."""
    pdf = Document(_("Referral form"), rtl)
    line = pdf.line
    line(_("Referral form"), 18, "B", 11)
    line(_("Confidential: for this referral only. Do not copy it or pass it on."), 9)
    pdf.ln(3)
    for row in sheet.header:
        _pdf_row(line, row)
    for section in sheet.sections:
        pdf.ln(3)
        line(section.title, 13, "B", 9)
        for row in section.rows:
            _pdf_row(line, row)
    return pdf.output()


def _pdf_row(line: Any, row: Row) -> None:
    line(row.label, 10, "B", 6)
    for text in row.lines:
        line(text, 11)
