"""The printable referral form: what a provider outside the network receives on paper.

One `Sheet` feeds both the print view and the PDF, so the two hold the same things: the case
code, the two parties, priority, dates, the reason, and the case fields of the field groups the
referral shares, nothing else. The PDF is drawn the app's one way (referral/pdf.py): fpdf2, its
Arabic shaped by HarfBuzz and laid out right to left, in the Noto Naskh Arabic shipped with the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from .. import timefmt
from ..cases import services as cases
from ..cases.models import FIELD_GROUPS, Case
from ..directory.models import Organization
from ..i18n import list_separator
from ..labels import (
    FIELD_GROUP_NAMES,
    GBV_TYPE_LABELS,
    PERPETRATOR_LABELS,
    PRIORITY_LABELS,
    RISK_LABELS,
    SECTOR_LABELS,
)
from ..models_base import DbSession
from ..pdf import Document
from .models import Referral


@dataclass
class Row:
    label: str
    lines: list[str]
    ltr: bool = False  # codes, numbers and dates read left to right inside Arabic text


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)


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


def build(session: DbSession, referral: Referral, groups: set[str], locale: str) -> Sheet:
    """The form's content in the reader's language, from the shared `groups` of the case only."""
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
    case = referral.case
    sections = [
        Section(str(FIELD_GROUP_NAMES[group]), _group_rows(session, case, group, list_separator(locale)))
        for group in FIELD_GROUPS
        if group in groups
    ]
    return Sheet(referral.case_code, header, sections)


def _group_rows(session: DbSession, case: Case, group: str, separator: str) -> list[Row]:
    if group == "identity":
        return [
            Row(_("Full name"), _text(case.full_name)),
            Row(_("National ID number"), _text(case.national_id), ltr=True),
            Row(_("Date of birth"), _text(case.date_of_birth), ltr=True),
        ]
    if group == "contact":
        contact = case.safe_contact or {}
        channels = [
            name
            for key, name in (
                ("safe_to_call", _("calls")),
                ("safe_to_text", _("text messages")),
                ("safe_voicemail", _("voicemail")),
            )
            if contact.get(key)
        ]
        return [
            Row(_("Phone"), _text(case.phone), ltr=True),
            Row(_("Address"), _text(case.address)),
            Row(_("Safe channels"), [separator.join(channels) if channels else _("None marked safe")]),
            Row(_("Safe hours"), _text(contact.get("safe_hours")), ltr=True),
            Row(_("Contact instructions"), _text(contact.get("instructions"))),
        ]
    if group == "incident":
        rows = [
            Row(_("Type of violence"), [_label(GBV_TYPE_LABELS, case.gbv_type)]),
            Row(_("Perpetrator"), [_label(PERPETRATOR_LABELS, case.perpetrator_relationship)]),
        ]
        rows += [Row(_("What happened"), _text(incident.narrative)) for incident in case.incidents]
        return rows
    if group == "assessment":
        assessment = case.assessment or {}
        rows = [Row(_("Risk level"), [_label(RISK_LABELS, case.risk_level)])]
        if assessment.get("needs"):
            rows.append(Row(_("Needs"), [str(n) for n in assessment["needs"]]))
        if assessment.get("immediate_danger"):
            rows.append(Row(_("In immediate danger"), [_("Yes")]))
        if assessment.get("notes"):
            rows.append(Row(_("Assessment notes"), _text(assessment["notes"])))
        rows.append(Row(_("Safety plan"), _text(case.safety_plan)))
        return rows
    # notes: the case's notes, dated
    return [Row(_day(note.created_at), _text(note.body)) for note in cases.notes(session, case)] or [
        Row(_("Notes"), ["—"])
    ]


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
