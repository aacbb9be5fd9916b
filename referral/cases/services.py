"""The rules of the case file: creation with a case code, the six steps and their requirements,
approvals by a supervisor who is not the author, append-only notes, reveal of identifiers and
search by identifier. Every read and write is checked by the access policy and audited.

Services flush and never commit; views and the API commit at the request edge.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.orm import load_only

from ..access.breakglass import audit_mark
from ..access.policy import can, scope_cases
from ..audit.services import record, record_denial
from ..directory.models import Network
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, refusal
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..pagination import decode_cursor, encode_cursor, uuid_text
from ..runtime import runtime
from ..security.crypto import blind_index
from ..security.fields import Unreadable
from ..text import (
    INVALID_PHONE,
    NATIONAL_ID_CHECK_DIGIT,
    clean_national_id,
    clean_phone,
    national_id_problem,
    text_problem,
)
from .classification import classify
from .models import (
    AGE_GROUPS,
    CLOSURE_REASONS,
    GBV_TYPES,
    INCIDENT_CONTEXTS,
    MARITAL_STATUSES,
    PERPETRATOR_RELATIONSHIPS,
    REPORTING_DELAYS,
    RISK_LEVELS,
    SEXES,
    Case,
    CaseMember,
    CaseNote,
    CaseSequence,
    CaseTransition,
    Incident,
)

IDENTIFYING = ("full_name", "national_id", "date_of_birth", "phone", "address", "safe_contact", "caregiver")
STATISTICAL = (
    "governorate",
    "age_group",
    "sex",
    "disability",
    "marital_status",
    "gbv_type",
    "perpetrator_relationship",
    "risk_level",
    "reporting_delay",
    "statistics_consent",
)
SAFE_CONTACT_KEYS = ("safe_to_call", "safe_to_text", "safe_voicemail", "safe_hours", "instructions")
_CHOICES: dict[str, tuple[str, ...]] = {
    "age_group": AGE_GROUPS,
    "sex": SEXES,
    "marital_status": MARITAL_STATUSES,
    "gbv_type": GBV_TYPES,
    "perpetrator_relationship": PERPETRATOR_RELATIONSHIPS,
    "risk_level": RISK_LEVELS,
    "reporting_delay": REPORTING_DELAYS,
}
LIST_COLUMNS = (
    Case.case_code,
    Case.organization_id,
    Case.owner_id,
    Case.status,
    Case.opened_at,
    Case.updated_at,
    Case.version,
    Case.full_name,
    Case.governorate,
    Case.age_group,
    Case.sex,
    Case.risk_level,
    Case.gbv_type,
)
_LIMITS = {"full_name": 200, "national_id": 32, "phone": 32, "address": 500}

# Allowed step changes: (from, to) -> the rule that must hold (checked in `_require`).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("intake", "assessment"): "consent_for_services",
    ("assessment", "action_plan"): "assessment_done",
    ("action_plan", "implementation"): "plan_approved",
    ("implementation", "follow_up"): "none",
    ("follow_up", "implementation"): "none",
    ("follow_up", "closure_pending"): "closure_checklist",
    ("implementation", "closure_pending"): "closure_checklist",
    ("closure_pending", "follow_up"): "none",
    ("closure_pending", "closed"): "closure_approved",
    ("closed", "reopened"): "none",
    ("reopened", "assessment"): "none",
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


class IdentifierInUrl(InvalidInput):
    """A national id or phone sent in a URL: URLs end up in access logs, proxies and histories."""

    code = "identifier_in_url"

    def __init__(self) -> None:
        super().__init__(
            "An identifier may not be sent in a URL: search by national id or phone with POST /api/v1/cases/search.",
            fields={"q": "identifier_in_url"},
        )


class StepRequirement(InvalidInput):
    code = "step_requirement"


@dataclass
class CaseInput:
    """What an intake form or `POST /cases` carries. Unset fields stay as they are on update."""

    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    items: list[Case]
    next_cursor: str | None


# ---------------------------------------------------------------------------------- helpers
def _validate(values: dict[str, Any], creating: bool, session: DbSession) -> dict[str, Any]:
    """Clean and check the fields of a case; raises InvalidInput naming each bad field."""
    fields: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("full_name", "national_id", "phone", "address"):
            if value is None or value == "":
                clean[name] = None
            elif not isinstance(value, str) or len(value) > _LIMITS[name]:
                fields[name] = "invalid"
            elif problem := text_problem(value, identifying=name != "address"):
                fields[name] = problem
            elif name == "national_id":  # empty is "not known"; a wrong number is refused
                if (national_id := clean_national_id(value)) is None:
                    fields[name] = national_id_problem(value)
                else:
                    clean[name] = national_id
            elif name == "phone":
                if (phone := clean_phone(value)) is None:
                    fields[name] = INVALID_PHONE
                else:
                    clean[name] = phone
            else:
                clean[name] = value.strip()
        elif name == "date_of_birth":
            if value in (None, ""):
                clean[name] = None
            else:
                try:
                    born = date.fromisoformat(str(value))
                except ValueError:
                    fields[name] = "invalid_date"
                    continue
                if born.year < 1900:
                    fields[name] = "invalid_date"
                elif born > date.today():
                    fields[name] = "not_in_the_past"
                else:
                    clean[name] = born.isoformat()
        elif name == "safe_contact":
            if value is None:
                clean[name] = None
            elif not isinstance(value, dict) or set(value) - set(SAFE_CONTACT_KEYS):
                fields[name] = "invalid"
            else:
                clean[name] = {k: value.get(k) for k in SAFE_CONTACT_KEYS if k in value}
        elif name == "caregiver":
            clean[name] = value if value is None or isinstance(value, dict) else fields.setdefault(name, "invalid")
        elif name == "narrative":
            if value is not None and (not isinstance(value, str) or len(value) > 20000):
                fields[name] = "invalid"
            elif value is not None and (problem := text_problem(value, identifying=False)):
                fields[name] = problem
            else:
                clean[name] = value
        elif name == "governorate":
            known = set(session.scalars(select(Network.governorate)))
            if value not in known:
                fields[name] = "invalid"
            else:
                clean[name] = value
        elif name == "statistics_consent":
            if not isinstance(value, bool):
                fields[name] = "invalid"
            else:
                clean[name] = value
        elif name == "disability":
            if value is not None and not isinstance(value, bool):
                fields[name] = "invalid"
            else:
                clean[name] = value
        elif name in _CHOICES:
            if value is not None and value not in _CHOICES[name]:
                fields[name] = "invalid"
            else:
                clean[name] = value
        elif name == "incident_contexts":
            if not isinstance(value, list) or any(c not in INCIDENT_CONTEXTS for c in value):
                fields[name] = "invalid"
            else:
                clean[name] = value
        else:
            fields[name] = "unknown_field"
    if creating and "governorate" not in values:
        fields["governorate"] = "required"
    if creating and not (values.get("full_name") or "").strip():
        fields.setdefault("full_name", "required")
    if fields:
        raise refusal("invalid_case", fields, CASE_RULES)
    return clean


def _normal_identifier(column: str, value: str) -> str:
    """The stored form of an identifier when `value` is a valid one (so that every written form of
    one number gives one index), else `value` itself (a search for it then finds nothing)."""
    if column == "national_id":
        return clean_national_id(value) or value
    if column == "phone":
        return clean_phone(value) or value
    return value


def _index(organization_id: str, column: str, value: str | None) -> str | None:
    if not value:
        return None
    value = _normal_identifier(column, value)
    return blind_index(runtime().keyring.index_key(organization_id), column, value, column)


def _next_case_code(session: DbSession, governorate: str) -> str:
    prefix = session.scalar(select(Network.case_prefix).where(Network.governorate == governorate))
    if prefix is None:
        raise InvalidInput("invalid_case", fields={"governorate": "invalid"})
    year = utcnow().year
    bumped = session.execute(
        update(CaseSequence)
        .where(CaseSequence.prefix == prefix, CaseSequence.year == year)
        .values(last_number=CaseSequence.last_number + 1)
        .returning(CaseSequence.last_number)
    ).scalar_one_or_none()
    if bumped is None:
        with session.begin_nested():
            session.add(CaseSequence(prefix=prefix, year=year, last_number=1))
        bumped = 1
    return f"{prefix}-{year}-{bumped:06d}"


def _visible(session: DbSession, actor: Any, case_id: str) -> Case:
    """The case if the actor may see it; otherwise not found (never "forbidden")."""
    case = get_by_id(session, Case, case_id)
    if case is None or not can(actor, "case.view", case):
        record_denial(actor, "case_file", str(case_id))
        raise NotFound("case")
    return case


def _transition_row(session: DbSession, actor: Any, case: Case, to_status: str, reason: str | None) -> None:
    # The step's own time, taken now: left to the column's default, two steps flushed together
    # could be stamped in the same microsecond and read back in either order.
    session.add(
        CaseTransition(
            id=new_id(),
            case_id=case.id,
            from_status=case.status,
            to_status=to_status,
            actor_id=actor.id,
            reason=reason,
            at=utcnow(),
        )
    )
    case.status = to_status


# ---------------------------------------------------------------------------------- create & read
def create_case(session: DbSession, actor: Any, data: CaseInput) -> tuple[Case, list[str]]:
    """Open a case owned by the actor's organisation, with the actor as owner of the case team.

    Returns the case and the codes of other cases in the organisation with the same national
    id or phone (a returning survivor), which the interface shows as a warning.
    """
    if not can(actor, "case.create"):
        raise Forbidden("case.create")
    values = _validate(dict(data.values), creating=True, session=session)
    narrative = values.pop("narrative", None)
    contexts = values.pop("incident_contexts", [])
    case = Case(
        id=new_id(),
        organization_id=actor.organization_id,
        owner_id=actor.id,
        status="intake",
        case_code=_next_case_code(session, values["governorate"]),
        **values,
    )
    case.national_id_index = _index(case.organization_id, "national_id", case.national_id)
    case.phone_index = _index(case.organization_id, "phone", case.phone)
    session.add(case)
    session.add(CaseMember(id=new_id(), case_id=case.id, user_id=actor.id, role="owner"))
    if narrative or case.gbv_type:
        session.add(
            Incident(
                id=new_id(),
                case_id=case.id,
                organization_id=case.organization_id,
                gbv_type=case.gbv_type or "non_gbv",
                contexts=contexts,
                perpetrator_relationship=case.perpetrator_relationship,
                narrative=narrative,
                month=utcnow().strftime("%Y-%m"),
                created_by=actor.id,
            )
        )
    session.add(CaseTransition(id=new_id(), case_id=case.id, from_status=None, to_status="intake", actor_id=actor.id))
    session.flush()
    record("case.create", actor, case, case_code=case.case_code)
    return case, returning_survivor(session, case)


def returning_survivor(session: DbSession, case: Case) -> list[str]:
    """Codes of the organisation's other cases with this national id or phone."""
    conditions = []
    if case.national_id_index:
        conditions.append(Case.national_id_index == case.national_id_index)
    if case.phone_index:
        conditions.append(Case.phone_index == case.phone_index)
    if not conditions:
        return []
    from sqlalchemy import or_

    stmt = (
        select(Case.case_code)
        .where(Case.organization_id == case.organization_id, Case.id != case.id, or_(*conditions))
        .order_by(Case.case_code)
    )
    return list(session.scalars(stmt))


