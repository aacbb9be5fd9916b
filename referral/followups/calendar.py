"""Working-time arithmetic on a network's calendar: the clocks of referral targets and escalations.

A network's calendar names its weekend days, its public holidays and its time zone. Working time
is every instant whose local calendar day (in the network's zone) is a working day, that is
neither a weekend day nor a holiday. A working day counts all of its hours: office hours are not
modelled, so "72 working hours" is three working days, whatever the hour the clock started.

Days are measured in elapsed time, not on the wall clock: a local day runs from its local
midnight to the next one, which is 23 or 25 hours on the days the zone changes its clocks. A
working day that is 23 hours long gives 23 working hours, so a clock running over it ends an
hour later on the wall clock than it would have otherwise. (In Asia/Hebron the clocks change on a
Saturday, a weekend day under the default Friday-Saturday weekend.)

The clock does not run on non-working days: adding working time to a start that falls on a
weekend day or a holiday counts from the next working day's local midnight. Adding nothing
returns the start unchanged. When the time runs out exactly at the end of a working day, the
result is that end (the first instant of the next day), not the start of the next working day.

Everything is day by day (a span of 14 working days looks at a few dozen days), never minute by
minute. All instants in and out are aware datetimes; results are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from ..models_base import DbSession, get_by_id

DEFAULT_TIME_ZONE = "Asia/Hebron"
DEFAULT_WEEKEND: frozenset[int] = frozenset({4, 5})  # Friday and Saturday (Python weekdays, Monday = 0)
WEEKDAYS = range(7)
# How far ahead the next working day is looked for: a calendar that has none in ten years is broken.
_SEARCH_LIMIT = 3660
_ZERO = timedelta(0)


def zone(key: str) -> ZoneInfo:
    """The time zone named `key` (an IANA name such as "Asia/Hebron"); ValueError if unknown."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as error:
        raise ValueError(f"unknown time zone: {key!r}") from error


