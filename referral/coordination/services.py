"""The rules of network coordination: who represents whom, who runs and who reads a network's
meetings, the agenda (its first item always the open action points), invitations and answers,
attendance and quorum, the minutes' workflow, action points and the members' engagement.

Access: a network's coordinator runs her network's meetings, the national coordinator (a
coordinator with no network) runs every network's; nobody else writes. The staff of member
organisations read their networks' meetings; anything else is not found (404), never forbidden.
Services flush and never commit; every read and write is audited in the caller's transaction.
"""

from __future__ import annotations

import calendar as pycalendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select

from ..accounts.models import User
from ..audit.services import record, record_denial
from ..directory.models import Network, NetworkMembership, Organization
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, RuleRefused
from ..followups import notifications
from ..followups.calendar import zone_for
from ..models_base import DbSession, get_by_id, new_id, utcnow
from ..text import text_problem
from . import reminders
from .models import (
    ACTION_STATUSES,
    ATTENDANCE,
    OPEN_STATUSES,
    PRIORITIES,
    RECURRENCES,
    RESPONSES,
    REVIEW_KIND,
    ActionPoint,
    AgendaItem,
    Attendance,
    Invitation,
    Meeting,
    MeetingSeries,
    MinuteEntry,
    Minutes,
    MinutesComment,
    Representative,
)
from .text import case_code_fields

REVIEW_TITLE = "Review of previous action points"  # stored in English; shown translated
TITLE_LIMIT, NAME_LIMIT, PLACE_LIMIT, LINK_LIMIT, TEXT_LIMIT = 200, 200, 300, 500, 20000
MAX_AGENDA_ITEMS = 40
HORIZON_DAYS = 3 * 366  # a meeting is scheduled at most this far ahead


# ------------------------------------------------------------------------------- who may do what
def runs(actor: Any, network_id: str | None) -> bool:
    """The network's coordinator, or the national coordinator."""
    if getattr(actor, "role", None) != "coordinator" or not getattr(actor, "active", False):
        return False
    return actor.network_id is None or actor.network_id == network_id


def is_national(actor: Any) -> bool:
    return getattr(actor, "role", None) == "coordinator" and actor.network_id is None


def member_network_ids(session: DbSession, organization_id: str) -> set[str]:
    stmt = select(NetworkMembership.network_id).where(NetworkMembership.organization_id == organization_id)
    return set(session.scalars(stmt))


def readable_network_ids(session: DbSession, actor: Any) -> set[str] | None:
    """The networks whose meetings `actor` reads; None means every network (the national coordinator)."""
    if is_national(actor):
        return None
    found = member_network_ids(session, actor.organization_id)
    if getattr(actor, "role", None) == "coordinator" and actor.network_id:
        found.add(actor.network_id)
    return found


def reads(session: DbSession, actor: Any, network_id: str) -> bool:
    allowed = readable_network_ids(session, actor)
    return allowed is None or network_id in allowed


def _scope_networks(stmt: Select[Any], column: Any, allowed: set[str] | None) -> Select[Any]:
    return stmt if allowed is None else stmt.where(column.in_(sorted(allowed)))


def network_for(session: DbSession, actor: Any, network_id: str, *, write: bool = False) -> Network:
    """The network, if `actor` reads it (or runs it, for `write`); else NotFound."""
    net = get_by_id(session, Network, network_id)
    if net is None or not reads(session, actor, net.id) or (write and not runs(actor, net.id)):
        record_denial(actor, "network", str(network_id), session)
        raise NotFound("network")
    return net


def network_by_code(session: DbSession, actor: Any, governorate: str, *, write: bool = False) -> Network:
    net = session.scalar(select(Network).where(Network.governorate == governorate))
    if net is None or not reads(session, actor, net.id) or (write and not runs(actor, net.id)):
        raise RuleRefused("unknown_network", fields={"network": "unknown"})
    return net


def meeting_for(session: DbSession, actor: Any, meeting_id: str, *, write: bool = False) -> Meeting:
    """The meeting, if `actor` reads its network (runs it, for `write`); else NotFound. A member
    who may read but not write is refused as not found too (she cannot act on it)."""
    meeting = get_by_id(session, Meeting, meeting_id)
    if (
        meeting is None
        or not reads(session, actor, meeting.network_id)
        or (write and not runs(actor, meeting.network_id))
    ):
        record_denial(actor, "meeting", str(meeting_id), session)
        raise NotFound("meeting")
    return meeting


def _checked(values: dict[str, str | None], limits: dict[str, int], required: Iterable[str] = ()) -> dict[str, str]:
    """Free text of a coordination record: required ones present, lengths, characters, no case code."""
    problems: dict[str, str] = {}
    for name in required:
        if not (values.get(name) or "").strip():
            problems[name] = "required"
    for name, value in values.items():
        if value is None or name in problems:
            continue
        if len(value) > limits.get(name, TEXT_LIMIT):
            problems[name] = "too_long"
        elif text_problem(value, identifying=False):
            problems[name] = "invalid_characters"
    for name, code in case_code_fields(values).items():
        problems.setdefault(name, code)
    return problems


def _refuse(problems: dict[str, str]) -> None:
    if problems:
        raise InvalidInput("invalid_input", fields=problems)