def view_case(session: DbSession, actor: Any, case_id: str) -> Case:
    """Open a case for reading (audited as a view)."""
    case = _visible(session, actor, case_id)
    record("case.view", actor, case, case_code=case.case_code, **audit_mark(session, actor, case))
    return case


def reveal(session: DbSession, actor: Any, case_id: str) -> Case:
    """Show the masked identifiers of a case (audited as a reveal)."""
    case = _visible(session, actor, case_id)
    if not can(actor, "case.reveal", case):
        raise NotFound("case")
    record("case.reveal", actor, case, case_code=case.case_code, **audit_mark(session, actor, case))
    return case


def list_cases(
    session: DbSession,
    actor: Any,
    *,
    status: str | None = None,
    risk_level: str | None = None,
    assigned_to_me: bool = False,
    q: str | None = None,
    identifier: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The cases the actor may see, newest first, filtered.

    `q` comes from a URL, so it may only be a case code: a value that looks like an identifier
    is refused (IdentifierInUrl) before anything is searched, and anything else matches no case.
    `identifier` comes from a request body: a case code, or an exact national id / phone matched
    by blind index (audited as an identifier search)."""
    stmt: Select[Any] = scope_cases(actor, select(Case))
    if status:
        stmt = stmt.where(Case.status == status)
    if risk_level:
        stmt = stmt.where(Case.risk_level == risk_level)
    if assigned_to_me:
        stmt = stmt.where(Case.id.in_(select(CaseMember.case_id).where(CaseMember.user_id == actor.id)))
    if q is not None and q.strip():
        q = q.strip()
        if _looks_like_case_code(q):
            stmt = stmt.where(Case.case_code == q.upper())
        elif looks_like_identifier(q):
            raise IdentifierInUrl()
        else:
            stmt = stmt.where(false())
    if identifier is not None and identifier.strip():
        identifier = identifier.strip()
        if _looks_like_case_code(identifier):
            stmt = stmt.where(Case.case_code == identifier.upper())
        else:
            stmt = stmt.where(_identifier_condition(actor, identifier))
            record("case.search_identifier", actor, None, organization_id=actor.organization_id)
    if cursor:
        opened_at, case_id = decode_cursor(cursor, uuid_text)
        stmt = stmt.where((Case.opened_at < opened_at) | ((Case.opened_at == opened_at) & (Case.id < case_id)))
    stmt = stmt.options(load_only(*LIST_COLUMNS))  # a list decrypts the name only, for its initials
    rows = list(session.scalars(stmt.order_by(Case.opened_at.desc(), Case.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    record(
        "case.list",
        actor,
        None,
        organization_id=actor.organization_id,
        count=len(rows),
        status=status,
        risk_level=risk_level,
        page=bool(cursor),
    )
    return Page(rows, encode_cursor(rows[-1].opened_at, rows[-1].id) if more and rows else None)


_CASE_CODE_TEXT = re.compile(r"[A-Za-z]+-[0-9]+-[0-9]+")


def _looks_like_case_code(q: str) -> bool:
    """Letters, a year and a number (NBL-2026-000042), in any letter case."""
    return _CASE_CODE_TEXT.fullmatch(q) is not None


# What a well-formed intake can still be refused for (422 in the API): a birth date after today.
CASE_RULES = frozenset({"not_in_the_past", NATIONAL_ID_CHECK_DIGIT})

# Digits enough to be (part of) a national id or a phone number: such a value never travels in a URL.
IDENTIFIER_DIGITS = 6


def looks_like_identifier(value: str) -> bool:
    """True when `value` (not a case code) holds enough digits, in any script (Unicode decimal
    digits, as a regular expression's \\d), to be an identifier."""
    return sum(1 for ch in value if unicodedata.decimal(ch, None) is not None) >= IDENTIFIER_DIGITS


def _identifier_condition(actor: Any, q: str) -> Any:
    """Exact match by blind index; a value that normalises to nothing (no digits) matches no case,
    never the cases whose identifier is empty."""
    key = runtime().keyring.index_key(actor.organization_id)
    by_id = blind_index(key, "national_id", _normal_identifier("national_id", q), "national_id")
    by_phone = blind_index(key, "phone", _normal_identifier("phone", q), "phone")
    conditions = []
    if by_id is not None:
        conditions.append(Case.national_id_index == by_id)
    if by_phone is not None:
        conditions.append(Case.phone_index == by_phone)
    return or_(*conditions) if conditions else false()


def masked_name(case: Case) -> Any:
    """Initials only: what lists and masked views show instead of a name (or, for a name that
    failed its integrity check, its marker: a page marks it, an API answer refuses it)."""
    if isinstance(case.full_name, Unreadable):
        return case.full_name
    words = [w for w in (case.full_name or "").split() if w.casefold() not in _ARTICLES]
    return " ".join(_initial(w) + "." for w in words[:3]) if words else "—"


# The article and the prefixes that carry it (بال، وال، لل), and "Al-"/"El-" in Latin letters: a
# family name's initial is the letter after them (الخطيب: خ, Al-Khatib: K). A prefix is skipped
# only when at least two letters follow it ("والي" keeps its و).
_ARTICLE_PREFIXES = ("بال", "وال", "ال", "لل")
_LATIN_ARTICLE = re.compile(r"^(?:al|el)[-\u2010\u2011'’]", re.IGNORECASE)
_ARTICLES = frozenset({"ال", "al", "el", "al-", "el-"})  # the article written apart: "Al Khatib"


def _initial(word: str) -> str:
    for prefix in _ARTICLE_PREFIXES:
        if word.startswith(prefix) and len(word) > len(prefix) + 1:
            return word[len(prefix)]
    latin = _LATIN_ARTICLE.match(word)
    if latin is not None and len(word) > latin.end():
        return word[latin.end()]
    return word[0]


# ---------------------------------------------------------------------------------- change
def update_case(session: DbSession, actor: Any, case_id: str, data: CaseInput) -> Case:
    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    if case.status in ("closed", "transferred"):
        raise InvalidTransition("case_closed")
    incident_fields = {"narrative", "incident_contexts"} & set(data.values)
    if incident_fields:  # never silently dropped: incidents are recorded on their own
        raise InvalidInput("invalid_case", fields=dict.fromkeys(sorted(incident_fields), "record_as_incident"))
    values = _validate(dict(data.values), creating=False, session=session)
    changed = sorted(k for k, v in values.items() if getattr(case, k) != v and not _keeps_unreadable(case, k, v))
    for name in changed:
        setattr(case, name, values[name])
    if "national_id" in changed:
        case.national_id_index = _index(case.organization_id, "national_id", case.national_id)
    if "phone" in changed:
        case.phone_index = _index(case.organization_id, "phone", case.phone)
    if changed:
        record("case.update", actor, case, case_code=case.case_code, fields=",".join(changed))
    return case


def _keeps_unreadable(case: Case, name: str, value: Any) -> bool:
    """A value that failed its integrity check stays as stored when the edit leaves its field
    empty (the form could not show it); a value typed into the field replaces it."""
    empty = not value or (isinstance(value, dict) and not any(value.values()))
    return empty and isinstance(getattr(case, name), Unreadable)


def add_note(session: DbSession, actor: Any, case_id: str, body: str) -> CaseNote:
    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    body = (body or "").strip()
    if not body or len(body) > 20000:
        raise InvalidInput("invalid_note", fields={"body": "required"})
    note = CaseNote(id=new_id(), case_id=case.id, organization_id=case.organization_id, author_id=actor.id, body=body)
    session.add(note)
    session.flush()
    record("case.note", actor, case, case_code=case.case_code, note_id=note.id)
    return note


def notes(session: DbSession, case: Case) -> list[CaseNote]:
    return list(session.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.created_at)))


