"""The rules of follow-up tasks: who may add, complete, cancel and reschedule them, who may be
given one, and which are due when ("my day", the team's overdue list).

A follow-up belongs to a case (and optionally to one of its referrals) and is seen by whoever
may see the case; anyone else gets "not found". Completing one may create the next one in the
same step and the same transaction: both happen or neither does. Day boundaries ("today",
"this week") are drawn in the network's time zone by `local_zone`, the one place to change
when networks get zones of their own. Every change is audited with the case code; a read that
shows a note is audited as `followup.view`. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy import case as sql_case

from ..access.breakglass import audit_mark
from ..access.policy import can, scope_cases
from ..accounts.models import User
from ..audit.services import record, record_denial
from ..cases.models import Case
from ..cases.retention import on_purge
from ..cases.services import _visible as visible_case
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed, refusal
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..pagination import decode_cursor, encode_cursor, uuid_text
from ..referrals.models import OPEN_STATES, Referral
from . import clocks, notifications
from .models import KINDS, FollowUp

DEFAULT_ZONE = ZoneInfo("Asia/Hebron")
DUE_FILTERS = ("overdue", "today", "week")
CLOSED_CASE_STATUSES = ("closed", "transferred")
NOTE_LIMIT = 5000
FURTHEST_AHEAD = timedelta(days=2 * 366)
TEAM_LIMIT = 500
MY_DAY_PAGE = 50  # follow-ups per page of "my day"


class InvalidTransition(Conflict):
    code = "invalid_transition"


@dataclass
class FollowUpInput:
    """What the add form, the "next follow-up" sub-form or the API carries."""

    due_at: datetime | None
    kind: str | None
    assignee_id: str | None = None
    note: str | None = None
    referral_id: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[FollowUp]
    next_cursor: str | None


@dataclass(frozen=True)
class MyDay:
    overdue: list[FollowUp]
    today: list[FollowUp]
    week: list[FollowUp]  # after today, within the week
    next_cursor: str | None = None  # the next page, when there is one
    totals: dict[str, int] = field(default_factory=dict)  # rows of each part, over every page


@dataclass(frozen=True)
class TeamMember:
    assignee_id: str
    username: str
    items: list[FollowUp]


# ---------------------------------------------------------------------------------- time
def local_zone(actor: Any = None) -> ZoneInfo:
    """The time zone that draws the actor's day boundaries, reads the times she types and shows
    every time she reads: her own when she has set one on her account page, else her
    organisation's network's (the coordinator's own network's), else the default. Looked up
    once per request (a page draws many times)."""
    from .calendar import zone, zone_for

    own = getattr(actor, "time_zone", None)
    if own:
        try:
            return zone(own)
        except ValueError:
            pass  # a zone this server's tz database no longer knows: her network's instead
    if actor is None or not getattr(actor, "organization_id", None):
        return DEFAULT_ZONE
    from flask import g, has_request_context

    from ..extensions import db
    from .calendar import organization_zone

    remembered = g.get("shabaka_local_zone") if has_request_context() else None
    if remembered is not None and remembered[0] == actor.id:
        return remembered[1]  # type: ignore[no-any-return]
    network_id = getattr(actor, "network_id", None)
    found = zone_for(db.session, network_id) if network_id else organization_zone(db.session, actor.organization_id)
    if has_request_context():
        g.shabaka_local_zone = (actor.id, found)
    return found


def start_of_day(moment: datetime, zone: ZoneInfo, days_later: int = 0) -> datetime:
    """Local midnight of the day of `moment` (plus `days_later` days), as an aware UTC time."""
    day = moment.astimezone(zone).date() + timedelta(days=days_later)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def window(due: str, now: datetime, zone: ZoneInfo) -> tuple[datetime | None, datetime]:
    """[from, until) of a due filter: overdue is past its time; today is from now until local
    midnight; week is from now until the end of the sixth day after today."""
    if due == "overdue":
        return None, now
    if due == "today":
        return now, start_of_day(now, zone, 1)
    if due == "week":
        return now, start_of_day(now, zone, 7)
    raise InvalidInput("invalid_due", fields={"due": "invalid"})


def from_local(value: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time typed in the local zone, as an aware UTC time."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return value.replace(tzinfo=zone).astimezone(UTC)


def to_local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


# ---------------------------------------------------------------------------------- checks
def _open_case_for_followups(session: DbSession, actor: Any, case_id: str) -> Case:
    case = visible_case(session, actor, case_id)
    if not can(actor, "followup.create", case):
        raise NotFound("case")
    return case


def _require_open_case(case: Case) -> None:
    if case.status in CLOSED_CASE_STATUSES or case.purged_at is not None:
        raise InvalidTransition("case_closed")


def _clean_due(value: Any, now: datetime, zone: ZoneInfo) -> tuple[datetime | None, str | None]:
    if value is None or value == "":
        return None, "required"
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None, "invalid"
    if value < start_of_day(now, zone):
        return None, "due_in_past"
    if value > now + FURTHEST_AHEAD:
        return None, "too_far_ahead"
    return value.astimezone(UTC), None


def _clean_note(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, "invalid"
    value = value.strip()
    if len(value) > NOTE_LIMIT:
        return None, "too_long_text"
    return value or None, None


def _assignee(session: DbSession, case: Case, raw: str | None) -> User | None:
    """The user to give the follow-up to (the case owner unless named), if she may see the case."""
    user = get_by_id(session, User, raw if raw else case.owner_id)
    if user is None or not user.active or not can(user, "followup.assignee", case):
        return None
    return user


# What a well-formed follow-up can still be refused for (422 in the API): a time already past or
# too far ahead, an assignee outside the case team, a referral not of this case.
FOLLOWUP_RULES = frozenset({"due_in_past", "too_far_ahead", "invalid_assignee", "unknown"})


def _check(
    session: DbSession, actor: Any, case: Case, data: FollowUpInput, *, prefix: str = "", default_assignee: str = ""
) -> dict[str, Any]:
    """Clean a follow-up's input; raises InvalidInput naming each bad field (with `prefix`)."""
    now = utcnow()
    zone = local_zone(actor)
    fields: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if data.kind not in KINDS:
        fields["kind"] = "required" if not data.kind else "invalid"
    clean["kind"] = data.kind
    clean["due_at"], problem = _clean_due(data.due_at, now, zone)
    if problem:
        fields["due_at"] = problem
    clean["note"], problem = _clean_note(data.note)
    if problem:
        fields["note"] = problem
    assignee = _assignee(session, case, data.assignee_id or default_assignee or None)
    if assignee is None:
        fields["assignee_id"] = "invalid_assignee"
    else:
        clean["assignee_id"] = assignee.id
    clean["referral_id"] = None
    if data.referral_id:
        referral = get_by_id(session, Referral, data.referral_id)
        if referral is None or referral.case_id != case.id or not can(actor, "referral.view", referral):
            fields["referral_id"] = "unknown"
        else:
            clean["referral_id"] = referral.id
    if fields:
        raise refusal("invalid_followup", {f"{prefix}{k}": v for k, v in fields.items()}, FOLLOWUP_RULES)
    return clean


