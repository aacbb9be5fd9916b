"""The rules of case conferences (issue 13, "Case conferences"): who convenes one, who takes part,
what each participant sees, and how its actions become follow-ups.

- Convening: the owning organisation's supervisor, for cases of her organisation that are at
  high risk, had a repeat incident within twelve months, or on professional judgement with the
  reason recorded (encrypted). She convenes it herself, or asks the network's coordinator to (a
  conference in the state `requested`, which the coordinator convenes by giving it a time and a
  place). The chair is always the network's coordinator.
- Taking part: the owning organisation (the case team of each case, and its supervisors), the
  organisations with an open referral (sent, accepted, in progress) on a case of the agenda, for
  that case only, and the chair. Anyone else, other coordinators and organisations' admins
  included, is told that the conference does not exist (404, the denial recorded).
- Seeing: the chair sees the case codes, the times and the number of actions, never content; a
  referral's organisation sees the case code, the field groups its referral already shares (the
  risk summary only if it shares the assessment), its own organisation's actions, and the minutes
  while the conference is not closed; the owning organisation sees all of it.
- Actions: each one is a follow-up, of the owning organisation on the case, or of the acting
  organisation on its referral, so it runs through the reminder engine like any other.

Every read and change is audited, one event per case concerned. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from ..access.policy import can, scope_cases
from ..accounts.models import User
from ..audit.services import record, record_denial
from ..cases.models import Case
from ..errors import Conflict, InvalidInput, NotFound, refusal
from ..followups import clocks, notifications
from ..followups import services as followups
from ..followups.models import KINDS, FollowUp
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..referrals.models import OPEN_STATES as OPEN_REFERRAL_STATES
from ..referrals.models import Referral
from ..referrals.services import shared_groups
from .models import GROUNDS, MINUTES_PER_CASE, CaseConference, ConferenceAction, ConferenceItem

REPEAT_WINDOW = timedelta(days=365)  # "a repeat incident within 12 months"
TEXT_LIMIT = 5000
MINUTES_LIMIT = 20000
PLACE_LIMIT = 500
FURTHEST_AHEAD = timedelta(days=366)
CLOSED_CASE_STATUSES = ("closed", "transferred")
LIST_LIMIT = 200
# Problems of well-formed input that a rule refuses (422 in an API; a form names the field).
RULES = frozenset(
    {
        "unknown_case",
        "case_closed",
        "not_high_risk",
        "no_repeat_incident",
        "already_on_agenda",
        "no_coordinator",
        "no_network",
        "in_past",
        "too_far_ahead",
        "due_in_past",
        "invalid_assignee",
    }
)


class InvalidTransition(Conflict):
    code = "invalid_transition"


# ---------------------------------------------------------------------------------- input
@dataclass
class AgendaInput:
    """A case for the agenda: its code, why it is there (with the reason on judgement), its time."""

    case_code: str | None
    grounds: str | None
    reason: str | None = None
    minutes_allotted: int | None = 15


@dataclass
class ConveneInput(AgendaInput):
    """A new conference: its first case, and when and where; or a request to the coordinator."""

    starts_at: datetime | None = None
    place: str | None = None
    ask_coordinator: bool = False


@dataclass
class ActionInput:
    assignee_id: str | None
    kind: str | None
    due_at: datetime | None
    description: str | None


# ---------------------------------------------------------------------------------- who is who
@dataclass(frozen=True)
class Seat:
    """The actor's place at a conference: `owner` (the owning organisation), `participant` (an
    organisation with an open referral on a case of the agenda) or `chair`; the agenda items she
    may see; for a participant, her organisation's open referral on each item's case and the
    field groups it shares."""

    role: str
    items: tuple[ConferenceItem, ...]
    referrals: dict[str, Referral] = field(default_factory=dict)
    shared: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def item_ids(self) -> set[str]:
        return {i.id for i in self.items}


CASE_ROLES = ("caseworker", "supervisor")


def _open_referrals_to(session: DbSession, organization_id: str, case_ids: list[str]) -> list[Referral]:
    if not case_ids:
        return []
    stmt = (
        select(Referral)
        .where(
            Referral.case_id.in_(case_ids),
            Referral.to_organization_id == organization_id,
            Referral.state.in_(OPEN_REFERRAL_STATES),
        )
        .order_by(Referral.sent_at, Referral.id)
    )
    return list(session.scalars(stmt))


def seat(session: DbSession, actor: Any, conference: CaseConference) -> Seat | None:
    """The actor's seat at the conference, or None: then she may not know it exists."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not getattr(actor, "active", False):
        return None
    if actor.role == "coordinator":
        return Seat("chair", tuple(conference.items)) if actor.id == conference.chair_id else None
    if actor.role not in CASE_ROLES:
        return None
    if actor.organization_id == conference.organization_id:
        mine = tuple(i for i in conference.items if can(actor, "case.view", session.get(Case, i.case_id)))
        return Seat("owner", mine) if mine else None
    by_case: dict[str, Referral] = {}
    for referral in _open_referrals_to(session, actor.organization_id, [i.case_id for i in conference.items]):
        if can(actor, "referral.view", referral):
            by_case.setdefault(referral.case_id, referral)
    items = tuple(i for i in conference.items if i.case_id in by_case)
    if not items:
        return None
    referrals = {i.id: by_case[i.case_id] for i in items}
    shared = {i.id: frozenset(shared_groups(session, actor, referrals[i.id])) for i in items}
    return Seat("participant", items, referrals, shared)


