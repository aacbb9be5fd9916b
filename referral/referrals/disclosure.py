"""What of a case a referral discloses, to whom, right now: the one place that decides it.

The referral page, the API (`shared` of a referral, a recipient's `GET /cases/{id}`), the printed
form and its PDF, and the documents a referral lets through all take their field groups and
their fields from here, so they cannot disagree.

A referral discloses the field groups the sender ticked, minus those the survivor asked to
withhold from the receiving organisation, and only while the referral is open and its consent
holds (or it was sent on an override with a legal basis). Who sees that disclosure depends on
the side: the receiving side reads it on the referral's page and in the API; the sending side's
case team prints it for the provider; nobody else sees anything through the referral.

Each group holds exactly DOMAIN.md's "Field groups", in this order:

    identity    full name, national ID, date of birth
    contact     phone, address, safe-contact instructions (safe channels, safe hours, instructions)
    incident    narratives, type of violence, perpetrator relationship
    assessment  needs, risk level, safety plan; immediate danger and assessment notes if recorded
    notes       the case notes, dated
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import timefmt
from ..cases import consent as consent_rules
from ..cases.models import FIELD_GROUPS, Case, Consent
from ..i18n import current_locale_code
from ..labels import GBV_TYPE_LABELS, PERPETRATOR_LABELS, RISK_LABELS
from ..models_base import DbSession
from .models import OPEN_STATES, Referral

# The groups' short names: section titles and the "not shared with you" line.
GROUP_TITLES = {
    "identity": _l("Identity"),
    "contact": _l("Contact"),
    "incident": _l("Incident"),
    "assessment": _l("Assessment"),
    "notes": _l("Notes"),
}
# The field keys of each group, in the order they are shown (the API's names).
GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "identity": ("full_name", "national_id", "date_of_birth"),
    "contact": ("phone", "address", "safe_channels", "safe_hours", "contact_instructions"),
    "incident": ("narratives", "gbv_type", "perpetrator_relationship"),
    "assessment": ("needs", "risk_level", "safety_plan", "immediate_danger", "assessment_notes"),
    "notes": ("notes",),
}
# The safe channels, by code: which ways of reaching her she marked safe.
SAFE_CHANNELS = (("call", "safe_to_call"), ("sms", "safe_to_text"), ("voicemail", "safe_voicemail"))


@dataclass(frozen=True)
class Field:
    """One field of a shared group: its key, its label in the reader's language, its value as
    the API gives it, and its text as a page or the printed form shows it (one string a line)."""

    key: str
    label: str
    value: Any
    lines: tuple[str, ...]
    ltr: bool = False  # codes, numbers and dates read left to right inside Arabic text


@dataclass(frozen=True)
class Group:
    code: str
    title: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Disclosure:
    """The groups an actor sees (in FIELD_GROUPS order, with their fields), and the codes of
    the groups not shared with her (by name only: never their content)."""

    groups: tuple[Group, ...]
    not_shared: tuple[str, ...]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(g.code for g in self.groups)

    def not_shared_names(self) -> str:
        """The unshared groups' names as one list: "Assessment, Notes" (the Arabic comma in Arabic)."""
        return _list_text([str(GROUP_TITLES[code]) for code in self.not_shared])


# ---------------------------------------------------------------------------------- the decision
def side(actor: Any, referral: Referral) -> str | None:
    """Which party to the referral the actor's organisation is: "sender", "receiver" or None."""
    if actor.organization_id == referral.from_organization_id:
        return "sender"
    if referral.to_organization_id is not None and actor.organization_id == referral.to_organization_id:
        return "receiver"
    return None


def standing(session: DbSession, referral: Referral) -> str | None:
    """Why the referral discloses nothing now ("closed", or "consent" when its consent no longer
    holds), or None while it still discloses its groups."""
    if referral.state not in OPEN_STATES:
        return "closed"
    if referral.override_legal_basis:
        return None
    consent = _consent(session, referral)
    case = referral.case if referral.case is not None else session.get(Case, referral.case_id)
    if consent is None or case is None or not consent_rules.is_valid(consent, case):
        return "consent"
    return None


def disclosed_groups(session: DbSession, referral: Referral) -> frozenset[str]:
    """The field groups the referral discloses to its receiving party right now: the ticked
    groups minus what the survivor withheld from that organisation (also on an override: what
    she asked to withhold is never sent there), while it is open and its consent holds."""
    if standing(session, referral) is not None:
        return frozenset()
    groups = set(referral.field_groups) & set(FIELD_GROUPS)
    consent = _consent(session, referral)
    if consent is not None and referral.to_organization_id is not None:
        groups -= consent_rules.withheld_from(consent, referral.to_organization_id)
    return frozenset(groups)


def shown_groups(session: DbSession, actor: Any, referral: Referral, *, printing: bool = False) -> frozenset[str]:
    """The groups this actor sees through the referral: the receiving side on its page and in the
    API; the sending side only on the printed form (she has the case file itself otherwise)."""
    if side(actor, referral) != ("sender" if printing else "receiver"):
        return frozenset()
    return disclosed_groups(session, referral)


def disclose(session: DbSession, actor: Any, referral: Referral, *, printing: bool = False) -> Disclosure:
    """What this actor sees of the case through this referral, field by field (nothing unless
    she is on the side that sees it: see `shown_groups`). `not_shared` is the same for both
    sides: the groups the referral does not disclose to the receiving party now."""
    disclosed = disclosed_groups(session, referral)
    shown = disclosed if side(actor, referral) == ("sender" if printing else "receiver") else frozenset()
    return of_case(session, referral.case, shown, reached=disclosed)