@dataclass(frozen=True)
class WorkCalendar:
    """Which local days are working days, and in which zone days begin and end."""

    weekend: frozenset[int] = DEFAULT_WEEKEND
    holidays: frozenset[date] = frozenset()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIME_ZONE))

    def __post_init__(self) -> None:
        if not self.weekend <= set(WEEKDAYS):
            raise ValueError("weekend days are weekday numbers 0 (Monday) to 6 (Sunday)")
        if len(self.weekend) == len(WEEKDAYS):
            raise ValueError("a week needs at least one working day")

    # ------------------------------------------------------------------------------ days
    def is_working_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def day_start(self, day: date) -> datetime:
        """The first instant of the local day `day`, in UTC (its local midnight; where midnight
        is skipped by a clock change, the instant of the change)."""
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    def day_of(self, moment: datetime) -> date:
        """The local day holding `moment`: the day whose [start, next day's start) contains it."""
        _require_aware(moment)
        day = moment.astimezone(self.tz).date()
        if moment < self.day_start(day):
            day -= timedelta(days=1)
        elif moment >= self.day_start(day + timedelta(days=1)):
            day += timedelta(days=1)
        return day

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        for _ in range(_SEARCH_LIMIT):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no working day within ten years")

    # ------------------------------------------------------------------------------ clocks
    def add_working(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of working time has elapsed since `start`."""
        _require_aware(start)
        if amount < _ZERO:
            raise ValueError("working time cannot be negative")
        start = start.astimezone(UTC)
        if amount == _ZERO:
            return start
        day = self.day_of(start)
        if not self.is_working_day(day):
            day = self.next_working_day(day)
            start = self.day_start(day)
        remaining, moment = amount, start
        while True:
            end = self.day_start(day + timedelta(days=1))
            available = end - moment
            if remaining <= available:
                return moment + remaining
            remaining -= available
            day = self.next_working_day(day + timedelta(days=1))
            moment = self.day_start(day)

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """The working time from `a` to `b` (negative when `b` is before `a`)."""
        _require_aware(a)
        _require_aware(b)
        if b < a:
            return -self.working_between(b, a)
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        total, day, last = _ZERO, self.day_of(a), self.day_of(b)
        while day <= last:
            if self.is_working_day(day):
                begin = max(a, self.day_start(day))
                end = min(b, self.day_start(day + timedelta(days=1)))
                if end > begin:
                    total += end - begin
            day += timedelta(days=1)
        return total

    def is_working_time(self, moment: datetime) -> bool:
        return self.is_working_day(self.day_of(moment))


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime given to a working-time clock")


DEFAULT_CALENDAR = WorkCalendar()


def make_calendar(weekend: Iterable[int], holidays: Iterable[date], time_zone: str) -> WorkCalendar:
    """A calendar from stored values; an unknown zone falls back to the default one."""
    return WorkCalendar(frozenset(int(d) for d in weekend), frozenset(holidays), _stored_zone(time_zone))


def _stored_zone(time_zone: str) -> ZoneInfo:
    try:
        return zone(time_zone)
    except ValueError:
        return ZoneInfo(DEFAULT_TIME_ZONE)


def calendar_for(session: DbSession, network_id: str | None) -> WorkCalendar:
    """The calendar of a network, or the default calendar (Friday-Saturday weekend, no holidays,
    Asia/Hebron) when there is no such network."""
    from ..directory.models import Network, NetworkHoliday

    net = get_by_id(session, Network, network_id) if network_id else None
    if net is None:
        return DEFAULT_CALENDAR
    days = session.scalars(select(NetworkHoliday.day).where(NetworkHoliday.network_id == net.id))
    return make_calendar(net.weekend_days or (), days, net.time_zone)


def zone_for(session: DbSession, network_id: str | None) -> ZoneInfo:
    """A network's time zone alone (its calendar without reading the holidays)."""
    from ..directory.models import Network

    net = get_by_id(session, Network, network_id) if network_id else None
    return _stored_zone(net.time_zone) if net is not None else DEFAULT_CALENDAR.tz


def organization_zone(session: DbSession, organization_id: str) -> ZoneInfo:
    """The time zone of the network an organisation's clocks run on (`clocks.network_of`: the
    one it joined first), in one statement; the default zone when it belongs to none."""
    from ..directory.models import Network, NetworkMembership

    found = session.scalar(
        select(Network.time_zone)
        .join(NetworkMembership, NetworkMembership.network_id == Network.id)
        .where(NetworkMembership.organization_id == organization_id)
        .order_by(NetworkMembership.joined_at, NetworkMembership.network_id)
        .limit(1)
    )
    return _stored_zone(found) if found is not None else DEFAULT_CALENDAR.tz


def receiving_network_id(session: DbSession, referral: Any) -> str | None:
    """The network whose calendar the receiving side of a referral runs its clocks on.

    The receiving organisation's network when it belongs to exactly one; when it belongs to
    several, the network of the case's governorate if it is one of them, else the one it joined
    first; when it belongs to none (or the provider is outside the network), the network of the
    case's governorate. None when there is no such network (the default calendar then applies).
    """
    from ..cases.models import Case
    from ..directory.models import Network, NetworkMembership

    case = referral.case if referral.case is not None else session.get(Case, referral.case_id)
    case_network = (
        session.scalar(select(Network.id).where(Network.governorate == case.governorate)) if case is not None else None
    )
    if referral.to_organization_id is None:
        return case_network
    joined = list(
        session.scalars(
            select(NetworkMembership.network_id)
            .where(NetworkMembership.organization_id == referral.to_organization_id)
            .order_by(NetworkMembership.joined_at, NetworkMembership.network_id)
        )
    )
    if len(joined) == 1:
        return str(joined[0])
    if case_network is not None and case_network in joined:
        return str(case_network)
    return str(joined[0]) if joined else case_network


def receiving_calendar(session: DbSession, referral: Any) -> WorkCalendar:
    """The working-time calendar of a referral's receiving side (see `receiving_network_id`)."""
    return calendar_for(session, receiving_network_id(session, referral))