def visible(session: DbSession, actor: Any, conference_id: str) -> tuple[CaseConference, Seat]:
    """The conference and the actor's seat at it; not found (the denial recorded) for anyone else."""
    conference = get_by_id(session, CaseConference, conference_id)
    found = seat(session, actor, conference) if conference is not None else None
    if conference is None or found is None:
        record_denial(actor, "case_conference", str(conference_id))
        raise NotFound("conference")
    return conference, found


def _item(session: DbSession, actor: Any, found: Seat, item_id: str) -> ConferenceItem:
    item = next((i for i in found.items if i.id == item_id), None)
    if item is None:
        record_denial(actor, "conference_item", str(item_id))
        raise NotFound("conference_item")
    return item


def visible_item(session: DbSession, actor: Any, conference_id: str, item_id: str) -> ConferenceItem:
    """An agenda item of a conference, if the actor may see both; not found otherwise."""
    _conference, found = visible(session, actor, conference_id)
    return _item(session, actor, found, item_id)


def _record_each(action: str, actor: Any, conference: CaseConference, items: Any, **ids: Any) -> None:
    """One event per case concerned (an event names one case code)."""
    for item in items:
        record(action, actor, conference, case_code=item.case_code, item_id=item.id, **ids)


def view(session: DbSession, actor: Any, conference_id: str) -> tuple[CaseConference, Seat]:
    """Open a conference's page (audited, once per case she sees, with her seat)."""
    conference, found = visible(session, actor, conference_id)
    for item in found.items:
        groups = found.shared.get(item.id)
        record(
            "conference.view",
            actor,
            conference,
            case_code=item.case_code,
            item_id=item.id,
            seat=found.role,
            shared=",".join(sorted(groups)) if groups else None,
        )
    return conference, found


# ---------------------------------------------------------------------------------- reading
def minutes_readable(conference: CaseConference, found: Seat) -> bool:
    """The minutes are the owning organisation's record: its case team and supervisors read them
    always; the referrals' organisations while the conference is not closed; the chair never
    (they are case content)."""
    if found.role == "owner":
        return True
    return found.role == "participant" and conference.state != "closed"


def summary_readable(found: Seat, item: ConferenceItem) -> bool:
    """The risk summary: the owning organisation; a participant whose referral shares the assessment."""
    if found.role == "owner":
        return True
    return found.role == "participant" and "assessment" in found.shared.get(item.id, frozenset())


def actions_of(session: DbSession, conference: CaseConference, found: Seat) -> dict[str, list[FollowUp]]:
    """item id -> the follow-ups its actions became, that the seat may see: the owning
    organisation all of them, a participant its own organisation's; the chair none (she is
    given their number, `action_counts`)."""
    if found.role == "chair":
        return {}
    stmt = (
        select(ConferenceAction.item_id, FollowUp)
        .join(FollowUp, FollowUp.id == ConferenceAction.followup_id)
        .where(ConferenceAction.conference_id == conference.id, ConferenceAction.item_id.in_(found.item_ids))
        .order_by(FollowUp.due_at, FollowUp.id)
    )
    result: dict[str, list[FollowUp]] = {}
    own_org = found.role != "owner"
    for item_id, followup in session.execute(stmt):
        if own_org and followup.organization_id != found.referrals[item_id].to_organization_id:
            continue
        result.setdefault(item_id, []).append(followup)
    return result