def transitions(session: DbSession, case: Case) -> list[CaseTransition]:
    return list(
        session.scalars(select(CaseTransition).where(CaseTransition.case_id == case.id).order_by(CaseTransition.at))
    )


def record_incident(
    session: DbSession,
    actor: Any,
    case_id: str,
    answers: dict[str, bool],
    contexts: list[str],
    perpetrator_relationship: str | None,
    narrative: str | None,
) -> Incident:
    """An incident classified by the guided questions (one core type, by precedence)."""
    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    clean = _validate(
        {"incident_contexts": contexts, "perpetrator_relationship": perpetrator_relationship, "narrative": narrative},
        creating=False,
        session=session,
    )
    incident = Incident(
        id=new_id(),
        case_id=case.id,
        organization_id=case.organization_id,
        gbv_type=classify(answers),
        contexts=clean["incident_contexts"],
        perpetrator_relationship=clean["perpetrator_relationship"],
        narrative=clean["narrative"],
        month=utcnow().strftime("%Y-%m"),
        created_by=actor.id,
    )
    session.add(incident)
    case.gbv_type = case.gbv_type or incident.gbv_type
    case.perpetrator_relationship = case.perpetrator_relationship or incident.perpetrator_relationship
    session.flush()
    record("case.incident", actor, case, case_code=case.case_code, gbv_type=incident.gbv_type)
    return incident