def _expect(followup: FollowUp, expected_version: int | None) -> None:
    if expected_version is not None and followup.version != expected_version:
        raise PreconditionFailed("changed_meanwhile")


def _require_open(followup: FollowUp) -> None:
    if followup.state != "open":
        raise InvalidTransition("followup_not_open")


def _add(session: DbSession, actor: Any, case: Case, clean: dict[str, Any], follows: str | None = None) -> FollowUp:
    followup = FollowUp(
        id=new_id(),
        case_id=case.id,
        referral_id=clean["referral_id"],
        case_code=case.case_code,
        organization_id=case.organization_id,
        kind=clean["kind"],
        due_at=clean["due_at"],
        assignee_id=clean["assignee_id"],
        note=clean["note"],
        state="open",
        follows_id=follows,
        created_by=actor.id,
    )
    session.add(followup)
    session.flush()
    record(
        "followup.create",
        actor,
        followup,
        case_code=case.case_code,
        kind=followup.kind,
        assignee_id=followup.assignee_id,
        referral_id=followup.referral_id,
        follows_id=follows,
    )
    clocks.start_followup(session, followup)
    _tell_assignee(session, actor, followup)
    return followup


def _tell_assignee(session: DbSession, actor: Any, followup: FollowUp) -> None:
    """Someone else's follow-up for her: the case code and "log in to review", after commit."""
    if followup.assignee_id == actor.id:
        return
    message = notifications.Message(
        "followup.assigned",
        followup.case_code,
        "case",
        followup.case_id,
        key=f"followup:{followup.id}:assigned:{followup.version}",
    )
    notifications.notify([followup.assignee_id], message, session)