def of_case(
    session: DbSession, case: Case, groups: Iterable[str], *, reached: Iterable[str] | None = None
) -> Disclosure:
    """The fields of these groups of the case; `not_shared` lists the other groups (those
    outside `reached`, when given)."""
    shown = set(groups)
    reached_set = shown if reached is None else set(reached)
    return Disclosure(
        tuple(
            Group(code, str(GROUP_TITLES[code]), _fields(session, case, code)) for code in FIELD_GROUPS if code in shown
        ),
        tuple(code for code in FIELD_GROUPS if code not in reached_set),
    )


def _consent(session: DbSession, referral: Referral) -> Consent | None:
    return session.get(Consent, referral.consent_id) if referral.consent_id else None


# ---------------------------------------------------------------------------------- the fields
def _text(value: Any) -> tuple[str, ...]:
    text = str(value).strip() if value is not None else ""
    return tuple(text.splitlines()) or ("—",)


def _label(table: dict[str, Any], code: str | None) -> tuple[str, ...]:
    return (str(table.get(code or "", code)) if code else "—",)


def _day(value: datetime | None) -> str:
    return timefmt.local_date(value)  # the reader's calendar day


def _fields(session: DbSession, case: Case, group: str) -> tuple[Field, ...]:
    if group == "identity":
        return (
            Field("full_name", _("Full name"), case.full_name, _text(case.full_name)),
            Field("national_id", _("National ID number"), case.national_id, _text(case.national_id), ltr=True),
            Field("date_of_birth", _("Date of birth"), case.date_of_birth, _text(case.date_of_birth), ltr=True),
        )
    if group == "contact":
        contact = case.safe_contact if isinstance(case.safe_contact, dict) else {}
        channels = [code for code, flag in SAFE_CHANNELS if contact.get(flag)]
        names = {"call": _("calls"), "sms": _("text messages"), "voicemail": _("voicemail")}
        return (
            Field("phone", _("Phone"), case.phone, _text(case.phone), ltr=True),
            Field("address", _("Address"), case.address, _text(case.address)),
            Field(
                "safe_channels",
                _("Safe channels"),
                channels,
                (_list_text([names[c] for c in channels]) if channels else _("None marked safe"),),
            ),
            Field("safe_hours", _("Safe hours"), contact.get("safe_hours"), _text(contact.get("safe_hours")), ltr=True),
            Field(
                "contact_instructions",
                _("Contact instructions"),
                contact.get("instructions"),
                _text(contact.get("instructions")),
            ),
        )
    if group == "incident":
        narratives = [i.narrative for i in case.incidents]
        # one paragraph per incident, an empty line between them
        lines = tuple(line for k, n in enumerate(narratives) for line in ([""] if k else []) + list(_text(n)))
        return (
            Field("narratives", _("What happened"), narratives, lines or ("—",)),
            Field("gbv_type", _("Type of violence"), case.gbv_type, _label(GBV_TYPE_LABELS, case.gbv_type)),
            Field(
                "perpetrator_relationship",
                _("Perpetrator"),
                case.perpetrator_relationship,
                _label(PERPETRATOR_LABELS, case.perpetrator_relationship),
            ),
        )
    if group == "assessment":
        assessment = case.assessment if isinstance(case.assessment, dict) else {}
        needs = [str(n) for n in assessment.get("needs") or []]
        fields = [
            Field("needs", _("Needs"), needs, tuple(needs) or ("—",)),
            Field("risk_level", _("Risk level"), case.risk_level, _label(RISK_LABELS, case.risk_level)),
            Field("safety_plan", _("Safety plan"), case.safety_plan, _text(case.safety_plan)),
        ]
        if "immediate_danger" in assessment:
            danger = bool(assessment["immediate_danger"])
            fields.append(
                Field("immediate_danger", _("In immediate danger"), danger, (_("Yes") if danger else _("No"),))
            )
        if assessment.get("notes"):
            notes = str(assessment["notes"])
            fields.append(Field("assessment_notes", _("Assessment notes"), notes, _text(notes)))
        return tuple(fields)
    # notes: the case's notes, dated, oldest first
    from ..cases.services import notes as case_notes

    written = case_notes(session, case)
    lines = tuple(
        f"{_day(note.created_at)}: {line}" if n == 0 else line
        for note in written
        for n, line in enumerate(_text(note.body))
    )
    value = [{"at": _iso(note.created_at), "body": note.body} for note in written]
    return (Field("notes", _("Notes"), value, lines or ("—",)),)


def _list_text(items: list[str]) -> str:
    return ("، " if current_locale_code() == "ar" else ", ").join(items)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------- the API
def as_json(disclosure: Disclosure) -> dict[str, Any]:
    """The API's `shared`: each shown group's fields by key. Two older names stay for clients
    that read them: `contact.safe_contact` and `assessment.assessment` (the same values)."""
    body: dict[str, Any] = {}
    for group in disclosure.groups:
        values = {f.key: f.value for f in group.fields}
        if group.code == "contact":
            channels = set(values["safe_channels"])
            values["safe_contact"] = {
                **{flag: code in channels for code, flag in SAFE_CHANNELS},
                "safe_hours": values["safe_hours"],
                "instructions": values["contact_instructions"],
            }
        if group.code == "assessment":
            values["assessment"] = {
                "needs": values["needs"],
                "immediate_danger": values.get("immediate_danger", False),
                "notes": values.get("assessment_notes"),
            }
        body[group.code] = values
    return body