def action_counts(session: DbSession, conference: CaseConference) -> dict[str, int]:
    stmt = (
        select(ConferenceAction.item_id, func.count())
        .where(ConferenceAction.conference_id == conference.id)
        .group_by(ConferenceAction.item_id)
    )
    return {item_id: int(n) for item_id, n in session.execute(stmt)}


def assignees(session: DbSession, actor: Any, found: Seat, item: ConferenceItem) -> list[tuple[str, str, str]]:
    """(user id, username, organisation id) of whom an action on this case may be given to: the
    owning organisation's case team and supervisors (by the owner), and the staff who may see an
    open referral on the case (its receiving supervisors and the caseworker it is assigned to)."""
    case: Case = session.get(Case, item.case_id)  # type: ignore[assignment]  # the item's foreign key
    found_users: list[tuple[str, str, str]] = []
    if found.role == "owner":
        found_users += [(uid, name, case.organization_id) for uid, name in followups.assignable(session, case)]
        referrals = _open_referrals_of_case(session, case)
    elif found.role == "participant":
        referrals = [found.referrals[item.id]]
    else:
        return []
    for referral in referrals:
        for user in _referral_staff(session, referral):
            found_users.append((user.id, user.username, referral.to_organization_id or ""))
    seen: set[str] = set()
    return [u for u in found_users if not (u[0] in seen or seen.add(u[0]))]  # type: ignore[func-returns-value]


def _open_referrals_of_case(session: DbSession, case: Case) -> list[Referral]:
    stmt = (
        select(Referral)
        .where(
            Referral.case_id == case.id,
            Referral.to_organization_id.is_not(None),
            Referral.state.in_(OPEN_REFERRAL_STATES),
        )
        .order_by(Referral.sent_at, Referral.id)
    )
    return list(session.scalars(stmt))


def _referral_staff(session: DbSession, referral: Referral) -> list[User]:
    stmt = select(User).where(
        User.organization_id == referral.to_organization_id,
        User.active.is_(True),
        User.role.in_(CASE_ROLES),
    )
    return [u for u in session.scalars(stmt.order_by(User.username)) if can(u, "referral.view", referral)]


# ---------------------------------------------------------------------------------- eligibility
def repeat_incident_recent(case: Case, now: datetime | None = None) -> bool:
    """A repeat incident was flagged within the last twelve months."""
    at = case.repeat_incident_at
    return at is not None and at >= (now or utcnow()) - REPEAT_WINDOW


def eligible_grounds(case: Case, now: datetime | None = None) -> list[str]:
    """On which grounds this case may go to a conference (judgement always, with a reason)."""
    grounds = []
    if case.risk_level == "high":
        grounds.append("high_risk")
    if repeat_incident_recent(case, now):
        grounds.append("repeat_incident")
    return [*grounds, "judgement"]