# ---------------------------------------------------------------------------------- steps
def record_step_content(session: DbSession, actor: Any, case_id: str, part: str, content: Any) -> Case:
    """Write the content one step needs: consent for services, assessment, action plan,
    safety plan or closure checklist. Validated here; the step change checks completeness."""
    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    if case.status in ("closed", "transferred"):
        raise InvalidTransition("case_closed")
    if part == "consent_for_services":
        if not isinstance(content, dict) or content.get("method") not in ("written", "verbal"):
            raise InvalidInput("invalid_consent", fields={"method": "required"})
        case.consent_for_services = {
            "given": bool(content.get("given")),
            "method": content["method"],
            "limits_explained": bool(content.get("limits_explained")),
            "recorded_by": actor.id,
            "recorded_at": utcnow().isoformat(),
        }
    elif part == "assessment":
        needs = content.get("needs") if isinstance(content, dict) else None
        risk = content.get("risk_level") if isinstance(content, dict) else None
        if not needs or not isinstance(needs, list) or risk not in RISK_LEVELS:
            raise InvalidInput("invalid_assessment", fields={"needs": "required", "risk_level": "required"})
        case.assessment = {
            "needs": [str(n)[:500] for n in needs][:50],
            "immediate_danger": bool(content.get("immediate_danger")),
            "notes": str(content.get("notes") or "")[:5000],
        }
        case.risk_level = risk
        case.assessed_at = case.assessed_at or utcnow()
    elif part == "action_plan":
        actions = content.get("actions") if isinstance(content, dict) else None
        if not actions or not isinstance(actions, list):
            raise InvalidInput("invalid_plan", fields={"actions": "required"})
        case.action_plan = {"actions": [str(a)[:500] for a in actions][:50]}
        case.plan_submitted_by, case.plan_approved_by, case.plan_approved_at = actor.id, None, None
    elif part == "safety_plan":
        if not isinstance(content, str) or not content.strip():
            raise InvalidInput("invalid_safety_plan", fields={"safety_plan": "required"})
        case.safety_plan = content.strip()[:20000]
        case.safety_plan_at = case.safety_plan_at or utcnow()
    elif part == "closure":
        reason = content.get("reason") if isinstance(content, dict) else None
        if reason not in CLOSURE_REASONS or not content.get("survivor_told_can_return"):
            raise InvalidInput("invalid_closure", fields={"reason": "required", "survivor_told_can_return": "required"})
        case.closure = {
            "reason": reason,
            "survivor_told_can_return": True,
            "notes": str(content.get("notes") or "")[:5000],
        }
        case.closure_requested_by, case.closure_approved_by = actor.id, None
    else:
        raise InvalidInput("unknown_part", fields={"part": "unknown"})
    record("case.update", actor, case, case_code=case.case_code, fields=part)
    return case


