"""The receiving organisation's work on a referral, beyond its states: the service log (dated
progress entries, read by both sides), the record of each (re)assignment, and opening a case
file of its own from the referral, which it then owns and keeps like any case.

Services flush and never commit; every change is audited in the same transaction, and the
sending side is told after commit (the case code only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..access.policy import can
from ..audit.services import record
from ..cases.models import Case, CaseMember, CaseTransition, Incident
from ..cases.services import _index as blind_index_of
from ..cases.services import _next_case_code
from ..errors import Conflict, Forbidden, refusal
from ..followups import notifications
from ..models_base import DbSession, new_id, utcnow
from ..text import text_problem
from . import services
from .models import Referral, ReferralAssignment, ReferralLogEntry
from .transfers import history_only

# While the service is being given: the log is written, and an own case file opened, only here.
SERVICE_STATES = ("accepted", "in_progress")
TEXT_LIMIT, NEXT_STEP_LIMIT = 5000, 2000


class NotInService(Conflict):
    """The referral is not (or no longer) accepted or in progress."""

    code = "referral_not_in_service"


class CaseAlreadyOpened(Conflict):
    code = "case_already_opened"


def _as_receiver(actor: Any, referral: Referral) -> None:
    """Only the receiving organisation's people who may act on it (a referral outside the
    network has nobody on Shabaka receiving it)."""
    if (
        referral.to_organization_id is None
        or actor.organization_id != referral.to_organization_id
        or not can(actor, "referral.act_as_receiver", referral)
    ):
        raise Forbidden("only_the_receiver")


# ------------------------------------------------------------------------------ the service log
def _clean(value: str | None, name: str, limit: int, fields: dict[str, str], *, required: bool) -> str | None:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        fields[name] = "invalid"
    elif not text:
        if required:
            fields[name] = "required"
    elif len(text) > limit:
        fields[name] = "log_too_long"
    elif problem := text_problem(text, identifying=False):
        fields[name] = problem
    else:
        return text
    return None


def add_log_entry(
    session: DbSession, actor: Any, referral_id: str, text: str | None, next_step: str | None = None
) -> ReferralLogEntry:
    """Record what the receiving side did (and, optionally, what comes next) on an accepted or
    in-progress referral; the sending user is told a progress entry was made."""
    referral = services.visible(session, actor, referral_id)
    _as_receiver(actor, referral)
    fields: dict[str, str] = {}
    clean_text = _clean(text, "text", TEXT_LIMIT, fields, required=True)
    clean_next = _clean(next_step, "next_step", NEXT_STEP_LIMIT, fields, required=False)
    if fields:
        raise refusal("invalid_log_entry", fields, frozenset())
    if referral.state not in SERVICE_STATES:
        raise NotInService("referral_not_in_service")
    entry = ReferralLogEntry(
        id=new_id(),
        referral_id=referral.id,
        organization_id=actor.organization_id,
        author_id=actor.id,
        text=clean_text,
        next_step=clean_next,
    )
    session.add(entry)
    session.flush()
    session.expire(referral, ["log"])  # read again with the new entry
    record("referral.log", actor, referral, case_code=referral.case_code, entry_id=entry.id)
    message = notifications.Message(
        "referral.progress", referral.case_code, "referral", referral.id, key=f"referral:{referral.id}:log:{entry.id}"
    )
    notifications.notify([referral.created_by], message, session)
    return entry


def log_for(actor: Any, referral: Referral) -> list[ReferralLogEntry]:
    """The entries the actor reads: both sides, except a sender whose case has since moved to
    another organisation (she keeps the record of the referral, not the work on it)."""
    if actor.organization_id == referral.from_organization_id and history_only(referral):
        return []
    if actor.organization_id not in (referral.from_organization_id, referral.to_organization_id):
        return []
    return list(referral.log)


# ------------------------------------------------------------------------------ assignments
def record_assignment(session: DbSession, actor: Any, referral: Referral, user_id: str) -> None:
    """One timeline row per (re)assignment (ids and a time)."""
    session.add(
        ReferralAssignment(
            id=new_id(),
            referral_id=referral.id,
            organization_id=actor.organization_id,
            user_id=user_id,
            assigned_by=actor.id,
        )
    )


@dataclass(frozen=True)
class TimelineRow:
    at: Any
    kind: str  # "state" or "assigned"
    state: str | None
    actor_id: str
    user_id: str | None  # the assignee: None for the sending side (another organisation's staff)
    reason: str | None
    note: str | None


def timeline(actor: Any, referral: Referral) -> list[TimelineRow]:
    """The referral's states and (re)assignments, oldest first. The receiving side sees whom it
    was assigned to; the sending side that it was assigned, not to whom."""
    receiver = actor.organization_id == referral.to_organization_id
    rows = [TimelineRow(t.at, "state", t.to_state, t.actor_id, None, t.reason, t.note) for t in referral.transitions]
    rows += [
        TimelineRow(a.at, "assigned", None, a.assigned_by, a.user_id if receiver else None, None, None)
        for a in referral.assignments
    ]
    return sorted(rows, key=lambda row: row.at)


# ------------------------------------------------------------------------------ our own case file
def _copied_values(source: Case, groups: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "identity" in groups:
        values.update(full_name=source.full_name, national_id=source.national_id, date_of_birth=source.date_of_birth)
    if "contact" in groups:
        values.update(phone=source.phone, address=source.address, safe_contact=source.safe_contact)
    if "incident" in groups:
        values.update(gbv_type=source.gbv_type, perpetrator_relationship=source.perpetrator_relationship)
    if "assessment" in groups:
        values.update(risk_level=source.risk_level, assessment=source.assessment, safety_plan=source.safety_plan)
    return values


def open_own_case(session: DbSession, actor: Any, referral_id: str) -> Case:
    """Open the receiving organisation's own case file from an accepted or in-progress referral:
    the field groups the referral shares now (within the consent) are copied; the new case has
    its own code in its governorate's sequence, is owned by the actor and encrypted under her
    organisation's key, and stays with it after the referral ends. Once per referral."""
    referral = services.visible(session, actor, referral_id)
    _as_receiver(actor, referral)
    if not can(actor, "case.create"):
        raise Forbidden("case.create")
    if referral.state not in SERVICE_STATES:
        raise NotInService("referral_not_in_service")
    if referral.receiver_case_id is not None:
        raise CaseAlreadyOpened("case_already_opened")
    source = referral.case
    groups = services.shared_groups(session, actor, referral)
    now = utcnow()
    values = _copied_values(source, groups)
    case = Case(
        id=new_id(),
        organization_id=actor.organization_id,
        owner_id=actor.id,
        status="intake",
        case_code=_next_case_code(session, source.governorate),
        governorate=source.governorate,
        assessed_at=now if values.get("assessment") else None,
        safety_plan_at=now if values.get("safety_plan") else None,
        **values,
    )
    case.national_id_index = blind_index_of(case.organization_id, "national_id", case.national_id)
    case.phone_index = blind_index_of(case.organization_id, "phone", case.phone)
    session.add(case)
    session.add(CaseMember(id=new_id(), case_id=case.id, user_id=actor.id, role="owner"))
    if "incident" in groups:
        for incident in source.incidents:
            session.add(
                Incident(
                    id=new_id(),
                    case_id=case.id,
                    organization_id=case.organization_id,
                    gbv_type=incident.gbv_type,
                    contexts=list(incident.contexts or []),
                    perpetrator_relationship=incident.perpetrator_relationship,
                    narrative=incident.narrative,
                    month=incident.month,
                    created_by=actor.id,
                )
            )
    session.add(CaseTransition(id=new_id(), case_id=case.id, from_status=None, to_status="intake", actor_id=actor.id))
    referral.receiver_case_id = case.id
    session.flush()
    record(
        "case.create",
        actor,
        case,
        case_code=case.case_code,
        via_referral=referral.id,
        shared=",".join(sorted(groups)) or None,
    )
    # and on the referral's side: the sender's case it came from, and which own case it became
    record("referral.open_case", actor, referral, case_code=referral.case_code, receiver_case_id=case.id)
    return case