def _clean_text(value: Any, limit: int, *, required: bool = False) -> tuple[str | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ("required" if required else None)
    if not isinstance(value, str):
        return None, "invalid"
    value = value.strip()
    if len(value) > limit:
        return None, "too_long_text"
    return value, None


def _agenda_case(session: DbSession, actor: Any, data: AgendaInput, fields: dict[str, str]) -> dict[str, Any]:
    """Check a case for the agenda: a case of the actor's organisation she may see, open, on
    grounds that hold. A case code of another organisation is as unknown as a made-up one."""
    clean: dict[str, Any] = {}
    code = (data.case_code or "").strip().upper()
    case = None
    if not code:
        fields["case_code"] = "required"
    elif len(code) > 20:
        fields["case_code"] = "unknown_case"
    else:
        case = session.scalar(scope_cases(actor, select(Case)).where(Case.case_code == code))
        if case is None or case.organization_id != actor.organization_id:
            fields["case_code"] = "unknown_case"
            case = None
        elif case.status in CLOSED_CASE_STATUSES or case.purged_at is not None:
            fields["case_code"] = "case_closed"
    clean["case"] = case
    if data.grounds not in GROUNDS:
        fields["grounds"] = "required" if not data.grounds else "invalid"
    elif case is not None and data.grounds == "high_risk" and case.risk_level != "high":
        fields["grounds"] = "not_high_risk"
    elif case is not None and data.grounds == "repeat_incident" and not repeat_incident_recent(case):
        fields["grounds"] = "no_repeat_incident"
    clean["grounds"] = data.grounds
    reason, problem = _clean_text(data.reason, TEXT_LIMIT, required=data.grounds == "judgement")
    if problem:
        fields["reason"] = problem
    clean["reason"] = reason if data.grounds == "judgement" else None
    if data.minutes_allotted not in MINUTES_PER_CASE:
        fields["minutes_allotted"] = "invalid"
    clean["minutes_allotted"] = data.minutes_allotted
    return clean


def _clean_start(value: Any, now: datetime, *, required: bool) -> tuple[datetime | None, str | None]:
    if value is None or value == "":
        return None, ("required" if required else None)
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None, "invalid"
    if value < now:
        return None, "in_past"
    if value > now + FURTHEST_AHEAD:
        return None, "too_far_ahead"
    return value, None


def _chair_of(session: DbSession, network_id: str) -> str | None:
    """The network's coordinator who chairs its conferences (the first active one by name)."""
    stmt = (
        select(User.id)
        .where(User.role == "coordinator", User.network_id == network_id, User.active.is_(True))
        .order_by(User.username, User.id)
        .limit(1)
    )
    return session.scalar(stmt)


# ---------------------------------------------------------------------------------- convening
def may_convene(actor: Any) -> bool:
    return bool(getattr(actor, "role", None) == "supervisor" and getattr(actor, "active", False))


def convene(session: DbSession, actor: Any, data: ConveneInput) -> CaseConference:
    """A supervisor convenes a conference for a case of her organisation (or asks the network's
    coordinator to: then the time and place are a proposal the coordinator settles)."""
    if not may_convene(actor):
        raise NotFound("conference")
    now = utcnow()
    fields: dict[str, str] = {}
    clean = _agenda_case(session, actor, data, fields)
    starts_at, problem = _clean_start(data.starts_at, now, required=not data.ask_coordinator)
    if problem:
        fields["starts_at"] = problem
    place, problem = _clean_text(data.place, PLACE_LIMIT, required=not data.ask_coordinator)
    if problem:
        fields["place"] = problem
    network_id = clocks.network_of(session, actor.organization_id)
    chair_id = _chair_of(session, network_id) if network_id else None
    if network_id is None:
        fields.setdefault("case_code", "no_network")
    elif chair_id is None:
        fields["ask_coordinator" if data.ask_coordinator else "case_code"] = "no_coordinator"
    if fields:
        raise refusal("invalid_conference", fields, RULES)
    case: Case = clean["case"]
    conference = CaseConference(
        id=new_id(),
        network_id=network_id,
        organization_id=actor.organization_id,
        state="requested" if data.ask_coordinator else "scheduled",
        chair_id=chair_id,
        starts_at=starts_at,
        place=place,
        created_by=actor.id,
    )
    if data.ask_coordinator:
        conference.requested_by, conference.requested_at = actor.id, now
    else:
        conference.convened_by, conference.convened_at = actor.id, now
    session.add(conference)
    item = _new_item(actor, conference, case, clean, position=1)
    session.add(item)
    session.flush()
    action = "conference.request" if data.ask_coordinator else "conference.create"
    record(action, actor, conference, case_code=case.case_code, item_id=item.id, grounds=item.grounds)
    if data.ask_coordinator:
        _tell(session, conference, "conference.requested", [chair_id] if chair_id else [])
    else:
        _tell_seats(session, conference, [case], actor)
    return conference


def _tell(session: DbSession, conference: CaseConference, kind: str, user_ids: list[str]) -> None:
    """Tell once the change is durable; no case code (a conference may hold several cases), only
    the conference, whose page checks the seat again."""
    message = notifications.Message(
        kind, target_type="conference", target_id=conference.id, key=f"{kind}:{conference.id}"
    )
    notifications.notify(user_ids, message, session)


def _tell_seats(session: DbSession, conference: CaseConference, cases: list[Case], actor: Any) -> None:
    """Everyone who gains a seat: the chair, the owning organisation's supervisors, and the staff of
    every organisation with an open referral on these cases (each told once per conference)."""
    users = [conference.chair_id] if conference.chair_id else []
    users += notifications.focal_points(session, conference.organization_id)
    for case in cases:
        for referral in _open_referrals_of_case(session, case):
            users += [u.id for u in _referral_staff(session, referral) if u.role == "supervisor"]
    _tell(session, conference, "conference.scheduled", [u for u in users if u != actor.id])


def _new_item(
    actor: Any, conference: CaseConference, case: Case, clean: dict[str, Any], position: int
) -> ConferenceItem:
    return ConferenceItem(
        id=new_id(),
        conference_id=conference.id,
        case_id=case.id,
        case_code=case.case_code,
        organization_id=case.organization_id,
        position=position,
        minutes_allotted=clean["minutes_allotted"],
        grounds=clean["grounds"],
        judgement_reason=clean["reason"],
        added_by=actor.id,
    )


def convene_requested(
    session: DbSession, actor: Any, conference_id: str, starts_at: datetime | None, place: str | None
) -> CaseConference:
    """The chair convenes a conference she was asked to hold: she gives it its time and place."""
    conference, found = visible(session, actor, conference_id)
    if found.role != "chair":
        raise NotFound("conference")
    if conference.state != "requested":
        raise InvalidTransition("not_requested")
    fields: dict[str, str] = {}
    clean_start, problem = _clean_start(starts_at, utcnow(), required=True)
    if problem:
        fields["starts_at"] = problem
    clean_place, problem = _clean_text(place, PLACE_LIMIT, required=True)
    if problem:
        fields["place"] = problem
    if fields:
        raise refusal("invalid_conference", fields, RULES)
    conference.starts_at, conference.place = clean_start, clean_place
    conference.state, conference.convened_by, conference.convened_at = "scheduled", actor.id, utcnow()
    session.flush()
    _record_each("conference.convene", actor, conference, found.items)
    cases = [session.get(Case, i.case_id) for i in found.items]
    _tell_seats(session, conference, [c for c in cases if c is not None], actor)
    return conference


def _require_open(conference: CaseConference) -> None:
    if conference.state == "closed":
        raise InvalidTransition("conference_closed")


def add_case(session: DbSession, actor: Any, conference_id: str, data: AgendaInput) -> ConferenceItem:
    """Another case of the owning organisation on the agenda: its supervisors add it."""
    conference, found = visible(session, actor, conference_id)
    if found.role != "owner" or actor.role != "supervisor":
        raise NotFound("conference")
    _require_open(conference)
    fields: dict[str, str] = {}
    clean = _agenda_case(session, actor, data, fields)
    case = clean["case"]
    if case is not None and any(i.case_id == case.id for i in conference.items):
        fields["case_code"] = "already_on_agenda"
    if fields:
        raise refusal("invalid_conference", fields, RULES)
    position = max((i.position for i in conference.items), default=0) + 1
    item = _new_item(actor, conference, case, clean, position)
    conference.items.append(item)
    session.flush()
    record("conference.case_add", actor, conference, case_code=case.case_code, item_id=item.id, grounds=item.grounds)
    if conference.state != "requested":
        _tell_seats(session, conference, [case], actor)
    return item


# ---------------------------------------------------------------------------------- running it
def save_risk_summary(session: DbSession, actor: Any, conference_id: str, item_id: str, text: str | None) -> None:
    """The owner's risk summary of one case (confidential, encrypted under her organisation)."""
    conference, found = visible(session, actor, conference_id)
    if found.role != "owner":
        raise NotFound("conference")
    item = _item(session, actor, found, item_id)
    _require_open(conference)
    summary, problem = _clean_text(text, TEXT_LIMIT, required=True)
    if problem:
        raise InvalidInput("invalid_summary", fields={"risk_summary": problem})
    item.risk_summary, item.risk_summary_by = summary, actor.id
    session.flush()
    record("conference.risk_summary", actor, conference, case_code=item.case_code, item_id=item.id)


TIMER_MOVES = ("start", "stop")


def timer(session: DbSession, actor: Any, conference_id: str, item_id: str, move: str) -> ConferenceItem:
    """The chair starts (or stops) the discussion of a case; starting one stops any other, and
    the first start opens the conference."""
    conference, found = visible(session, actor, conference_id)
    if found.role != "chair":
        raise NotFound("conference")
    item = _item(session, actor, found, item_id)
    if move not in TIMER_MOVES:
        raise InvalidInput("invalid_timer", fields={"move": "invalid"})
    if conference.state not in ("scheduled", "in_progress"):
        raise InvalidTransition("not_convened" if conference.state == "requested" else "conference_closed")
    now = utcnow()
    if move == "start":
        for other in conference.items:
            if other.started_at is not None and other.ended_at is None and other.id != item.id:
                other.ended_at = now
        item.started_at, item.ended_at = now, None
        conference.state = "in_progress"
    elif item.started_at is not None and item.ended_at is None:
        item.ended_at = now
    session.flush()
    record("conference.timer", actor, conference, case_code=item.case_code, item_id=item.id, move=move)
    return item


def add_action(session: DbSession, actor: Any, conference_id: str, item_id: str, data: ActionInput) -> ConferenceAction:
    """An agreed action on one case, given to someone of a participating organisation; it becomes
    a follow-up of the owning organisation on the case, or of the acting organisation on its open
    referral, with its reminders started. The owning organisation gives actions to any
    participant; another organisation gives them to its own staff only."""
    conference, found = visible(session, actor, conference_id)
    if found.role == "chair":
        raise NotFound("conference")
    item = _item(session, actor, found, item_id)
    if conference.state not in ("scheduled", "in_progress"):
        raise InvalidTransition("not_convened" if conference.state == "requested" else "conference_closed")
    case: Case = session.get(Case, item.case_id)  # type: ignore[assignment]  # the item's foreign key
    followups._require_open_case(case)
    fields: dict[str, str] = {}
    options = {uid: org for uid, _name, org in assignees(session, actor, found, item)}
    assignee = get_by_id(session, User, data.assignee_id) if data.assignee_id else None
    if assignee is None or assignee.id not in options:
        fields["assignee_id"] = "invalid_assignee" if data.assignee_id else "required"
    if data.kind not in KINDS:
        fields["kind"] = "required" if not data.kind else "invalid"
    description, problem = _clean_text(data.description, TEXT_LIMIT, required=True)
    if problem:
        fields["description"] = problem
    due_at, problem = followups._clean_due(data.due_at, utcnow(), followups.local_zone(actor))
    if problem:
        fields["due_at"] = problem
    if fields:
        raise refusal("invalid_action", fields, RULES | followups.FOLLOWUP_RULES)
    assert assignee is not None
    if options[assignee.id] == case.organization_id:
        clean = {"kind": data.kind, "due_at": due_at, "assignee_id": assignee.id, "note": description}
        followup = followups._add(session, actor, case, {**clean, "referral_id": None})
    else:
        referral = next(
            r for r in _open_referrals_of_case(session, case) if r.to_organization_id == options[assignee.id]
        )
        followup = _referral_followup(
            session, actor, case, referral, assignee, data.kind or "other", due_at, description
        )
    action = ConferenceAction(
        id=new_id(),
        conference_id=conference.id,
        item_id=item.id,
        followup_id=followup.id,
        organization_id=followup.organization_id,
        created_by=actor.id,
    )
    session.add(action)
    session.flush()
    record(
        "conference.action",
        actor,
        conference,
        case_code=item.case_code,
        item_id=item.id,
        followup_id=followup.id,
        acting_organization_id=followup.organization_id,
    )
    return action


def _referral_followup(
    session: DbSession,
    actor: Any,
    case: Case,
    referral: Referral,
    assignee: User,
    kind: str,
    due_at: datetime | None,
    description: str | None,
) -> FollowUp:
    """A follow-up the acting organisation took on through its referral: its own (its note is
    encrypted under its key), reminded on its network's calendar, escalated to its supervisors."""
    assert due_at is not None and referral.to_organization_id is not None
    followup = FollowUp(
        id=new_id(),
        case_id=case.id,
        referral_id=referral.id,
        case_code=case.case_code,
        organization_id=referral.to_organization_id,
        kind=kind,
        due_at=due_at,
        assignee_id=assignee.id,
        note=description,
        state="open",
        created_by=actor.id,
    )
    session.add(followup)
    session.flush()
    record(
        "followup.create",
        actor,
        followup,
        case_code=case.case_code,
        kind=kind,
        assignee_id=assignee.id,
        referral_id=referral.id,
    )
    clocks.start_followup(session, followup)
    followups._tell_assignee(session, actor, followup)
    return followup


def save_minutes(session: DbSession, actor: Any, conference_id: str, text: str | None) -> None:
    """The minutes, written by the owning organisation while the conference is not closed."""
    conference, found = visible(session, actor, conference_id)
    if found.role != "owner":
        raise NotFound("conference")
    _require_open(conference)
    minutes, problem = _clean_text(text, MINUTES_LIMIT, required=True)
    if problem:
        raise InvalidInput("invalid_minutes", fields={"minutes": problem})
    conference.minutes, conference.minutes_by, conference.minutes_at = minutes, actor.id, utcnow()
    session.flush()
    _record_each("conference.minutes", actor, conference, found.items)


def close(session: DbSession, actor: Any, conference_id: str) -> CaseConference:
    """The chair, or a supervisor of the owning organisation, closes a conference that was held."""
    conference, found = visible(session, actor, conference_id)
    if not (found.role == "chair" or (found.role == "owner" and actor.role == "supervisor")):
        raise NotFound("conference")
    if conference.state not in ("scheduled", "in_progress"):
        raise InvalidTransition("not_convened" if conference.state == "requested" else "conference_closed")
    now = utcnow()
    for item in conference.items:
        if item.started_at is not None and item.ended_at is None:
            item.ended_at = now
    conference.state, conference.closed_at = "closed", now
    session.flush()
    _record_each("conference.close", actor, conference, found.items)
    return conference


# ---------------------------------------------------------------------------------- the case
def flag_repeat_incident(session: DbSession, actor: Any, case_id: str, flagged: bool) -> Case:
    """The case team records (or clears) a repeat incident within twelve months."""
    from ..cases.services import _visible as visible_case

    case = visible_case(session, actor, case_id)
    if not can(actor, "case.edit", case):
        raise NotFound("case")
    if case.status in CLOSED_CASE_STATUSES or case.purged_at is not None:
        raise InvalidTransition("case_closed")
    case.repeat_incident_at = utcnow() if flagged else None
    case.repeat_incident_by = actor.id if flagged else None
    session.flush()
    record("case.repeat_incident", actor, case, case_code=case.case_code, flagged=flagged)
    return case


def for_case(session: DbSession, actor: Any, case: Case) -> list[CaseConference]:
    """The conferences a case was on, for its own organisation's case page (nobody else's)."""
    if case.organization_id != getattr(actor, "organization_id", None) or not can(actor, "case.view", case):
        return []
    stmt = (
        select(CaseConference)
        .join(ConferenceItem, ConferenceItem.conference_id == CaseConference.id)
        .where(ConferenceItem.case_id == case.id)
        .order_by(CaseConference.starts_at.desc(), CaseConference.created_at.desc())
        .limit(LIST_LIMIT)
    )
    return list(session.scalars(stmt))


def listing(session: DbSession, actor: Any) -> list[tuple[CaseConference, Seat]]:
    """The conferences the actor has a seat at, soonest first (audited as a list)."""
    role = getattr(actor, "role", None)
    if role == "coordinator":
        stmt = select(CaseConference).where(CaseConference.chair_id == actor.id)
    elif role in CASE_ROLES:
        through_referrals = (
            select(ConferenceItem.conference_id)
            .join(Referral, Referral.case_id == ConferenceItem.case_id)
            .where(Referral.to_organization_id == actor.organization_id, Referral.state.in_(OPEN_REFERRAL_STATES))
        )
        stmt = select(CaseConference).where(
            or_(CaseConference.organization_id == actor.organization_id, CaseConference.id.in_(through_referrals))
        )
    else:
        raise NotFound("conferences")
    rows = session.scalars(
        stmt.order_by(CaseConference.state == "closed", CaseConference.starts_at, CaseConference.created_at).limit(
            LIST_LIMIT
        )
    )
    found = [(c, s) for c in rows if (s := seat(session, actor, c)) is not None]
    record("conference.list", actor, None, organization_id=actor.organization_id, count=len(found))
    return found