# ---------------------------------------------------------------------------------- changes
def create(session: DbSession, actor: Any, case_id: str, data: FollowUpInput) -> FollowUp:
    """Add a follow-up to an open case: its team, or a supervisor of its organisation. The
    assignee defaults to the case owner and must be someone who may see the case."""
    case = _open_case_for_followups(session, actor, case_id)
    _require_open_case(case)
    return _add(session, actor, case, _check(session, actor, case, data))


def case_for_followups(session: DbSession, actor: Any, case_id: str) -> Case:
    """The case whose follow-ups are shown, if the actor may see it (not found otherwise);
    the page shows the case, so it is recorded as a view."""
    case = visible_case(session, actor, case_id)
    record("case.view", actor, case, case_code=case.case_code, **audit_mark(session, actor, case))
    return case


def visible(session: DbSession, actor: Any, followup_id: str) -> FollowUp:
    """The follow-up if the actor may see its case; otherwise not found (never "forbidden")."""
    followup = get_by_id(session, FollowUp, followup_id)
    if followup is None or not (
        can(actor, "case.view", followup.case) or _on_received_referral(session, actor, followup)
    ):
        record_denial(actor, "followup", str(followup_id))
        raise NotFound("followup")
    return followup


def _on_received_referral(session: DbSession, actor: Any, followup: FollowUp) -> bool:
    """A follow-up of the actor's organisation on a referral it received and still serves (a
    case conference's action for the receiving side): seen by its assignee and the
    organisation's supervisors, while the referral is open."""
    if followup.referral_id is None or followup.organization_id != getattr(actor, "organization_id", None):
        return False
    if followup.assignee_id != actor.id and actor.role != "supervisor":
        return False
    open_one = _received_open_referrals(actor.organization_id).where(Referral.id == followup.referral_id)
    return session.scalar(open_one) is not None


def _received_open_referrals(organization_id: str) -> Select[Any]:
    return select(Referral.id).where(Referral.to_organization_id == organization_id, Referral.state.in_(OPEN_STATES))


def view(session: DbSession, actor: Any, followup_id: str) -> FollowUp:
    """Open one follow-up with its notes (audited as a view)."""
    followup = visible(session, actor, followup_id)
    record("followup.view", actor, followup, case_code=followup.case_code)
    return followup


def complete(
    session: DbSession,
    actor: Any,
    followup_id: str,
    *,
    note: str | None = None,
    next_followup: FollowUpInput | None = None,
    expected_version: int | None = None,
) -> tuple[FollowUp, FollowUp | None]:
    """Mark a follow-up done (its assignee or the case team), and with `next_followup` add the next one
    in the same step: the next one is checked first, so a refusal leaves the first one open."""
    followup = visible(session, actor, followup_id)
    if not can(actor, "followup.complete", followup):
        raise Forbidden("only_assignee_or_team")
    _expect(followup, expected_version)
    _require_open(followup)
    done_note, problem = _clean_note(note)
    if problem:
        raise InvalidInput("invalid_followup", fields={"note": problem})
    clean_next = None
    if next_followup is not None:
        case = followup.case
        if case.status in CLOSED_CASE_STATUSES or case.purged_at is not None:
            raise InvalidInput("invalid_followup", fields={"next": "case_closed"})
        if next_followup.referral_id is None:
            next_followup = replace(next_followup, referral_id=followup.referral_id)
        clean_next = _check(session, actor, case, next_followup, prefix="next.", default_assignee=followup.assignee_id)
    followup.state = "done"
    followup.done_by = actor.id
    followup.done_at = utcnow()
    followup.done_note = done_note
    session.flush()
    clocks.stop(session, "followup", followup.id)
    record("followup.complete", actor, followup, case_code=followup.case_code, kind=followup.kind)
    following = _add(session, actor, followup.case, clean_next, follows=followup.id) if clean_next else None
    return followup, following


def cancel(session: DbSession, actor: Any, followup_id: str, *, expected_version: int | None = None) -> FollowUp:
    """Cancel an open follow-up: the case team, or a supervisor of the case's organisation."""
    followup = visible(session, actor, followup_id)
    if not can(actor, "followup.manage", followup):
        raise NotFound("followup")
    _expect(followup, expected_version)
    _require_open(followup)
    followup.state = "cancelled"
    followup.cancelled_by = actor.id
    followup.cancelled_at = utcnow()
    session.flush()
    clocks.stop(session, "followup", followup.id)
    record("followup.cancel", actor, followup, case_code=followup.case_code, kind=followup.kind)
    return followup