def today_in(session: DbSession, network_id: str, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(zone_for(session, network_id)).date()


# ------------------------------------------------------------------------------- representatives
@dataclass(frozen=True)
class RepresentativeRow:
    id: str
    organization_id: str
    organization: Organization
    user_id: str
    username: str


def representatives(session: DbSession, actor: Any, network_id: str) -> list[RepresentativeRow]:
    """Who represents each member organisation (read by the network's members and coordinators)."""
    net = network_for(session, actor, network_id)
    rows = session.execute(
        select(Representative, Organization, User.username)
        .join(Organization, Organization.id == Representative.organization_id)
        .join(User, User.id == Representative.user_id)
        .where(Representative.network_id == net.id)
        .order_by(Organization.name_en, User.username)
    )
    return [RepresentativeRow(r.id, r.organization_id, org, r.user_id, name) for r, org, name in rows]


def _may_name(actor: Any) -> bool:
    return getattr(actor, "role", None) == "org_admin"


def name_representative(session: DbSession, actor: Any, network_id: str, user_id: str | None) -> Representative:
    """An organisation administrator names one of her organisation's active users to a network it
    belongs to. Naming someone already named changes nothing."""
    net = network_for(session, actor, network_id)
    if not _may_name(actor) or net.id not in member_network_ids(session, actor.organization_id):
        raise Forbidden("not_org_admin_of_member")
    person = get_by_id(session, User, user_id) if user_id else None
    if person is None or person.organization_id != actor.organization_id or not person.active:
        raise RuleRefused("unknown_user", fields={"user_id": "unknown"})
    found = session.scalar(
        select(Representative).where(Representative.network_id == net.id, Representative.user_id == person.id)
    )
    if found is None:
        found = Representative(
            id=new_id(),
            network_id=net.id,
            organization_id=actor.organization_id,
            user_id=person.id,
            named_by=actor.id,
        )
        session.add(found)
        session.flush()
    record("representative.add", actor, found, network_id=net.id, user_id=person.id)
    return found


def remove_representative(session: DbSession, actor: Any, representative_id: str) -> None:
    found = get_by_id(session, Representative, representative_id)
    if found is None or not _may_name(actor) or found.organization_id != actor.organization_id:
        record_denial(actor, "network_representative", str(representative_id), session)
        raise NotFound("representative")
    record("representative.remove", actor, found, network_id=found.network_id, user_id=found.user_id)
    session.delete(found)
    session.flush()


def representative_ids(
    session: DbSession, network_id: str, organization_ids: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """The active representatives of a network's member organisations, by organisation."""
    stmt = (
        select(Representative.organization_id, Representative.user_id)
        .join(User, User.id == Representative.user_id)
        .join(
            NetworkMembership,
            and_(
                NetworkMembership.network_id == Representative.network_id,
                NetworkMembership.organization_id == Representative.organization_id,
            ),
        )
        .where(Representative.network_id == network_id, User.active.is_(True))
    )
    if organization_ids is not None:
        stmt = stmt.where(Representative.organization_id.in_(sorted(set(organization_ids))))
    found: dict[str, list[str]] = {}
    for org_id, user_id in session.execute(stmt):
        found.setdefault(org_id, []).append(user_id)
    return found


def is_representative(session: DbSession, actor: Any, network_id: str) -> bool:
    return (
        session.scalar(
            select(func.count()).where(Representative.network_id == network_id, Representative.user_id == actor.id)
        )
        or 0
    ) > 0


def coordinator_ids(session: DbSession, network_id: str) -> list[str]:
    """The network's own active coordinators, or the national ones when it has none."""
    own = list(
        session.scalars(
            select(User.id).where(User.role == "coordinator", User.active.is_(True), User.network_id == network_id)
        )
    )
    if own:
        return own
    return list(
        session.scalars(
            select(User.id).where(User.role == "coordinator", User.active.is_(True), User.network_id.is_(None))
        )
    )


# ------------------------------------------------------------------------------- series and meetings
@dataclass
class AgendaInput:
    title: str
    minutes: int = 15
    presenter: str = ""


@dataclass
class MeetingInput:
    title: str
    starts_at: datetime | None  # aware
    duration_minutes: int = 120
    place: str = ""
    online_link: str = ""
    agenda: list[AgendaInput] = field(default_factory=list)


@dataclass
class SeriesInput:
    title: str
    recurrence: str
    local_time: str  # HH:MM
    first_on_or_after: date | None = None
    day_of_month: int | None = None
    week_of_month: int | None = None  # 1-4, or 5 for the last
    weekday: int | None = None  # 0 = Monday
    duration_minutes: int = 120
    place: str = ""
    online_link: str = ""


def local_start(session: DbSession, network_id: str, day: date, hhmm: str) -> datetime:
    """A local date and time in the network's zone, as a UTC instant."""
    hours, minutes = (int(p) for p in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=zone_for(session, network_id)).astimezone(UTC)


def _valid_hhmm(value: str | None) -> bool:
    if not value or len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        return False
    return int(value[:2]) < 24 and int(value[3:]) < 60


def _meeting_problems(data: MeetingInput, now: datetime) -> dict[str, str]:
    problems = _checked(
        {"title": data.title, "place": data.place, "online_link": data.online_link},
        {"title": TITLE_LIMIT, "place": PLACE_LIMIT, "online_link": LINK_LIMIT},
        required=("title",),
    )
    link = data.online_link
    if link and not problems.get("online_link") and (not link.startswith(("https://", "http://")) or " " in link):
        problems["online_link"] = "invalid_link"
    if data.starts_at is None:
        problems["starts_at"] = "required"
    elif data.starts_at > now + timedelta(days=HORIZON_DAYS):
        problems["starts_at"] = "too_far"
    if not 15 <= int(data.duration_minutes or 0) <= 600:
        problems["duration_minutes"] = "out_of_range"
    if len(data.agenda) > MAX_AGENDA_ITEMS:
        problems["agenda"] = "too_many"
    for n, item in enumerate(data.agenda):
        for name, code in _item_problems(item).items():
            problems[f"agenda.{n}.{name}"] = code
    return problems


def _item_problems(item: AgendaInput) -> dict[str, str]:
    problems = _checked(
        {"title": item.title, "presenter": item.presenter},
        {"title": TITLE_LIMIT, "presenter": NAME_LIMIT},
        required=("title",),
    )
    if not 1 <= int(item.minutes or 0) <= 240:
        problems["minutes"] = "out_of_range"
    return problems


def create_meeting(
    session: DbSession, actor: Any, network_id: str, data: MeetingInput, *, series_id: str | None = None
) -> Meeting:
    """Schedule a meeting: its agenda opens with the review of the open action points, its
    minutes' reminders are started, and the members' representatives are invited."""
    net = network_for(session, actor, network_id, write=True)
    _refuse(_meeting_problems(data, utcnow()))
    assert data.starts_at is not None
    meeting = Meeting(
        id=new_id(),
        network_id=net.id,
        series_id=series_id,
        title=data.title.strip(),
        starts_at=data.starts_at.astimezone(UTC).replace(second=0, microsecond=0),
        duration_minutes=int(data.duration_minutes),
        place=data.place.strip(),
        online_link=data.online_link.strip(),
        created_by=actor.id,
    )
    session.add(meeting)
    session.add(
        AgendaItem(id=new_id(), meeting_id=meeting.id, position=0, kind=REVIEW_KIND, title=REVIEW_TITLE, minutes=15)
    )
    for n, item in enumerate(data.agenda, start=1):
        session.add(
            AgendaItem(
                id=new_id(),
                meeting_id=meeting.id,
                position=n,
                title=item.title.strip(),
                minutes=int(item.minutes),
                presenter=item.presenter.strip(),
            )
        )
    session.add(Minutes(id=new_id(), meeting_id=meeting.id, version=1, state="draft"))
    session.flush()
    record("meeting.create", actor, meeting, network_id=net.id, series_id=series_id)
    reminders.start_minutes(session, meeting)
    send_invitations(session, actor, meeting.id)
    return meeting


def add_agenda_item(session: DbSession, actor: Any, meeting_id: str, item: AgendaInput) -> AgendaItem:
    meeting = meeting_for(session, actor, meeting_id, write=True)
    _refuse(_item_problems(item))
    if _minutes_of(session, meeting).state == "approved":
        raise Conflict("minutes_approved")
    if len(meeting.items) >= MAX_AGENDA_ITEMS + 1:
        raise RuleRefused("too_many", fields={"title": "too_many"})
    position = max((i.position for i in meeting.items), default=0) + 1
    found = AgendaItem(
        id=new_id(),
        meeting_id=meeting.id,
        position=position,
        title=item.title.strip(),
        minutes=int(item.minutes),
        presenter=item.presenter.strip(),
    )
    session.add(found)
    session.flush()
    record("meeting.agenda", actor, meeting, network_id=meeting.network_id, item_id=found.id)
    return found


def _series_problems(data: SeriesInput) -> dict[str, str]:
    problems = _checked(
        {"title": data.title, "place": data.place, "online_link": data.online_link},
        {"title": TITLE_LIMIT, "place": PLACE_LIMIT, "online_link": LINK_LIMIT},
        required=("title",),
    )
    if data.recurrence not in RECURRENCES:
        problems["recurrence"] = "unknown"
    if not _valid_hhmm(data.local_time):
        problems["local_time"] = "invalid_time"
    if data.recurrence == "monthly_day" and not (data.day_of_month and 1 <= data.day_of_month <= 31):
        problems["day_of_month"] = "out_of_range"
    if data.recurrence == "monthly_weekday":
        if not (data.week_of_month and 1 <= data.week_of_month <= 5):
            problems["week_of_month"] = "out_of_range"
        if data.weekday is None or not 0 <= data.weekday <= 6:
            problems["weekday"] = "out_of_range"
    if data.recurrence == "one_off" and data.first_on_or_after is None:
        problems["first_on_or_after"] = "required"
    if not 15 <= int(data.duration_minutes or 0) <= 600:
        problems["duration_minutes"] = "out_of_range"
    return problems


def occurrence_in(series: MeetingSeries, year: int, month: int) -> date:
    """The series' meeting day in a month (a day past the month's end is its last day)."""
    last = pycalendar.monthrange(year, month)[1]
    if series.recurrence == "monthly_day":
        return date(year, month, min(int(series.day_of_month or 1), last))
    weekday, week = int(series.weekday or 0), int(series.week_of_month or 1)
    days = [d for d in range(1, last + 1) if date(year, month, d).weekday() == weekday]
    return date(year, month, days[-1] if week >= 5 else days[week - 1])


def next_occurrence(series: MeetingSeries, on_or_after: date) -> date:
    """The first meeting day of a monthly series on or after `on_or_after`."""
    year, month = on_or_after.year, on_or_after.month
    for _ in range(3):
        found = occurrence_in(series, year, month)
        if found >= on_or_after:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError("no occurrence")  # pragma: no cover - every month has one


def create_series(
    session: DbSession, actor: Any, network_id: str, data: SeriesInput, agenda: Sequence[AgendaInput] = ()
) -> tuple[MeetingSeries, Meeting]:
    """A series and its first meeting (on or after `first_on_or_after`, default today)."""
    net = network_for(session, actor, network_id, write=True)
    _refuse(_series_problems(data))
    series = MeetingSeries(
        id=new_id(),
        network_id=net.id,
        title=data.title.strip(),
        recurrence=data.recurrence,
        day_of_month=data.day_of_month if data.recurrence == "monthly_day" else None,
        week_of_month=data.week_of_month if data.recurrence == "monthly_weekday" else None,
        weekday=data.weekday if data.recurrence == "monthly_weekday" else None,
        local_time=data.local_time,
        duration_minutes=int(data.duration_minutes),
        place=data.place.strip(),
        online_link=data.online_link.strip(),
        created_by=actor.id,
    )
    session.add(series)
    session.flush()
    record("meeting.series_create", actor, series, network_id=net.id)
    start = data.first_on_or_after or today_in(session, net.id)
    day = start if series.recurrence == "one_off" else next_occurrence(series, start)
    return series, _series_meeting(session, actor, series, day, list(agenda))


def _series_meeting(
    session: DbSession, actor: Any, series: MeetingSeries, day: date, agenda: list[AgendaInput]
) -> Meeting:
    data = MeetingInput(
        title=series.title,
        starts_at=local_start(session, series.network_id, day, series.local_time),
        duration_minutes=series.duration_minutes,
        place=series.place,
        online_link=series.online_link,
        agenda=agenda,
    )
    return create_meeting(session, actor, series.network_id, data, series_id=series.id)


def schedule_next(session: DbSession, actor: Any, series_id: str) -> Meeting:
    """The series' next meeting, the first occurrence after its latest one (or from today)."""
    series = get_by_id(session, MeetingSeries, series_id)
    if series is None or not runs(actor, series.network_id):
        record_denial(actor, "meeting_series", str(series_id), session)
        raise NotFound("series")
    if series.recurrence == "one_off":
        raise Conflict("one_off_series")
    latest = session.scalar(select(func.max(Meeting.starts_at)).where(Meeting.series_id == series.id))
    tz = zone_for(session, series.network_id)
    after = today_in(session, series.network_id)
    if latest is not None:
        after = max(after, latest.astimezone(tz).date() + timedelta(days=1))
    return _series_meeting(session, actor, series, next_occurrence(series, after), [])


def list_meetings(
    session: DbSession,
    actor: Any,
    *,
    network_id: str | None = None,
    first: date | None = None,
    last: date | None = None,
    limit: int = 200,
    audit: bool = True,
    before: tuple[datetime, str] | None = None,
) -> list[Meeting]:
    """The meetings of the networks `actor` reads, by start (from `first` to `last`, UTC days)."""
    stmt = _scope_networks(select(Meeting), Meeting.network_id, readable_network_ids(session, actor))
    if network_id is not None:
        stmt = stmt.where(Meeting.network_id == network_id)
    if first is not None:
        stmt = stmt.where(Meeting.starts_at >= datetime.combine(first, time(0), tzinfo=UTC))
    if last is not None:
        stmt = stmt.where(Meeting.starts_at < datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC))
    if before is not None:
        stmt = stmt.where(
            or_(Meeting.starts_at < before[0], and_(Meeting.starts_at == before[0], Meeting.id < before[1]))
        )
    rows = list(session.scalars(stmt.order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(limit)))
    if audit:
        record("meeting.list", actor, None, network_id=network_id, count=len(rows))
    return rows


def series_of(session: DbSession, network_id: str) -> list[MeetingSeries]:
    return list(
        session.scalars(
            select(MeetingSeries).where(MeetingSeries.network_id == network_id).order_by(MeetingSeries.created_at)
        )
    )


# ------------------------------------------------------------------------------- changes
@dataclass
class MeetingChange:
    starts_at: datetime | None  # aware
    duration_minutes: int = 120
    place: str = ""
    online_link: str = ""


def _upcoming(session: DbSession, actor: Any, meeting_id: str) -> Meeting:
    """A meeting its runner may still change: scheduled, and not yet begun."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    if meeting.state == "cancelled":
        raise Conflict("meeting_cancelled")
    if meeting.starts_at <= utcnow():
        raise Conflict("meeting_held")
    return meeting


def _tell_invitees(session: DbSession, meeting: Meeting, kind: str) -> None:
    invited = list(session.scalars(select(Invitation.user_id).where(Invitation.meeting_id == meeting.id)))
    key = f"{kind}:{meeting.id}:{meeting.sequence}"
    notifications.notify(invited, notifications.Message(kind, None, "meeting", meeting.id, key=key), session)


def change_meeting(session: DbSession, actor: Any, meeting_id: str, data: MeetingChange) -> Meeting:
    """Move a meeting not yet held, or change its place or link: the minutes' reminders follow
    the new time, the calendar file gets a new sequence, and every invitee is told once."""
    meeting = _upcoming(session, actor, meeting_id)
    now = utcnow()
    problems = _meeting_problems(
        MeetingInput(meeting.title, data.starts_at, data.duration_minutes, data.place, data.online_link), now
    )
    if data.starts_at is not None and data.starts_at <= now and "starts_at" not in problems:
        problems["starts_at"] = "in_the_past"
    _refuse(problems)
    assert data.starts_at is not None
    meeting.starts_at = data.starts_at.astimezone(UTC).replace(second=0, microsecond=0)
    meeting.duration_minutes = int(data.duration_minutes)
    meeting.place, meeting.online_link = data.place.strip(), data.online_link.strip()
    meeting.sequence += 1
    session.flush()
    reminders.restart_minutes(session, meeting)
    record("meeting.change", actor, meeting, network_id=meeting.network_id, sequence=meeting.sequence)
    _tell_invitees(session, meeting, "meeting.changed")
    return meeting


def cancel_meeting(session: DbSession, actor: Any, meeting_id: str) -> Meeting:
    """Call off a meeting not yet held: its minutes' reminders stop, its calendar file says
    cancelled, and every invitee is told once. Its action points stay the network's."""
    meeting = _upcoming(session, actor, meeting_id)
    meeting.state = "cancelled"
    meeting.sequence += 1
    session.flush()
    reminders.stop_minutes(session, meeting)
    record("meeting.cancel", actor, meeting, network_id=meeting.network_id)
    _tell_invitees(session, meeting, "meeting.cancelled")
    return meeting


# ------------------------------------------------------------------------------- invitations
def send_invitations(session: DbSession, actor: Any, meeting_id: str) -> int:
    """Invite every representative of every member organisation not yet invited; each is told
    in the app and by e-mail once (the notification says a meeting was scheduled, nothing more)."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    if meeting.state == "cancelled":
        raise Conflict("meeting_cancelled")
    known = set(session.scalars(select(Invitation.user_id).where(Invitation.meeting_id == meeting.id)))
    new: list[str] = []
    for org_id, user_ids in sorted(representative_ids(session, meeting.network_id).items()):
        for user_id in sorted(set(user_ids) - known):
            session.add(Invitation(id=new_id(), meeting_id=meeting.id, organization_id=org_id, user_id=user_id))
            new.append(user_id)
    meeting.invitations_sent_at = utcnow()
    session.flush()
    record("meeting.invite", actor, meeting, network_id=meeting.network_id, invited=len(new))
    notifications.notify(
        new,
        notifications.Message("meeting.invitation", None, "meeting", meeting.id, key=f"invite:{meeting.id}"),
        session,
    )
    return len(new)


def invitation_of(session: DbSession, meeting_id: str, user_id: str) -> Invitation | None:
    return session.scalar(select(Invitation).where(Invitation.meeting_id == meeting_id, Invitation.user_id == user_id))


def respond(
    session: DbSession, actor: Any, meeting_id: str, response: str | None, delegate_name: str = ""
) -> Invitation:
    """An invitee's answer: attending, excused, or delegating someone (named)."""
    meeting = meeting_for(session, actor, meeting_id)
    found = invitation_of(session, meeting.id, actor.id)
    if found is None:
        raise Forbidden("not_invited")
    problems: dict[str, str] = {}
    if response not in RESPONSES or response == "pending":
        problems["response"] = "unknown"
    problems.update(_checked({"delegate_name": delegate_name}, {"delegate_name": NAME_LIMIT}))
    if response == "delegating" and not (delegate_name or "").strip():
        problems.setdefault("delegate_name", "required")
    _refuse(problems)
    found.response = str(response)
    found.delegate_name = (delegate_name or "").strip() if response == "delegating" else ""
    found.responded_at = utcnow()
    session.flush()
    record("meeting.respond", actor, meeting, network_id=meeting.network_id, response=found.response)
    return found


def invitations(session: DbSession, meeting: Meeting) -> list[tuple[Invitation, str]]:
    rows = session.execute(
        select(Invitation, User.username)
        .join(User, User.id == Invitation.user_id)
        .where(Invitation.meeting_id == meeting.id)
        .order_by(Invitation.organization_id, User.username)
    )
    return [(inv, name) for inv, name in rows]


# ------------------------------------------------------------------------------- attendance
def members_of(session: DbSession, network_id: str) -> list[Organization]:
    return list(
        session.scalars(
            select(Organization)
            .join(NetworkMembership, NetworkMembership.organization_id == Organization.id)
            .where(NetworkMembership.network_id == network_id)
            .order_by(Organization.name_en)
        )
    )


def record_attendance(
    session: DbSession,
    actor: Any,
    meeting_id: str,
    organization_id: str | None,
    status: str | None,
    representative: str = "",
    role: str = "",
) -> Attendance:
    """The coordinator records, per member organisation, whether it attended, who and in what role."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    problems = _checked(
        {"representative": representative, "role": role}, {"representative": NAME_LIMIT, "role": NAME_LIMIT}
    )
    if status not in ATTENDANCE:
        problems["status"] = "unknown"
    if status == "attended" and not (representative or "").strip():
        problems.setdefault("representative", "required")
    _refuse(problems)
    members = {o.id for o in members_of(session, meeting.network_id)}
    if organization_id not in members:
        raise RuleRefused("unknown_organization", fields={"organization_id": "unknown"})
    found = session.scalar(
        select(Attendance).where(Attendance.meeting_id == meeting.id, Attendance.organization_id == organization_id)
    )
    if found is None:
        found = Attendance(id=new_id(), meeting_id=meeting.id, organization_id=organization_id, recorded_by=actor.id)
        session.add(found)
    found.status = str(status)
    found.representative = (representative or "").strip()
    found.role = (role or "").strip()
    found.recorded_by = actor.id
    found.recorded_at = utcnow()
    session.flush()
    record(
        "attendance.record",
        actor,
        meeting,
        network_id=meeting.network_id,
        attendee_organization_id=organization_id,
        status=found.status,
    )
    return found


def attendance(session: DbSession, meeting: Meeting) -> dict[str, Attendance]:
    rows = session.scalars(select(Attendance).where(Attendance.meeting_id == meeting.id))
    return {a.organization_id: a for a in rows}


@dataclass(frozen=True)
class Quorum:
    attended: int
    members: int

    @property
    def needed(self) -> int:
        return self.members // 2 + 1

    @property
    def reached(self) -> bool:
        """More than half of the member organisations attended (docs/decisions.md)."""
        return self.members > 0 and self.attended >= self.needed


def quorum(session: DbSession, meeting: Meeting) -> Quorum:
    return _quorum_of(members_of(session, meeting.network_id), attendance(session, meeting))


def _quorum_of(members: list[Organization], present: dict[str, Attendance]) -> Quorum:
    ids = {o.id for o in members}
    attended = {org for org, a in present.items() if a.status == "attended" and org in ids}
    return Quorum(len(attended), len(ids))


# ------------------------------------------------------------------------------- minutes
def _minutes_of(session: DbSession, meeting: Meeting) -> Minutes:
    found = session.scalar(
        select(Minutes).where(Minutes.meeting_id == meeting.id).order_by(Minutes.version.desc()).limit(1)
    )
    assert found is not None, "a meeting is created with its first minutes"
    return found


def current_minutes(session: DbSession, meeting: Meeting) -> Minutes:
    return _minutes_of(session, meeting)


def minutes_versions(session: DbSession, meeting: Meeting) -> list[Minutes]:
    return list(session.scalars(select(Minutes).where(Minutes.meeting_id == meeting.id).order_by(Minutes.version)))


def _writes_minutes(actor: Any, meeting: Meeting) -> bool:
    return runs(actor, meeting.network_id) or (
        meeting.minute_taker_id is not None and meeting.minute_taker_id == actor.id
    )


def name_minute_taker(session: DbSession, actor: Any, meeting_id: str, user_id: str | None) -> Meeting:
    """The coordinator names who takes the minutes: a representative invited to the meeting, or nobody."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    if user_id:
        if invitation_of(session, meeting.id, user_id) is None:
            raise RuleRefused("not_invited", fields={"user_id": "not_invited"})
        meeting.minute_taker_id = user_id
    else:
        meeting.minute_taker_id = None
    session.flush()
    record("minutes.taker", actor, meeting, network_id=meeting.network_id, user_id=meeting.minute_taker_id)
    return meeting


def save_minutes(session: DbSession, actor: Any, meeting_id: str, entries: dict[str, tuple[str, str]]) -> Minutes:
    """Write the discussion and decisions of agenda items (`{item id: (discussion, decisions)}`).
    Only while the minutes are a draft or circulated; approved minutes are read-only."""
    meeting = meeting_for(session, actor, meeting_id)
    if not _writes_minutes(actor, meeting):
        record_denial(actor, "meeting", meeting.id, session)
        raise NotFound("meeting")
    minutes = _minutes_of(session, meeting)
    if minutes.state not in ("draft", "circulated"):
        raise Conflict("minutes_approved")
    items = {i.id for i in meeting.items}
    problems: dict[str, str] = {}
    for item_id, (discussion, decisions) in entries.items():
        if item_id not in items:
            problems[f"{item_id}.item"] = "unknown"
            continue
        for name, code in _checked({"discussion": discussion, "decisions": decisions}, {}).items():
            problems[f"{item_id}.{name}"] = code
    _refuse(problems)
    by_item = {e.agenda_item_id: e for e in minutes.entries}
    for item_id, (discussion, decisions) in entries.items():
        entry = by_item.get(item_id)
        if entry is None:
            entry = MinuteEntry(id=new_id(), minutes_id=minutes.id, agenda_item_id=item_id)
            minutes.entries.append(entry)
        entry.discussion, entry.decisions = discussion or "", decisions or ""
    session.flush()
    record("minutes.edit", actor, meeting, network_id=meeting.network_id, version=minutes.version)
    return minutes


def attendee_user_ids(session: DbSession, meeting: Meeting) -> list[str]:
    """The representatives of the organisations that attended (who may comment on the minutes)."""
    attended = [org for org, a in attendance(session, meeting).items() if a.status == "attended"]
    return sorted({u for users in representative_ids(session, meeting.network_id, attended).values() for u in users})


def circulate_minutes(session: DbSession, actor: Any, meeting_id: str) -> Minutes:
    meeting = meeting_for(session, actor, meeting_id)
    if not _writes_minutes(actor, meeting):
        record_denial(actor, "meeting", meeting.id, session)
        raise NotFound("meeting")
    minutes = _minutes_of(session, meeting)
    if minutes.state != "draft":
        raise Conflict("not_a_draft")
    minutes.state, minutes.circulated_at = "circulated", utcnow()
    session.flush()
    record("minutes.circulate", actor, meeting, network_id=meeting.network_id, version=minutes.version)
    notifications.notify(
        attendee_user_ids(session, meeting),
        notifications.Message(
            "minutes.circulated", None, "meeting", meeting.id, key=f"minutes:{minutes.id}:circulated"
        ),
        session,
    )
    return minutes


def may_comment(session: DbSession, actor: Any, meeting: Meeting) -> bool:
    return runs(actor, meeting.network_id) or actor.id in attendee_user_ids(session, meeting)


def comment_minutes(session: DbSession, actor: Any, meeting_id: str, body: str) -> MinutesComment:
    """An attendee's comment on circulated minutes."""
    meeting = meeting_for(session, actor, meeting_id)
    minutes = _minutes_of(session, meeting)
    if not may_comment(session, actor, meeting):
        raise Forbidden("not_an_attendee")
    _refuse(_checked({"body": body}, {"body": 4000}, required=("body",)))
    if minutes.state != "circulated":
        raise Conflict("not_circulated")
    found = MinutesComment(
        id=new_id(), minutes_id=minutes.id, user_id=actor.id, organization_id=actor.organization_id, body=body.strip()
    )
    session.add(found)
    session.flush()
    record("minutes.comment", actor, meeting, network_id=meeting.network_id, version=minutes.version)
    return found


def comments(session: DbSession, minutes: Minutes) -> list[tuple[MinutesComment, str]]:
    rows = session.execute(
        select(MinutesComment, User.username)
        .join(User, User.id == MinutesComment.user_id)
        .where(MinutesComment.minutes_id == minutes.id)
        .order_by(MinutesComment.created_at)
    )
    return [(c, n) for c, n in rows]


def approve_minutes(session: DbSession, actor: Any, meeting_id: str) -> Minutes:
    """The coordinator approves circulated minutes: read-only from now; the reminders stop."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    minutes = _minutes_of(session, meeting)
    if minutes.state != "circulated":
        raise Conflict("not_circulated")
    minutes.state, minutes.approved_by, minutes.approved_at = "approved", actor.id, utcnow()
    session.flush()
    reminders.stop_minutes(session, meeting)
    record("minutes.approve", actor, meeting, network_id=meeting.network_id, version=minutes.version)
    return minutes


def reopen_minutes(session: DbSession, actor: Any, meeting_id: str) -> Minutes:
    """A new version of approved minutes, as a draft copy; the approved one is kept, unchanged."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    old = _minutes_of(session, meeting)
    if old.state != "approved":
        raise Conflict("not_approved")
    old.state = "superseded"
    new = Minutes(id=new_id(), meeting_id=meeting.id, version=old.version + 1, state="draft")
    for entry in old.entries:
        new.entries.append(
            MinuteEntry(
                id=new_id(), agenda_item_id=entry.agenda_item_id, discussion=entry.discussion, decisions=entry.decisions
            )
        )
    session.add(new)
    session.flush()
    record("minutes.reopen", actor, meeting, network_id=meeting.network_id, version=new.version)
    return new


# The states of a version that was approved (a superseded one was approved, then reopened).
APPROVED_MINUTES = ("approved", "superseded")


def approved_minutes(session: DbSession, meeting: Meeting) -> Minutes | None:
    """The latest approved version (what members and the API read), if any."""
    return session.scalar(
        select(Minutes)
        .where(Minutes.meeting_id == meeting.id, Minutes.state.in_(APPROVED_MINUTES))
        .order_by(Minutes.version.desc())
        .limit(1)
    )


# ------------------------------------------------------------------------------- action points
@dataclass
class ActionPointInput:
    description: str
    owner_organization_id: str | None
    due_date: date | None
    priority: str = "medium"
    owner_user_id: str | None = None
    agenda_item_id: str | None = None


def open_action_points(session: DbSession, network_id: str, *, except_meeting: str | None = None) -> list[ActionPoint]:
    """Every open action point of the network (the first item of a meeting lists them), soonest
    due first; those agreed at `except_meeting` itself are not previous ones."""
    stmt = select(ActionPoint).where(ActionPoint.network_id == network_id, ActionPoint.status.in_(OPEN_STATUSES))
    if except_meeting is not None:
        stmt = stmt.where(ActionPoint.meeting_id != except_meeting)
    return list(session.scalars(stmt.order_by(ActionPoint.due_date, ActionPoint.created_at, ActionPoint.id)))


def overdue_action_points(session: DbSession, network_id: str, now: datetime | None = None) -> list[ActionPoint]:
    today = today_in(session, network_id, now)
    return [a for a in open_action_points(session, network_id) if a.due_date < today]


def meeting_action_points(session: DbSession, meeting: Meeting) -> list[ActionPoint]:
    return list(
        session.scalars(
            select(ActionPoint).where(ActionPoint.meeting_id == meeting.id).order_by(ActionPoint.created_at)
        )
    )


def create_action_point(session: DbSession, actor: Any, meeting_id: str, data: ActionPointInput) -> ActionPoint:
    """An action point agreed at a meeting (from one of its items); its reminder ladder starts."""
    meeting = meeting_for(session, actor, meeting_id, write=True)
    problems = _checked({"description": data.description}, {"description": 2000}, required=("description",))
    if data.priority not in PRIORITIES:
        problems["priority"] = "unknown"
    if data.due_date is None:
        problems["due_date"] = "required"
    if data.owner_organization_id is None:
        problems["owner_organization_id"] = "required"
    _refuse(problems)
    assert data.due_date is not None
    rules: dict[str, str] = {}
    members = {o.id for o in members_of(session, meeting.network_id)}
    if data.owner_organization_id not in members:
        rules["owner_organization_id"] = "unknown"
    if data.owner_user_id:
        person = get_by_id(session, User, data.owner_user_id)
        if person is None or person.organization_id != data.owner_organization_id or not person.active:
            rules["owner_user_id"] = "unknown"
    if data.agenda_item_id and data.agenda_item_id not in {i.id for i in meeting.items}:
        rules["agenda_item_id"] = "unknown"
    if data.due_date < meeting.starts_at.astimezone(zone_for(session, meeting.network_id)).date():
        rules["due_date"] = "before_meeting"
    if rules:
        raise RuleRefused("rule_refused", fields=rules)
    found = ActionPoint(
        id=new_id(),
        network_id=meeting.network_id,
        meeting_id=meeting.id,
        agenda_item_id=data.agenda_item_id or None,
        description=data.description.strip(),
        owner_organization_id=str(data.owner_organization_id),
        owner_user_id=data.owner_user_id or None,
        due_date=data.due_date,
        priority=data.priority,
        created_by=actor.id,
    )
    session.add(found)
    session.flush()
    record("action_point.create", actor, found, network_id=meeting.network_id, meeting_id=meeting.id)
    reminders.start_action_point(session, found)
    told = (
        [found.owner_user_id]
        if found.owner_user_id
        else representative_ids(session, meeting.network_id, [found.owner_organization_id]).get(
            found.owner_organization_id, []
        )
    )
    notifications.notify(
        told,
        notifications.Message("action_point.assigned", None, "action_point", found.id, key=f"ap:{found.id}:assigned"),
        session,
    )
    return found


def may_update(session: DbSession, actor: Any, point: ActionPoint) -> bool:
    """The owner organisation's staff and the network's coordinators."""
    return runs(actor, point.network_id) or (
        getattr(actor, "organization_id", None) == point.owner_organization_id and getattr(actor, "active", False)
    )


def action_point_for(session: DbSession, actor: Any, point_id: str, *, write: bool = False) -> ActionPoint:
    point = get_by_id(session, ActionPoint, point_id)
    if (
        point is None
        or not reads(session, actor, point.network_id)
        or (write and not may_update(session, actor, point))
    ):
        record_denial(actor, "action_point", str(point_id), session)
        raise NotFound("action_point")
    return point


def update_action_point(
    session: DbSession, actor: Any, point_id: str, status: str | None, note: str | None = None
) -> ActionPoint:
    """Move an action point on (open, in progress, done, dropped) with a note. Done and dropped
    are final: the reminders stop, and it leaves the next meeting's first item."""
    point = action_point_for(session, actor, point_id, write=True)
    problems = _checked({"note": note}, {"note": 2000})
    if status not in ACTION_STATUSES:
        problems["status"] = "unknown"
    if status == "dropped" and not (note or "").strip():
        problems.setdefault("note", "required")
    _refuse(problems)
    if point.status not in OPEN_STATUSES:
        raise Conflict("action_point_closed")
    before = point.status
    point.status = str(status)
    if note is not None:
        point.status_note = note.strip()
    if point.status not in OPEN_STATUSES:
        point.closed_at = utcnow()
        reminders.stop_action_point(session, point)
    session.flush()
    record("action_point.update", actor, point, network_id=point.network_id, status_from=before, status=point.status)
    return point


@dataclass(frozen=True)
class ActionPointPage:
    items: list[ActionPoint]
    next_cursor: str | None


def list_action_points(
    session: DbSession,
    actor: Any,
    *,
    network_id: str | None = None,
    mine: bool = False,
    status: str | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    after: str | None = None,
    now: datetime | None = None,
) -> ActionPointPage:
    """The action points of the networks `actor` reads (by due date); `mine`: her organisation's."""
    stmt = _scope_networks(select(ActionPoint), ActionPoint.network_id, readable_network_ids(session, actor))
    if network_id is not None:
        stmt = stmt.where(ActionPoint.network_id == network_id)
    if mine:
        stmt = stmt.where(ActionPoint.owner_organization_id == actor.organization_id)
    if status is not None:
        stmt = stmt.where(ActionPoint.status == status)
    if overdue is not None:
        # open and past its due date in its own network's zone (one bound per network: they are few)
        bounds = [
            and_(ActionPoint.network_id == nid, ActionPoint.due_date < today_in(session, nid, now))
            for nid in session.scalars(select(Network.id))
        ]
        late = and_(ActionPoint.status.in_(OPEN_STATUSES), or_(false(), *bounds))
        stmt = stmt.where(late if overdue else ~late)
    if after:
        anchor = get_by_id(session, ActionPoint, after)
        if anchor is None:
            raise RuleRefused("bad_cursor", fields={"cursor": "unknown"})
        stmt = stmt.where(
            or_(
                ActionPoint.due_date > anchor.due_date,
                and_(ActionPoint.due_date == anchor.due_date, ActionPoint.id > anchor.id),
            )
        )
    rows = list(session.scalars(stmt.order_by(ActionPoint.due_date, ActionPoint.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    record("action_point.list", actor, None, network_id=network_id, count=len(rows))
    return ActionPointPage(rows, rows[-1].id if more and rows else None)


def is_overdue(session: DbSession, point: ActionPoint, now: datetime | None = None) -> bool:
    return point.status in OPEN_STATUSES and point.due_date < today_in(session, point.network_id, now)


# ------------------------------------------------------------------------------- engagement
@dataclass(frozen=True)
class Engagement:
    organization: Organization
    invited: int  # meetings held to which it was invited
    attended: int
    owned: int  # action points
    done_on_time: int
    overdue: int


def engagement(session: DbSession, network_id: str, now: datetime | None = None) -> list[Engagement]:
    """Per member organisation: meetings attended of those it was invited to (held ones, that is
    begun and not cancelled), action points owned, done on time, overdue. A few grouped queries."""
    now = now or utcnow()
    today = today_in(session, network_id, now)
    held = select(Meeting.id).where(
        Meeting.network_id == network_id, Meeting.state != "cancelled", Meeting.starts_at <= now
    )
    invited = dict(
        session.execute(
            select(Invitation.organization_id, func.count(func.distinct(Invitation.meeting_id)))
            .where(Invitation.meeting_id.in_(held))
            .group_by(Invitation.organization_id)
        ).all()
    )
    attended = dict(
        session.execute(
            select(Attendance.organization_id, func.count())
            .where(Attendance.meeting_id.in_(held), Attendance.status == "attended")
            .group_by(Attendance.organization_id)
        ).all()
    )
    points: dict[str, list[int]] = {}
    rows = session.execute(
        select(
            ActionPoint.owner_organization_id, ActionPoint.status, ActionPoint.due_date, ActionPoint.closed_at
        ).where(ActionPoint.network_id == network_id)
    )
    tz = zone_for(session, network_id)
    for org_id, status, due, closed_at in rows:
        tally = points.setdefault(org_id, [0, 0, 0])
        tally[0] += 1
        if status == "done" and closed_at is not None and closed_at.astimezone(tz).date() <= due:
            tally[1] += 1
        if status in OPEN_STATUSES and due < today:
            tally[2] += 1
    return [
        Engagement(
            org,
            int(invited.get(org.id, 0)),
            int(attended.get(org.id, 0)),
            *points.get(org.id, [0, 0, 0]),
        )
        for org in members_of(session, network_id)
    ]


def view_engagement(session: DbSession, actor: Any, network_id: str) -> list[Engagement]:
    net = network_for(session, actor, network_id)
    record("coordination.engagement", actor, None, network_id=net.id)
    return engagement(session, net.id)


# ------------------------------------------------------------------------------- one meeting, one network
@dataclass(frozen=True)
class MeetingView:
    meeting: Meeting
    network: Network
    review: list[ActionPoint]  # the first item's open action points
    quorum: Quorum
    attendance: dict[str, Attendance]
    minutes: Minutes
    approved: Minutes | None
    versions: list[Minutes]
    action_points: list[ActionPoint]
    invitations: list[tuple[Invitation, str]]
    members: list[Organization]


def view_meeting(session: DbSession, actor: Any, meeting_id: str) -> MeetingView:
    """Everything one meeting's page (and the API, and the meeting pack) shows; audited as a view."""
    meeting = meeting_for(session, actor, meeting_id)
    record("meeting.view", actor, meeting, network_id=meeting.network_id)
    return meeting_view(session, meeting)


def _network(session: DbSession, network_id: str) -> Network:
    found = session.get(Network, network_id)
    if found is None:
        raise NotFound("network")
    return found


def meeting_view(session: DbSession, meeting: Meeting) -> MeetingView:
    """One read of each thing the page shows (the members, the attendance and the minutes'
    versions each serve two of its parts)."""
    members = members_of(session, meeting.network_id)
    present = attendance(session, meeting)
    versions = minutes_versions(session, meeting)
    assert versions, "a meeting is created with its first minutes"
    approved = [m for m in versions if m.state in APPROVED_MINUTES]
    return MeetingView(
        meeting=meeting,
        network=_network(session, meeting.network_id),
        review=open_action_points(session, meeting.network_id, except_meeting=meeting.id),
        quorum=_quorum_of(members, present),
        attendance=present,
        minutes=versions[-1],
        approved=approved[-1] if approved else None,
        versions=versions,
        action_points=meeting_action_points(session, meeting),
        invitations=invitations(session, meeting),
        members=members,
    )


@dataclass(frozen=True)
class NetworkOverview:
    """A network's coordination at a glance (the coordinator's home page and the meeting pack)."""

    network: Network
    upcoming: list[Meeting]
    past: list[Meeting]
    open_points: list[ActionPoint]
    overdue_points: list[ActionPoint]
    awaiting_approval: list[Meeting]
    engagement: list[Engagement]


def network_overview(session: DbSession, network_id: str, now: datetime | None = None) -> NetworkOverview:
    """No access check and no audit: the caller has checked and recorded its own read."""
    now = now or utcnow()
    net = _network(session, network_id)
    meetings = list(
        session.scalars(select(Meeting).where(Meeting.network_id == network_id).order_by(Meeting.starts_at.desc()))
    )
    latest = {
        m_id: state
        for m_id, state in session.execute(
            select(Minutes.meeting_id, Minutes.state)
            .join(Meeting, Meeting.id == Minutes.meeting_id)
            .where(Meeting.network_id == network_id)
            .order_by(Minutes.version)
        )
    }
    open_points = open_action_points(session, network_id)
    today = today_in(session, network_id, now)
    return NetworkOverview(
        network=net,
        upcoming=sorted(
            (m for m in meetings if m.starts_at > now and m.state != "cancelled"), key=lambda m: m.starts_at
        ),
        past=[m for m in meetings if m.starts_at <= now],
        open_points=open_points,
        overdue_points=[a for a in open_points if a.due_date < today],
        awaiting_approval=[m for m in meetings if m.starts_at <= now and latest.get(m.id) in ("draft", "circulated")],
        engagement=engagement(session, network_id, now),
    )


def view_network(session: DbSession, actor: Any, network_id: str) -> NetworkOverview:
    net = network_for(session, actor, network_id)
    record("meeting.list", actor, None, network_id=net.id)
    return network_overview(session, net.id)


def networks_readable(session: DbSession, actor: Any) -> list[Network]:
    allowed = readable_network_ids(session, actor)
    stmt = _scope_networks(select(Network), Network.id, allowed)
    return list(session.scalars(stmt.order_by(Network.name_en)))