def own_case_code(session: DbSession, actor: Any, referral: Referral) -> tuple[str, str] | None:
    """The receiving side's own case opened from this referral (id, code), for its own people."""
    if referral.receiver_case_id is None or actor.organization_id != referral.to_organization_id:
        return None
    row = session.execute(
        select(Case.id, Case.case_code).where(
            Case.id == referral.receiver_case_id, Case.organization_id == actor.organization_id
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


# ------------------------------------------------------------------------------ the sender's case page
@dataclass(frozen=True)
class CaseReferral:
    referral: Referral
    log: list[ReferralLogEntry]


def of_case(session: DbSession, actor: Any, case: Case) -> list[CaseReferral]:
    """The referrals the case's organisation made of this case, newest first, each with its
    service log, as far as the actor may see them (the case page of the sending side)."""
    if actor.organization_id != case.organization_id:
        return []
    rows = session.scalars(
        select(Referral)
        .where(Referral.case_id == case.id, Referral.from_organization_id == case.organization_id)
        .order_by(Referral.created_at.desc(), Referral.id.desc())
        .options(selectinload(Referral.log))  # every referral's log in one more statement, not one each
    )
    return [CaseReferral(r, log_for(actor, r)) for r in rows if can(actor, "referral.view", r)]


def origin_of(session: DbSession, actor: Any, case: Case) -> Referral | None:
    """The referral a case of the actor's organisation was opened from, if she may see it."""
    if actor.organization_id != case.organization_id:
        return None
    referral = session.scalar(
        select(Referral).where(
            Referral.receiver_case_id == case.id, Referral.to_organization_id == case.organization_id
        )
    )
    return referral if referral is not None and can(actor, "referral.view", referral) else None