def reschedule(
    session: DbSession,
    actor: Any,
    followup_id: str,
    *,
    due_at: datetime | None = None,
    assignee_id: str | None = None,
    expected_version: int | None = None,
) -> FollowUp:
    """Move an open follow-up to another time and/or give it to someone else."""
    followup = visible(session, actor, followup_id)
    if not can(actor, "followup.manage", followup):
        raise NotFound("followup")
    _expect(followup, expected_version)
    _require_open(followup)
    case = followup.case
    _require_open_case(case)
    fields: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if due_at is not None:
        clean_due, problem = _clean_due(due_at, utcnow(), local_zone(actor))
        if problem:
            fields["due_at"] = problem
        elif clean_due != followup.due_at:
            changes["due_at"] = clean_due
    if assignee_id is not None:
        assignee = _assignee(session, case, assignee_id)
        if assignee is None:
            fields["assignee_id"] = "invalid_assignee"
        elif assignee.id != followup.assignee_id:
            changes["assignee_id"] = assignee.id
    if due_at is None and assignee_id is None:
        fields["_"] = "nothing_to_change"
    if fields:
        raise refusal("invalid_followup", fields, FOLLOWUP_RULES)
    for name, value in changes.items():
        setattr(followup, name, value)
    changed = sorted(changes)
    if changed:
        session.flush()
        if "due_at" in changed:
            clocks.restart_followup(session, followup)
        record(
            "followup.update",
            actor,
            followup,
            case_code=followup.case_code,
            fields=",".join(changed),
            assignee_id=followup.assignee_id,
        )
        if "assignee_id" in changed:
            _tell_assignee(session, actor, followup)
    return followup


# ---------------------------------------------------------------------------------- lists
def _mine(actor: Any) -> Select[Any]:
    """The actor's own open follow-ups, on cases she may see."""
    seen = scope_cases(actor, select(Case.id)).where(Case.id == FollowUp.case_id).exists()
    on_received = and_(
        FollowUp.referral_id.in_(_received_open_referrals(actor.organization_id)),
        FollowUp.organization_id == actor.organization_id,
    )
    return select(FollowUp).where(FollowUp.assignee_id == actor.id, FollowUp.state == "open", or_(seen, on_received))