def approve(session: DbSession, actor: Any, case_id: str, what: str) -> Case:
    """A supervisor approves an action plan or a closure; never the person who wrote it."""
    case = _visible(session, actor, case_id)
    if not can(actor, "case.approve", case):
        raise NotFound("case")
    if what == "action_plan":
        if case.status != "action_plan" or not case.action_plan or not case.plan_submitted_by:
            raise InvalidTransition("nothing_to_approve")  # none yet, or returned and not saved again
        if case.plan_submitted_by == actor.id:
            raise Forbidden("author_cannot_approve")
        case.plan_approved_by, case.plan_approved_at = actor.id, utcnow()
    elif what == "closure":
        if case.status != "closure_pending":
            raise InvalidTransition("nothing_to_approve")
        if case.closure_requested_by == actor.id:
            raise Forbidden("author_cannot_approve")
        case.closure_approved_by = actor.id
    else:
        raise InvalidInput("unknown_approval", fields={"what": "unknown"})
    record("case.approve", actor, case, case_code=case.case_code, what=what)
    if what == "closure":
        _transition_row(session, actor, case, "closed", "approved")
        case.closed_at = utcnow()
        record("case.transition", actor, case, case_code=case.case_code, to_status="closed")
    return case


RETURN_COMMENT_MAX = 2000


