"""Working time on a network's calendar: the clock arithmetic (properties and worked examples
around weekends, holidays and clock changes), referral response targets on the receiving
network's calendar, and the coordinator's calendar page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.directory import services as directory
from referral.directory.models import Network, NetworkHoliday, NetworkMembership
from referral.extensions import db
from referral.followups.calendar import DEFAULT_CALENDAR, WorkCalendar, calendar_for
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from tests.conftest import Factory, csrf, sign_in
from tests.helpers.cases import World, user
from tests.helpers.followups import send_referral

HEBRON = ZoneInfo("Asia/Hebron")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
FRI_SAT = frozenset({FRI, SAT})
HOUR = timedelta(hours=1)


def local(*parts: int, zone: ZoneInfo = HEBRON) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def hebron(moment: datetime) -> datetime:
    return moment.astimezone(HEBRON)


# ------------------------------------------------------------------------------ properties
ZONES = [ZoneInfo(k) for k in ("Asia/Hebron", "UTC", "Europe/London", "Australia/Lord_Howe")]
YEARS = (date(2026, 1, 1), date(2027, 12, 31))

calendars = st.builds(
    WorkCalendar,
    weekend=st.frozensets(st.integers(0, 6), max_size=6),
    holidays=st.frozensets(st.dates(*YEARS), max_size=40),
    tz=st.sampled_from(ZONES),
)
starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 10, 31), timezones=st.just(UTC)).map(
    lambda d: d.astimezone(UTC)
)
amounts = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))
positive = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=40))
fast = settings(max_examples=200, deadline=None)


@fast
@given(calendars, starts, amounts)
def test_the_working_time_between_start_and_result_is_the_amount_added(
    cal: WorkCalendar, start: datetime, amount: timedelta
) -> None:
    assert cal.working_between(start, cal.add_working(start, amount)) == amount


@fast
@given(calendars, starts, amounts, amounts)
def test_more_working_time_never_ends_earlier(cal: WorkCalendar, start: datetime, a: timedelta, b: timedelta) -> None:
    small, large = sorted((a, b))
    assert cal.add_working(start, small) <= cal.add_working(start, large)


@fast
@given(calendars, starts, positive)
def test_the_clock_never_stops_inside_a_non_working_day(cal: WorkCalendar, start: datetime, amount: timedelta) -> None:
    """The result is an instant of a working day, or exactly the end of a working day (the
    first instant of the next day, when that day is not a working one)."""
    result = cal.add_working(start, amount)
    day = cal.day_of(result)
    at_end_of_working_day = result == cal.day_start(day) and cal.is_working_day(day - timedelta(days=1))
    assert cal.is_working_day(day) or at_end_of_working_day
    assert result - start >= amount  # the clock never runs faster than real time


@fast
@given(calendars, starts, amounts, amounts)
def test_adding_in_two_parts_equals_adding_at_once(
    cal: WorkCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    assert cal.add_working(cal.add_working(start, a), b) == cal.add_working(start, a + b)


@fast
@given(calendars, st.dates(*YEARS))
def test_a_day_counts_in_full_if_it_is_a_working_day_and_not_at_all_otherwise(cal: WorkCalendar, day: date) -> None:
    begin, end = cal.day_start(day), cal.day_start(day + timedelta(days=1))
    expected = end - begin if day.weekday() not in cal.weekend and day not in cal.holidays else timedelta(0)
    assert cal.working_between(begin, end) == expected
    assert cal.is_working_day(day) == (expected > timedelta(0))


@fast
@given(calendars, starts, amounts, amounts)
def test_working_time_adds_up_over_consecutive_spans(
    cal: WorkCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    middle, end = start + a, start + a + b
    total = cal.working_between(start, end)
    assert total == cal.working_between(start, middle) + cal.working_between(middle, end)
    assert timedelta(0) <= total <= end - start
    assert cal.working_between(end, start) == -total


# ------------------------------------------------------------------------------ examples
def test_thursday_afternoon_plus_72_working_hours_is_tuesday_afternoon() -> None:
    start = local(2026, 12, 3, 15)  # a Thursday
    due = DEFAULT_CALENDAR.add_working(start, 72 * HOUR)
    assert hebron(due) == datetime(2026, 12, 8, 15, tzinfo=HEBRON)  # Tuesday
    assert due.tzinfo is UTC


def test_a_clock_started_on_the_weekend_runs_from_sunday_midnight() -> None:
    due = DEFAULT_CALENDAR.add_working(local(2026, 12, 4, 10), 24 * HOUR)  # Friday morning
    assert hebron(due) == datetime(2026, 12, 7, 0, tzinfo=HEBRON)  # the end of Sunday
    assert DEFAULT_CALENDAR.working_between(local(2026, 12, 4, 10), local(2026, 12, 6, 0)) == timedelta(0)


def test_time_running_out_at_the_end_of_thursday_ends_there_not_after_the_weekend() -> None:
    due = DEFAULT_CALENDAR.add_working(local(2026, 12, 3, 0), 24 * HOUR)
    assert hebron(due) == datetime(2026, 12, 4, 0, tzinfo=HEBRON)
    assert DEFAULT_CALENDAR.add_working(local(2026, 12, 4, 10), timedelta(0)) == local(2026, 12, 4, 10)


def test_fourteen_working_days_skip_two_weekends() -> None:
    due = DEFAULT_CALENDAR.add_working(local(2026, 12, 6, 9), timedelta(days=14))  # Sunday
    assert hebron(due) == datetime(2026, 12, 24, 9, tzinfo=HEBRON)  # Thursday of the third week


def test_an_eid_holiday_block_stops_the_clock() -> None:
    eid = frozenset({date(2026, 5, 26), date(2026, 5, 27), date(2026, 5, 28)})  # Tuesday to Thursday
    cal = WorkCalendar(FRI_SAT, eid, HEBRON)
    start = local(2026, 5, 25, 12)  # Monday noon
    due = cal.add_working(start, 72 * HOUR)
    # Monday 12 h, then nothing until Sunday 31 May: Sunday 24 h, Monday 24 h, Tuesday noon
    assert hebron(due) == datetime(2026, 6, 2, 12, tzinfo=HEBRON)
    assert not cal.is_working_day(date(2026, 5, 27)) and cal.is_working_day(date(2026, 5, 31))
    assert DEFAULT_CALENDAR.add_working(start, 72 * HOUR) < due


def test_a_saturday_sunday_weekend() -> None:
    cal = WorkCalendar(frozenset({SAT, SUN}), frozenset(), HEBRON)
    due = cal.add_working(local(2026, 12, 4, 15), 72 * HOUR)  # Friday afternoon is working time
    assert hebron(due) == datetime(2026, 12, 9, 15, tzinfo=HEBRON)  # Wednesday
    assert cal.is_working_day(date(2026, 12, 4)) and not cal.is_working_day(date(2026, 12, 6))


def test_clock_changes_in_hebron_count_the_hours_that_really_pass() -> None:
    """Asia/Hebron moves its clocks on a Saturday: a 23-hour day in March, 25 hours in October.
    On a Friday-only weekend Saturday is worked, and counts the hours it really has."""
    friday_only = WorkCalendar(frozenset({FRI}), frozenset(), HEBRON)
    spring = friday_only.add_working(local(2026, 3, 26, 10), 72 * HOUR)  # Thursday
    assert hebron(spring) == datetime(2026, 3, 30, 11, tzinfo=HEBRON)  # Monday, an hour later on the wall
    assert friday_only.working_between(local(2026, 3, 28, 0), local(2026, 3, 29, 0)) == 23 * HOUR
    autumn = friday_only.add_working(local(2026, 10, 22, 10), 72 * HOUR)
    assert hebron(autumn) == datetime(2026, 10, 26, 9, tzinfo=HEBRON)  # an hour earlier on the wall
    # on the default weekend the change falls on a Saturday off: wall-clock times are kept
    default = DEFAULT_CALENDAR.add_working(local(2026, 3, 26, 10), 72 * HOUR)
    assert hebron(default) == datetime(2026, 3, 31, 10, tzinfo=HEBRON)
    assert hebron(default).utcoffset() == 3 * HOUR


def test_a_calendar_refuses_what_it_cannot_count() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(frozenset(range(7)), frozenset(), HEBRON)
    with pytest.raises(ValueError):
        DEFAULT_CALENDAR.add_working(datetime(2026, 12, 3, 15), HOUR)  # naive
    with pytest.raises(ValueError):
        DEFAULT_CALENDAR.add_working(local(2026, 12, 3, 15), -HOUR)


def test_the_calendar_is_loaded_from_the_network(app: Flask, factory: Factory) -> None:
    net = factory.network()
    account = factory.user("sysadmin")
    with app.app_context():
        stored = db.session.get(Network, net.id)
        assert stored.weekend_days == [FRI, SAT] and stored.time_zone == "Asia/Hebron"
        sysadmin = user(account)
        directory.update_calendar(db.session, sysadmin, stored, weekend_days=[SUN], time_zone="Asia/Gaza")
        directory.add_holiday(db.session, sysadmin, stored, day=date(2026, 12, 25), name_ar="عيد", name_en="Holiday")
        db.session.commit()
        cal = calendar_for(db.session, net.id)
        assert cal == WorkCalendar(frozenset({SUN}), frozenset({date(2026, 12, 25)}), ZoneInfo("Asia/Gaza"))
        assert calendar_for(db.session, None) == DEFAULT_CALENDAR
        assert calendar_for(db.session, "not-a-uuid") == DEFAULT_CALENDAR


# ------------------------------------------------------------------------------ referral targets
THURSDAY_AFTERNOON = datetime(2027, 1, 7, 15, tzinfo=HEBRON)  # a Thursday, after today


def _network_of(app: Flask, world: World) -> str:
    with app.app_context():
        return str(db.session.scalar(select(Network.id).where(Network.governorate == world.governorate)))


def _set_calendar(app: Flask, network_id: str, weekend: list[int], holidays: tuple[date, ...] = ()) -> None:
    with app.app_context():
        net = db.session.get(Network, network_id)
        net.weekend_days = weekend
        for day in holidays:
            db.session.add(NetworkHoliday(network_id=net.id, day=day, name_ar="عطلة", name_en="Holiday"))
        db.session.commit()


@pytest.mark.parametrize(
    ("priority", "due"),
    [
        ("emergency", datetime(2027, 1, 8, 15, tzinfo=HEBRON)),  # 24 hours, weekend or not
        ("urgent", datetime(2027, 1, 12, 15, tzinfo=HEBRON)),  # 72 working hours: Tuesday
        ("normal", datetime(2027, 1, 27, 15, tzinfo=HEBRON)),  # 14 working days: Wednesday, two weeks on
    ],
)
def test_the_response_target_runs_by_priority_on_the_receiving_networks_calendar(
    app: Flask, world: World, priority: str, due: datetime
) -> None:
    with time_machine.travel(THURSDAY_AFTERNOON, tick=False):
        referral = send_referral(app, world, priority)
    assert referral.sent_at == THURSDAY_AFTERNOON
    assert hebron(referral.due_at) == due


def test_the_coordinators_weekend_and_holidays_move_the_target(app: Flask, world: World) -> None:
    _set_calendar(app, _network_of(app, world), [SAT, SUN], (date(2027, 1, 11),))  # a Monday holiday
    with time_machine.travel(THURSDAY_AFTERNOON, tick=False):
        urgent = send_referral(app, world, "urgent")
        emergency = send_referral(app, world, "emergency")
    # Thursday 9 h, Friday 24 h, (Saturday, Sunday, Monday off), Tuesday 24 h, Wednesday 15 h
    assert hebron(urgent.due_at) == datetime(2027, 1, 13, 15, tzinfo=HEBRON)
    assert hebron(emergency.due_at) == datetime(2027, 1, 8, 15, tzinfo=HEBRON)


def test_a_receiver_in_several_networks_runs_on_the_network_of_the_case(
    app: Flask, world: World, factory: Factory
) -> None:
    home = _network_of(app, world)
    elsewhere = factory.network()
    _set_calendar(app, elsewhere.id, [SUN])
    with app.app_context():
        db.session.add(NetworkMembership(network_id=elsewhere.id, organization_id=world.other.id))
        db.session.commit()
    with time_machine.travel(THURSDAY_AFTERNOON, tick=False):
        both = send_referral(app, world, "urgent")
    assert hebron(both.due_at) == datetime(2027, 1, 12, 15, tzinfo=HEBRON)  # the case's network: Fri-Sat
    with app.app_context():
        only = db.session.scalar(
            select(NetworkMembership).where(
                NetworkMembership.network_id == home, NetworkMembership.organization_id == world.other.id
            )
        )
        db.session.delete(only)
        db.session.commit()
    with time_machine.travel(THURSDAY_AFTERNOON, tick=False):
        single = send_referral(app, world, "urgent")
    # its only network works Friday and Saturday: Thursday 9 h, Friday, Saturday, Monday 15 h
    assert hebron(single.due_at) == datetime(2027, 1, 11, 15, tzinfo=HEBRON)
    with app.app_context():
        found = db.session.get(Referral, single.id)
        assert referrals.response_due(db.session, found, found.sent_at) == single.due_at


# ------------------------------------------------------------------------------ the calendar page
def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_the_coordinator_sets_her_networks_weekend_zone_and_holidays(
    client: FlaskClient, app: Flask, world: World
) -> None:
    network_id = _network_of(app, world)
    page = f"/networks/{network_id}/calendar"
    sign_in(client, app, world.coordinator)
    shown = client.get(page)
    assert shown.status_code == 200 and 'name="calendar-time_zone"' in shown.get_data(as_text=True)
    token = csrf(client, page)
    saved = client.post(
        page, data={"csrf_token": token, "calendar-weekend_days": ["5", "6"], "calendar-time_zone": "Asia/Gaza"}
    )
    assert saved.status_code == 302
    added = client.post(
        f"/networks/{network_id}/holidays",
        data={
            "csrf_token": token,
            "holiday-day": "2027-03-10",
            "holiday-name_ar": "عيد الفطر",
            "holiday-name_en": "Eid al-Fitr",
        },
    )
    assert added.status_code == 302
    with app.app_context():
        net = db.session.get(Network, network_id)
        assert net.weekend_days == [SAT, SUN] and net.time_zone == "Asia/Gaza"
        holiday = db.session.scalar(select(NetworkHoliday).where(NetworkHoliday.network_id == network_id))
        assert holiday.day == date(2027, 3, 10) and holiday.name_en == "Eid al-Fitr"
        holiday_id = holiday.id
    listed = client.get(page).get_data(as_text=True)
    assert "عيد الفطر" in listed and "2027-03-10" in listed
    removed = client.post(f"/networks/{network_id}/holidays/{holiday_id}/remove", data={"csrf_token": token})
    assert removed.status_code == 302
    with app.app_context():
        assert db.session.get(NetworkHoliday, holiday_id) is None
    [update] = _events(app, "network.calendar_update")
    assert update.actor_id == world.coordinator.id and update.details["weekend"] == "5,6"
    assert update.details["time_zone"] == "Asia/Gaza"
    [add] = _events(app, "network.holiday_add")
    [remove] = _events(app, "network.holiday_remove")
    assert add.object_id == remove.object_id == holiday_id and add.details["day"] == "2027-03-10"
    assert "Eid" not in str(add.details)  # ids and codes only


def test_a_refused_calendar_keeps_the_input_and_changes_nothing(client: FlaskClient, app: Flask, world: World) -> None:
    network_id = _network_of(app, world)
    page = f"/networks/{network_id}/calendar"
    sign_in(client, app, world.coordinator)
    token = csrf(client, page)
    bad_zone = client.post(
        page, data={"csrf_token": token, "calendar-weekend_days": ["4"], "calendar-time_zone": "Mars/Olympus"}
    )
    assert bad_zone.status_code == 400
    body = bad_zone.get_data(as_text=True)
    assert 'value="Mars/Olympus"' in body and 'id="calendar-time_zone-error"' in body
    every_day = client.post(
        page,
        data={"csrf_token": token, "calendar-weekend_days": [str(d) for d in range(7)], "calendar-time_zone": "UTC"},
    )
    assert every_day.status_code == 400 and 'id="calendar-weekend_days-error"' in every_day.get_data(as_text=True)
    holiday = {"csrf_token": token, "holiday-day": "2027-04-01", "holiday-name_ar": "عطلة", "holiday-name_en": "Day"}
    assert client.post(f"/networks/{network_id}/holidays", data=holiday).status_code == 302
    again = client.post(f"/networks/{network_id}/holidays", data={**holiday, "holiday-name_en": "Kept Name"})
    assert again.status_code == 400
    assert 'value="Kept Name"' in again.get_data(as_text=True)
    with app.app_context():
        net = db.session.get(Network, network_id)
        assert net.weekend_days == [FRI, SAT] and net.time_zone == "Asia/Hebron"
        assert len(list(db.session.scalars(select(NetworkHoliday)))) == 1
    assert _events(app, "network.calendar_update") == []


@pytest.mark.parametrize("who", ["other_coordinator", "caseworker"])
def test_only_the_networks_coordinator_or_a_sysadmin_may_change_it(
    client: FlaskClient, app: Flask, world: World, factory: Factory, who: str
) -> None:
    network_id = _network_of(app, world)
    with app.app_context():
        holiday = NetworkHoliday(network_id=network_id, day=date(2027, 4, 1), name_ar="عطلة", name_en="Day")
        db.session.add(holiday)
        db.session.commit()
        holiday_id = holiday.id
    if who == "other_coordinator":
        elsewhere = factory.network()
        account = factory.user("coordinator", factory.organization(elsewhere), network=elsewhere)
    else:
        account = world.mine.caseworker
    page = f"/networks/{network_id}/calendar"
    sign_in(client, app, account)
    shown = client.get(page).get_data(as_text=True)  # she may read it
    assert "عطلة" in shown
    assert 'name="calendar-time_zone"' not in shown and "/remove" not in shown
    token = csrf(client, page)
    refused = [
        client.post(page, data={"csrf_token": token, "calendar-weekend_days": ["6"], "calendar-time_zone": "UTC"}),
        client.post(
            f"/networks/{network_id}/holidays",
            data={"csrf_token": token, "holiday-day": "2027-05-01", "holiday-name_ar": "س", "holiday-name_en": "S"},
        ),
        client.post(f"/networks/{network_id}/holidays/{holiday_id}/remove", data={"csrf_token": token}),
    ]
    assert [r.status_code for r in refused] == [404, 404, 404]
    with app.app_context():
        net = db.session.get(Network, network_id)
        assert net.weekend_days == [FRI, SAT] and net.time_zone == "Asia/Hebron"
        assert [h.id for h in db.session.scalars(select(NetworkHoliday))] == [holiday_id]
    denied = _events(app, "access.denied")
    assert len(denied) == 3 and {e.actor_id for e in denied} == {account.id}


def test_a_sysadmin_may_change_any_networks_calendar(client: FlaskClient, app: Flask, world: World) -> None:
    network_id = _network_of(app, world)
    page = f"/networks/{network_id}/calendar"
    sign_in(client, app, world.sysadmin)
    token = csrf(client, page)
    saved = client.post(page, data={"csrf_token": token, "calendar-weekend_days": ["4"], "calendar-time_zone": "UTC"})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Network, network_id).weekend_days == [FRI]