def listing(
    session: DbSession, actor: Any, *, due: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page:
    """The actor's open follow-ups, soonest first; `due` is overdue, today or week."""
    stmt = _mine(actor)
    if due is not None:
        lower, upper = window(due, utcnow(), local_zone(actor))
        if lower is not None:
            stmt = stmt.where(FollowUp.due_at >= lower)
        stmt = stmt.where(FollowUp.due_at < upper)
    if cursor:
        due_at, followup_id = decode_cursor(cursor, uuid_text)
        stmt = stmt.where((FollowUp.due_at > due_at) | ((FollowUp.due_at == due_at) & (FollowUp.id > followup_id)))
    rows = list(session.scalars(stmt.order_by(FollowUp.due_at, FollowUp.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    record("followup.list", actor, None, organization_id=actor.organization_id, due=due, count=len(rows))
    return Page(rows, encode_cursor(rows[-1].due_at, rows[-1].id) if more and rows else None)


def my_day(
    session: DbSession,
    actor: Any,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    keep: FollowUp | None = None,
) -> MyDay:
    """The actor's overdue follow-ups, today's, and the rest of the week's (the "my day" page),
    soonest first, `limit` at a time (`cursor`: the page after `next_cursor`); `totals` counts
    each part over every page. `keep` (a follow-up whose refused "done" the page shows again) is
    on the page even when it would be on another one."""
    limit = limit or MY_DAY_PAGE
    now = utcnow()
    zone = local_zone(actor)
    midnight = start_of_day(now, zone, 1)
    this_week = _mine(actor).where(FollowUp.due_at < start_of_day(now, zone, 7))
    stmt = this_week
    if cursor:
        due_at, followup_id = decode_cursor(cursor, uuid_text)
        stmt = stmt.where((FollowUp.due_at > due_at) | ((FollowUp.due_at == due_at) & (FollowUp.id > followup_id)))
    rows = list(session.scalars(stmt.order_by(FollowUp.due_at, FollowUp.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if keep is not None and keep not in rows and session.scalar(this_week.where(FollowUp.id == keep.id)) is not None:
        rows = sorted([*rows, keep], key=lambda f: (f.due_at, f.id))
    record("followup.list", actor, None, organization_id=actor.organization_id, view="day", count=len(rows))
    due = this_week.subquery()
    overdue, today, week = session.execute(
        select(
            func.count().filter(due.c.due_at < now),
            func.count().filter(due.c.due_at >= now, due.c.due_at < midnight),
            func.count().filter(due.c.due_at >= midnight),
        ).select_from(due)
    ).one()
    return MyDay(
        overdue=[f for f in rows if f.due_at < now],
        today=[f for f in rows if now <= f.due_at < midnight],
        week=[f for f in rows if f.due_at >= midnight],
        next_cursor=encode_cursor(rows[-1].due_at, rows[-1].id) if more and rows else None,
        totals={"overdue": int(overdue), "today": int(today), "week": int(week)},
    )


def team_overdue(session: DbSession, actor: Any) -> list[TeamMember]:
    """A supervisor's view: her organisation's open follow-ups past due, by assignee."""
    if not can(actor, "followup.team"):
        raise Forbidden("supervisors_only")
    stmt = (
        scope_cases(actor, select(FollowUp).join(Case, Case.id == FollowUp.case_id))
        .where(
            FollowUp.organization_id == actor.organization_id,
            FollowUp.state == "open",
            FollowUp.due_at < utcnow(),
        )
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(TEAM_LIMIT)
    )
    rows = list(session.scalars(stmt))
    record("followup.list", actor, None, organization_id=actor.organization_id, view="team", count=len(rows))
    names = usernames(session, {f.assignee_id for f in rows})
    grouped: dict[str, list[FollowUp]] = {}
    for followup in rows:
        grouped.setdefault(followup.assignee_id, []).append(followup)
    members = [TeamMember(uid, names.get(uid, "—"), items) for uid, items in grouped.items()]
    return sorted(members, key=lambda m: (-len(m.items), m.username))


def for_case(
    session: DbSession, actor: Any, case: Case, *, audit: bool = True, limit: int = TEAM_LIMIT
) -> list[FollowUp]:
    """The follow-ups of a case the actor may see: open ones first, soonest first. Showing
    their notes is recorded once per list as `followup.view`, unless `audit` is false: a page
    that shows them inside the case it has already recorded as opened (one page view, one event)."""
    if not can(actor, "case.view", case):
        return []
    stmt = (
        select(FollowUp)
        .where(FollowUp.case_id == case.id)
        .order_by(case_order(), FollowUp.due_at.desc())
        .limit(min(limit, TEAM_LIMIT))
    )
    rows = list(session.scalars(stmt))
    with_notes = sum(1 for f in rows if f.note or f.done_note)
    if with_notes and audit:
        record("followup.view", actor, case, case_code=case.case_code, count=with_notes)
    return rows


def count_for_case(session: DbSession, case: Case) -> int:
    """How many follow-ups the case has (the case page shows the first few and links to all)."""
    return int(session.scalar(select(func.count()).select_from(FollowUp).where(FollowUp.case_id == case.id)) or 0)


def case_order() -> Any:
    return sql_case((FollowUp.state == "open", 0), else_=1)


def assignable(session: DbSession, case: Case) -> list[tuple[str, str]]:
    """(id, username) of who may be given a follow-up of this case: the team and the
    organisation's supervisors, active."""
    team = {m.user_id for m in case.members}
    stmt = select(User).where(
        User.organization_id == case.organization_id,
        User.active.is_(True),
        (User.id.in_(team)) | (User.role == "supervisor"),
    )
    users = [u for u in session.scalars(stmt.order_by(User.username)) if can(u, "followup.assignee", case)]
    return [(u.id, u.username) for u in users]


def usernames(session: DbSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


# ---------------------------------------------------------------------------------- retention
@on_purge
def _purge_notes(session: DbSession, case_ids: list[str]) -> None:
    """A purged case keeps its follow-ups' kinds and dates, not their notes."""
    session.execute(
        update(FollowUp).where(FollowUp.case_id.in_(case_ids)).values(note=None, done_note=None),
        execution_options={"synchronize_session": False},
    )


def due_counts(session: DbSession, actor: Any) -> dict[str, int]:
    """How many of the actor's open follow-ups are overdue and due later today (her home page's
    figures; only counted, so not audited)."""
    from sqlalchemy import func

    now = utcnow()
    midnight = start_of_day(now, local_zone(actor), 1)
    mine = _mine(actor).subquery()
    overdue, today = session.execute(
        select(
            func.count().filter(mine.c.due_at < now),
            func.count().filter(mine.c.due_at >= now, mine.c.due_at < midnight),
        ).select_from(mine)
    ).one()
    return {"overdue": int(overdue or 0), "today": int(today or 0)}