def return_for_changes(session: DbSession, actor: Any, case_id: str, what: str, comment: str | None) -> Any:
    """A supervisor returns an action plan or a closure to the case team with a comment, instead
    of approving it (never what she recorded herself). A returned plan waits to be saved again
    before anyone can approve it; a returned closure takes the case back to the step it came
    from. The comment is kept encrypted; the author is told "action plan returned"."""
    from ..followups import notifications
    from .models import RETURNABLE, ApprovalReturn

    case = _visible(session, actor, case_id)
    if not can(actor, "case.approve", case):
        raise NotFound("case")
    if what not in RETURNABLE:
        raise InvalidInput("unknown_approval", fields={"what": "unknown"})
    if what == "action_plan":
        waiting = case.status == "action_plan" and case.action_plan and not case.plan_approved_by
        author = case.plan_submitted_by
    else:
        waiting, author = case.status == "closure_pending", case.closure_requested_by
    if not waiting or author is None:
        raise InvalidTransition("nothing_to_approve")
    if author == actor.id:
        raise Forbidden("author_cannot_approve")
    text = (comment or "").strip()
    if not text:
        raise InvalidInput("invalid_return", fields={"comment": "required"})
    if len(text) > RETURN_COMMENT_MAX:
        raise InvalidInput("invalid_return", fields={"comment": "invalid"})
    problem = text_problem(text, identifying=False)
    if problem:
        raise InvalidInput("invalid_return", fields={"comment": problem})
    returned = ApprovalReturn(
        id=new_id(),
        case_id=case.id,
        organization_id=case.organization_id,
        what=what,
        returned_by=actor.id,
        comment=text,
    )
    session.add(returned)
    if what == "action_plan":
        case.plan_submitted_by = None  # saving the plan again submits it again
    else:
        came_from = session.scalar(
            select(CaseTransition.from_status)
            .where(CaseTransition.case_id == case.id, CaseTransition.to_status == "closure_pending")
            .order_by(CaseTransition.at.desc())
            .limit(1)
        )
        back = came_from if came_from in ("implementation", "follow_up") else "follow_up"
        _transition_row(session, actor, case, back, "returned")
        record("case.transition", actor, case, case_code=case.case_code, to_status=back)
    session.flush()
    record("case.return", actor, case, case_code=case.case_code, what=what, return_id=returned.id)
    kind = "case.plan_returned" if what == "action_plan" else "case.closure_returned"
    message = notifications.Message(kind, case.case_code, "case", case.id, key=f"case_return:{returned.id}")
    notifications.notify([author], message, session)
    return returned


def returns(session: DbSession, case: Case) -> list[Any]:
    """The action plans and closures returned on this case, newest first."""
    from .models import ApprovalReturn

    stmt = select(ApprovalReturn).where(ApprovalReturn.case_id == case.id)
    return list(session.scalars(stmt.order_by(ApprovalReturn.returned_at.desc(), ApprovalReturn.id.desc())))


def _require(case: Case, rule: str) -> None:
    problems: dict[str, str] = {}
    if rule == "consent_for_services":
        consent = case.consent_for_services or {}
        if not consent.get("given") or not consent.get("limits_explained"):
            problems["consent_for_services"] = "required"
    elif rule == "assessment_done":
        if not case.assessment or not case.risk_level:
            problems["assessment"] = "required"
    elif rule == "plan_approved":
        if not case.action_plan or not case.plan_approved_by:
            problems["action_plan"] = "approval_required"
        if case.risk_level == "high" and not case.safety_plan:
            problems["safety_plan"] = "required_for_high_risk"
    elif rule == "closure_checklist":
        if not case.closure:
            problems["closure"] = "required"
    elif rule == "closure_approved":
        problems["closure"] = "approval_required"  # closing happens through approve()
    if problems:
        raise StepRequirement("step_requirement", fields=problems)


def move(session: DbSession, actor: Any, case_id: str, to_status: str, reason: str | None = None) -> Case:
    """Move a case to its next step, if the step's requirements hold."""
    case = _visible(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    rule = TRANSITIONS.get((case.status, to_status))
    if rule is None:
        raise InvalidTransition("invalid_transition")
    _require(case, rule)
    if to_status == "reopened":
        case.closed_at = None
        case.closure, case.closure_requested_by, case.closure_approved_by = None, None, None
    _transition_row(session, actor, case, to_status, (reason or None) and reason[:32])
    record("case.transition", actor, case, case_code=case.case_code, to_status=to_status)
    return case


def approval_queue(session: DbSession, actor: Any, *, audited: bool = False) -> list[Case]:
    """Cases of the supervisor's organisation waiting for her approval (not her own requests).
    `audited`: the list is shown (its reading is recorded), not only counted."""
    if not can(actor, "case.approve_any"):
        return []
    stmt = scope_cases(actor, select(Case)).where(
        (
            (Case.status == "action_plan")
            & Case.action_plan.is_not(None)
            & Case.plan_approved_by.is_(None)
            & (Case.plan_submitted_by != actor.id)
        )
        | ((Case.status == "closure_pending") & (Case.closure_requested_by != actor.id))
    )
    rows = list(session.scalars(stmt.order_by(Case.updated_at)))
    if audited:
        record("case.list", actor, None, organization_id=actor.organization_id, count=len(rows), queue="approvals")
    return rows


def count_cases(session: DbSession, actor: Any) -> int:
    return int(session.scalar(scope_cases(actor, select(func.count(Case.id)))) or 0)


# ---------------------------------------------------------------------------------- team
def add_member(session: DbSession, actor: Any, case_id: str, user_id: str) -> CaseMember:
    from ..accounts.models import User

    case = _visible(session, actor, case_id)
    if not can(actor, "case.assign", case):
        raise NotFound("case")
    user = get_by_id(session, User, user_id)
    if user is None or not can(user, "case.member", case):
        raise InvalidInput("invalid_member", fields={"user_id": "invalid"})
    exists = session.scalar(select(CaseMember).where(CaseMember.case_id == case.id, CaseMember.user_id == user.id))
    if exists is not None:
        return exists
    member = CaseMember(id=new_id(), case_id=case.id, user_id=user.id, role="member")
    session.add(member)
    record("case.assign", actor, case, case_code=case.case_code, user_id=user.id)
    return member
