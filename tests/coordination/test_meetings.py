"""Network coordination: representatives, meetings and their first item, invitations and the
.ics file, attendance and quorum, the minutes' workflow, action points and their reminders,
engagement, the pages' and the API's refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import icalendar
import pytest
from flask import Flask
from sqlalchemy import select

from referral.coordination import services
from referral.coordination.models import ActionPoint, Minutes
from referral.coordination.text import looks_like_case_code
from referral.errors import Conflict, InvalidInput, NotFound
from referral.extensions import db
from referral.followups import clocks
from referral.followups.models import Notification, ReminderStep
from referral.models_base import utcnow
from tests.conftest import Account, Factory, arabic, csrf, sign_in
from tests.helpers.cases import World, open_case, user
from tests.helpers.coordination import (
    action_point,
    attended,
    meeting,
    name_representatives,
    network_id,
    run,
)


def _told(app: Flask, account: Account, kind: str) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification).where(Notification.user_id == account.id, Notification.kind == kind)
            )
        )
        db.session.expunge_all()
        return rows


def _rungs(app: Flask, target_id: str) -> dict[str, tuple[str, Any]]:
    with app.app_context():
        return {
            r.step: (r.state, r.due_at)
            for r in db.session.scalars(select(ReminderStep).where(ReminderStep.target_id == target_id))
        }


def _deliver_due(app: Flask, now: Any, target_id: str | None = None) -> list[str]:
    """Sweep and deliver what is due; the ids of the rungs of `target_id` (all, without it)."""
    with app.app_context():
        ids = clocks.sweep(db.session, now)
        db.session.commit()
        clocks.deliver_many(db.session, ids, now)
        db.session.commit()
        return [i for i in ids if target_id is None or db.session.get(ReminderStep, i).target_id == target_id]


@pytest.fixture
def team(app: Flask, world: World) -> World:
    name_representatives(app, world)
    return world


# ------------------------------------------------------------------------------- representatives
def test_an_org_admin_names_only_her_own_staff_and_everyone_in_the_network_sees_them(app: Flask, team: World) -> None:
    net = network_id(app, team)
    with app.app_context():
        rows = services.representatives(db.session, user(team.coordinator), net)
        assert {(r.organization_id, r.user_id) for r in rows} == {
            (team.mine.id, team.mine.caseworker.id),
            (team.other.id, team.other.caseworker.id),
        }
        with pytest.raises(InvalidInput) as refused:
            services.name_representative(db.session, user(team.mine.org_admin), net, team.other.caseworker.id)
        assert refused.value.fields == {"user_id": "unknown"}


# ------------------------------------------------------------------------------- meetings
def test_a_meeting_opens_with_the_review_and_invites_every_representative_once(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team, days=5)
    with app.app_context():
        view = services.view_meeting(db.session, user(team.mine.caseworker), meeting_id)
        assert [i.kind for i in view.meeting.items] == ["review", "item"]
        assert {inv.user_id for inv, _ in view.invitations} == {team.mine.caseworker.id, team.other.caseworker.id}
        assert services.send_invitations(db.session, user(team.coordinator), meeting_id) == 0  # nobody twice
        db.session.commit()
    [told] = _told(app, team.mine.caseworker, "meeting.invitation")
    assert told.case_code is None and told.target_type == "meeting" and told.target_id == meeting_id


def test_the_first_item_lists_exactly_the_open_action_points(app: Flask, team: World) -> None:
    first = meeting(app, team, days=-20)
    kept = action_point(app, team, first, description="Map the shelters' capacity")
    closed = action_point(app, team, first, description="Share the hotline poster")
    run(app, lambda: services.update_action_point(db.session, user(team.mine.caseworker), closed, "done", "Shared"))
    second = meeting(app, team, days=-1)
    agreed_now = action_point(app, team, second, description="Train the police unit")
    third = meeting(app, team, days=10)
    with app.app_context():
        coordinator = user(team.coordinator)
        assert [a.id for a in services.view_meeting(db.session, coordinator, second).review] == [kept]
        assert {a.id for a in services.view_meeting(db.session, coordinator, third).review} == {kept, agreed_now}
    run(
        app,
        lambda: services.update_action_point(db.session, user(team.coordinator), kept, "dropped", "No longer needed"),
    )
    with app.app_context():
        assert [a.id for a in services.view_meeting(db.session, user(team.coordinator), third).review] == [agreed_now]


def test_the_ics_file_parses_and_names_no_case(app: Flask, team: World, factory: Factory) -> None:
    meeting_id = meeting(app, team, days=3)
    web = app.test_client()
    sign_in(web, app, team.mine.caseworker)
    response = web.get(f"/coordination/meetings/{meeting_id}/meeting.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(response.get_data())
    [event] = cal.walk("VEVENT")
    assert str(event["uid"]) == f"meeting-{meeting_id}@shabaka"
    assert str(event["location"]) == "Governorate hall"
    with app.app_context():
        starts = db.session.get(services.Meeting, meeting_id).starts_at
    assert event.decoded("dtstart") == starts
    stranger = factory.user("caseworker", factory.organization(factory.network()))
    other = app.test_client()
    sign_in(other, app, stranger)
    assert other.get(f"/coordination/meetings/{meeting_id}/meeting.ics").status_code == 404
    assert other.get(f"/coordination/meetings/{meeting_id}").status_code == 404


def test_answers_attendance_and_quorum(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team, days=2)
    with app.app_context():
        with pytest.raises(InvalidInput) as refused:
            services.respond(db.session, user(team.mine.caseworker), meeting_id, "delegating", "")
        assert refused.value.fields == {"delegate_name": "required"}
        services.respond(db.session, user(team.mine.caseworker), meeting_id, "delegating", "Her deputy")
        coordinator = user(team.coordinator)
        services.record_attendance(db.session, coordinator, meeting_id, team.mine.id, "attended", "Deputy", "Lawyer")
        meeting_row = db.session.get(services.Meeting, meeting_id)
        q = services.quorum(db.session, meeting_row)
        members = len(services.members_of(db.session, meeting_row.network_id))
        assert (q.attended, q.members, q.reached) == (1, members, members < 2)
        services.record_attendance(db.session, coordinator, meeting_id, team.other.id, "attended", "Focal", "Director")
        assert services.quorum(db.session, meeting_row).attended == 2
        with pytest.raises(NotFound):  # a member reads the meeting, but does not record attendance
            services.record_attendance(db.session, user(team.mine.caseworker), meeting_id, team.mine.id, "absent")


# ------------------------------------------------------------------------------- minutes
def test_the_minutes_go_draft_circulated_approved_and_stay_read_only(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team)
    attended(app, team, meeting_id)
    with app.app_context():
        coordinator = user(team.coordinator)
        item = db.session.get(services.Meeting, meeting_id).items[1]
        services.save_minutes(db.session, coordinator, meeting_id, {item.id: ("We discussed", "Agreed to map")})
        with pytest.raises(Conflict):
            services.comment_minutes(db.session, user(team.other.caseworker), meeting_id, "Too early")
        services.circulate_minutes(db.session, coordinator, meeting_id)
        services.comment_minutes(db.session, user(team.other.caseworker), meeting_id, "Add the police figures")
        services.approve_minutes(db.session, coordinator, meeting_id)
        db.session.commit()
        with pytest.raises(Conflict):
            services.save_minutes(db.session, coordinator, meeting_id, {item.id: ("Changed", "")})
        db.session.rollback()
        services.reopen_minutes(db.session, coordinator, meeting_id)
        services.save_minutes(db.session, coordinator, meeting_id, {item.id: ("Corrected", "Agreed to map")})
        db.session.commit()
        versions = list(
            db.session.scalars(select(Minutes).where(Minutes.meeting_id == meeting_id).order_by(Minutes.version))
        )
        assert [(v.version, v.state) for v in versions] == [(1, "superseded"), (2, "draft")]
        assert versions[0].entries[0].discussion == "We discussed"  # the approved version is kept as it was
        approved = services.approved_minutes(db.session, db.session.get(services.Meeting, meeting_id))
        assert approved is not None and approved.version == 1
    assert len(_told(app, team.other.caseworker, "minutes.circulated")) == 1


@pytest.mark.parametrize(
    "text",
    ["See NBL-2026-000009", "case nbl-2026-9 again", "TUB – 2025 – 000123", "ABC-٢٠٢٦-٠٠٠٠٤٢", "(HEB-2026-000001)"],
)
def test_a_case_code_is_refused_in_the_minutes(app: Flask, team: World, text: str) -> None:
    assert looks_like_case_code(text)
    meeting_id = meeting(app, team)
    with app.app_context():
        item = db.session.get(services.Meeting, meeting_id).items[0]
        with pytest.raises(InvalidInput) as refused:
            services.save_minutes(db.session, user(team.coordinator), meeting_id, {item.id: ("", text)})
        assert refused.value.fields == {f"{item.id}.decisions": "case_code_refused"}


def test_ordinary_text_with_numbers_is_not_a_case_code() -> None:
    for text in ("Meeting 2026-12-03 at 10:00", "Room 12-2026", "Call 059-1234567", "ISO-9001"):
        assert not looks_like_case_code(text), text


def test_a_refused_minutes_page_keeps_the_input_and_saves_nothing(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team)
    with app.app_context():
        item_id = db.session.get(services.Meeting, meeting_id).items[1].id
    web = app.test_client()
    sign_in(web, app, team.coordinator)
    token = csrf(web, f"/coordination/meetings/{meeting_id}")
    response = web.post(
        f"/coordination/meetings/{meeting_id}/minutes",
        data={
            "csrf_token": token,
            f"discussion-{item_id}": "Kept text",
            f"decisions-{item_id}": "Refer NBL-2026-000009",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Kept text" in page and "Refer NBL-2026-000009" in page
    assert 'aria-invalid="true"' in page
    with app.app_context():
        minutes = db.session.scalars(select(Minutes).where(Minutes.meeting_id == meeting_id)).one()
        assert minutes.entries == []


# ------------------------------------------------------------------------------- reminders
def test_an_action_point_is_reminded_and_escalated_exactly_once(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team)
    due = (utcnow() + timedelta(days=14)).date()
    point_id = action_point(app, team, meeting_id, due=due)
    rungs = _rungs(app, point_id)
    assert set(rungs) == {"before", "escalate"} and all(state == "pending" for state, _ in rungs.values())
    before_at, escalate_at = rungs["before"][1], rungs["escalate"][1]
    assert before_at < escalate_at
    assert _deliver_due(app, before_at - timedelta(minutes=1), point_id) == []
    assert len(_deliver_due(app, before_at, point_id)) == 1
    assert _deliver_due(app, before_at + timedelta(minutes=5), point_id) == []  # sent: never again
    with app.app_context():  # a repeated delivery of the same rung is a no-op
        [step_id] = [
            s.id
            for s in db.session.scalars(
                select(ReminderStep).where(ReminderStep.target_id == point_id, ReminderStep.step == "before")
            )
        ]
        assert not clocks.deliver(db.session, step_id, before_at).delivered
        db.session.commit()
    assert len(_told(app, team.mine.caseworker, "action_point.reminder")) == 1  # the representative
    assert len(_deliver_due(app, escalate_at, point_id)) == 1
    assert len(_deliver_due(app, escalate_at + timedelta(hours=1), point_id)) == 0
    [escalated] = _told(app, team.coordinator, "action_point.escalation")
    assert escalated.case_code is None and escalated.target_id == point_id
    with app.app_context():
        from referral.audit.models import AuditEvent

        events = [
            e
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "followup.reminder").order_by(AuditEvent.id)
            )
            if e.details["target_id"] == point_id
        ]
        assert [(e.details["clock"], e.details["rung"], e.case_code) for e in events] == [
            ("action_point", "before", None),
            ("action_point", "escalate", None),
        ]


def test_a_failed_delivery_holds_back_only_its_own_rung(app: Flask, team: World, monkeypatch: Any) -> None:
    from referral.followups import notifications

    meeting_id = meeting(app, team)
    due = (utcnow() + timedelta(days=14)).date()
    points = [action_point(app, team, meeting_id, due=due, description=f"Task {n}") for n in range(3)]
    moment = max(_rungs(app, p)["before"][1] for p in points)
    with app.app_context():
        ids = clocks.sweep(db.session, moment)
        db.session.commit()
        ap_ids = [i for i in ids if db.session.get(ReminderStep, i).clock == "action_point"]
        assert len(ap_ids) == 3
        broken, real = ap_ids[1], notifications.write_many

        def fails(session: Any, deliveries: Any) -> list[Notification]:
            deliveries = list(deliveries)
            written = real(session, deliveries)
            if any(message.key == f"step:{broken}" for _users, message in deliveries):
                raise RuntimeError("the database went away mid-delivery")
            return written

        monkeypatch.setattr(notifications, "write_many", fails)
        assert clocks.deliver_many(db.session, ap_ids, moment) == 2
        db.session.commit()
        monkeypatch.undo()
        assert db.session.get(ReminderStep, broken).state == "pending"
        assert clocks.deliver_many(db.session, ap_ids, moment) == 1
        db.session.commit()
    assert len(_told(app, team.mine.caseworker, "action_point.reminder")) == 3


def test_a_closed_action_point_stops_its_reminders(app: Flask, team: World) -> None:
    point_id = action_point(app, team, meeting(app, team))
    run(app, lambda: services.update_action_point(db.session, user(team.mine.caseworker), point_id, "done", "Sent"))
    assert {state for state, _ in _rungs(app, point_id).values()} == {"cancelled"}
    with app.app_context(), pytest.raises(Conflict):
        services.update_action_point(db.session, user(team.mine.caseworker), point_id, "open")


def test_the_coordinator_is_reminded_3_and_7_working_days_after_unapproved_minutes(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team, days=-1)
    rungs = _rungs(app, meeting_id)
    assert set(rungs) == {"day3", "day7"}
    _deliver_due(app, rungs["day3"][1])
    _deliver_due(app, rungs["day3"][1] + timedelta(minutes=3))
    assert len(_told(app, team.coordinator, "minutes.reminder")) == 1
    attended(app, team, meeting_id)
    run(app, lambda: services.circulate_minutes(db.session, user(team.coordinator), meeting_id))
    run(app, lambda: services.approve_minutes(db.session, user(team.coordinator), meeting_id))
    assert _rungs(app, meeting_id)["day7"][0] == "cancelled"
    _deliver_due(app, rungs["day7"][1])
    assert len(_told(app, team.coordinator, "minutes.reminder")) == 1


# ------------------------------------------------------------------------------- engagement, access
def test_engagement_counts_invited_attended_owned_on_time_and_overdue(app: Flask, team: World) -> None:
    held = meeting(app, team, days=-30)
    attended(app, team, held)
    late = action_point(app, team, held, due=(utcnow() - timedelta(days=5)).date())
    on_time = action_point(app, team, held)
    run(app, lambda: services.update_action_point(db.session, user(team.mine.caseworker), on_time, "done", ""))
    net = network_id(app, team)
    with app.app_context():
        rows = {e.organization.id: e for e in services.engagement(db.session, net)}
        mine = rows[team.mine.id]
        assert (mine.invited, mine.attended, mine.owned, mine.done_on_time, mine.overdue) == (1, 1, 2, 1, 1)
        overview = services.network_overview(db.session, net)
        assert [a.id for a in overview.overdue_points] == [late]


def test_coordinators_never_reach_case_content(app: Flask, team: World) -> None:
    case_id = open_case(app, team)
    web = app.test_client()
    sign_in(web, app, team.coordinator)
    assert web.get(f"/cases/{case_id}").status_code == 404
    meeting_id = meeting(app, team)
    page = web.get(f"/coordination/meetings/{meeting_id}")
    assert page.status_code == 200
    with app.app_context():
        from referral.cases.models import Case

        code = db.session.get(Case, case_id).case_code
    assert code not in page.get_data(as_text=True)


def test_hostile_form_input_is_named_and_kept(app: Flask, team: World) -> None:
    net = network_id(app, team)
    web = app.test_client()
    sign_in(web, app, team.coordinator)
    token = csrf(web, f"/coordination/networks/{net}")
    bad = web.post(
        f"/coordination/networks/{net}/meetings",
        data={
            "csrf_token": token,
            "title": "About NBL-2026-000001",
            "day": "2026-13-45",
            "local_time": "25:99",
            "duration_minutes": "x",
            "online_link": "javascript:alert(1)",
        },
    )
    assert bad.status_code == 400 and "About NBL-2026-000001" in bad.get_data(as_text=True)
    token = csrf(web, f"/coordination/networks/{net}")
    refused = web.post(
        f"/coordination/networks/{net}/meetings",
        data={
            "csrf_token": token,
            "title": "Case NBL-2026-000001",
            "day": "2027-01-10",
            "local_time": "10:00",
            "duration_minutes": "90",
        },
    )
    refused_text = "This looks like a case code. Network records never name a case: write it without the code."
    assert refused.status_code == 400 and arabic(app, refused_text) in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(services.Meeting.id)) is None
    member = app.test_client()
    sign_in(member, app, team.mine.caseworker)
    token = csrf(member, f"/coordination/networks/{net}")
    assert (
        member.post(f"/coordination/networks/{net}/meetings", data={"csrf_token": token, "title": "X"}).status_code
        == 404
    )


# ------------------------------------------------------------------------------- API
def _token(app: Flask, account: Account) -> dict[str, str]:
    from referral.accounts import services as accounts

    _, raw = run(app, lambda: accounts.issue_token(db.session, user(account), days=1))
    return {"Authorization": f"Bearer {raw}"}


def test_the_api_schedules_reads_records_and_updates(app: Flask, team: World, factory: Factory) -> None:
    api = app.test_client()
    boss = _token(app, team.coordinator)
    starts = (utcnow() + timedelta(days=7)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "network": team.governorate,
        "title": "Monthly",
        "starts_at": starts,
        "agenda": [{"title": "Challenges", "minutes": 20}],
    }
    created = api.post("/api/v1/meetings", json=body, headers=boss)
    assert created.status_code == 201, created.get_json()
    meeting_id = created.get_json()["id"]
    assert [i["kind"] for i in created.get_json()["agenda"]] == ["review", "item"]
    assert api.post("/api/v1/meetings", json={**body, "colour": "red"}, headers=boss).get_json()["error"]["fields"] == {
        "colour": "unknown field"
    }
    hostile = api.post("/api/v1/meetings", json={**body, "title": "See NBL-2026-000009"}, headers=boss)
    assert hostile.status_code == 400 and hostile.get_json()["error"]["fields"] == {"title": "case_code_refused"}
    assert (
        api.post("/api/v1/meetings", data="{", headers={**boss, "Content-Type": "application/json"}).status_code == 400
    )
    attendance = api.post(
        f"/api/v1/meetings/{meeting_id}/attendance",
        json={"organization_id": team.mine.id, "status": "attended", "representative": "Focal"},
        headers=boss,
    )
    assert attendance.status_code == 200 and attendance.get_json()["quorum"]["attended"] == 1
    due = (utcnow() + timedelta(days=20)).date().isoformat()
    point = api.post(
        f"/api/v1/meetings/{meeting_id}/action-points",
        json={
            "description": "Map services",
            "owner_organization_id": team.mine.id,
            "due_date": due,
            "priority": "high",
        },
        headers=boss,
    )
    assert point.status_code == 201, point.get_json()
    point_id = point.get_json()["id"]
    member = _token(app, team.mine.caseworker)
    mine = api.get("/api/v1/action-points?owner=mine&status=open", headers=member).get_json()["items"]
    assert [p["id"] for p in mine] == [point_id]
    assert api.get("/api/v1/action-points?overdue=maybe", headers=member).status_code == 400
    other = _token(app, team.other.caseworker)
    assert api.patch(f"/api/v1/action-points/{point_id}", json={"status": "done"}, headers=other).status_code == 404
    done = api.patch(f"/api/v1/action-points/{point_id}", json={"status": "done", "note": "Sent"}, headers=member)
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    assert api.patch(f"/api/v1/action-points/{point_id}", json={"status": "open"}, headers=member).status_code == 409
    read = api.get(f"/api/v1/meetings/{meeting_id}", headers=member)
    assert read.status_code == 200 and read.get_json()["minutes"] is None
    listed = api.get(f"/api/v1/meetings?network={team.governorate}&from=2000-01-01", headers=member).get_json()
    assert [m["id"] for m in listed["items"]] == [meeting_id]
    stranger = _token(app, factory.user("caseworker", factory.organization(factory.network())))
    assert api.get(f"/api/v1/meetings/{meeting_id}", headers=stranger).status_code == 404
    assert api.get("/api/v1/meetings", headers=stranger).get_json()["items"] == []
    assert api.post("/api/v1/meetings", json=body, headers=member).status_code == 422  # members read only
    with app.app_context():
        assert db.session.scalar(select(ActionPoint.status).where(ActionPoint.id == point_id)) == "done"


# ------------------------------------------------------------------------------- changes
def test_a_meeting_not_yet_held_is_moved_and_its_invitees_told_once(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team, days=3)
    before = _rungs(app, meeting_id)
    with app.app_context():
        old = db.session.get(services.Meeting, meeting_id).starts_at
    moved = old + timedelta(days=2, hours=1)
    change = services.MeetingChange(starts_at=moved, duration_minutes=90, place="Municipality hall")
    run(app, lambda: services.change_meeting(db.session, user(team.coordinator), meeting_id, change))
    with app.app_context():
        found = db.session.get(services.Meeting, meeting_id)
        assert (found.starts_at, found.place, found.sequence) == (moved, "Municipality hall", 1)
    after = _rungs(app, meeting_id)
    assert set(after) == set(before) and all(after[s][0] == "pending" and after[s][1] > before[s][1] for s in after)
    assert len(_told(app, team.mine.caseworker, "meeting.changed")) == 1
    run(app, lambda: services.change_meeting(db.session, user(team.coordinator), meeting_id, change))
    assert len(_told(app, team.mine.caseworker, "meeting.changed")) == 2  # each change is news
    web = app.test_client()
    sign_in(web, app, team.mine.caseworker)
    [event] = icalendar.Calendar.from_ical(web.get(f"/coordination/meetings/{meeting_id}/meeting.ics").data).walk(
        "VEVENT"
    )
    assert int(event["sequence"]) == 2 and event.decoded("dtstart") == moved
    # the time must be a real, future one; only the network's coordinator changes it
    with pytest.raises(InvalidInput) as refused:
        run(
            app,
            lambda: services.change_meeting(
                db.session, user(team.coordinator), meeting_id, services.MeetingChange(utcnow() - timedelta(hours=1))
            ),
        )
    assert refused.value.fields == {"starts_at": "in_the_past"}
    with pytest.raises(NotFound):
        run(app, lambda: services.change_meeting(db.session, user(team.mine.org_admin), meeting_id, change))


def test_a_cancelled_meeting_stops_its_reminders_and_says_so_everywhere(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team, days=3)
    run(app, lambda: services.cancel_meeting(db.session, user(team.coordinator), meeting_id))
    assert {state for state, _due in _rungs(app, meeting_id).values()} == {"cancelled"}
    assert len(_told(app, team.mine.caseworker, "meeting.cancelled")) == 1
    for again in (
        lambda: services.cancel_meeting(db.session, user(team.coordinator), meeting_id),
        lambda: services.change_meeting(
            db.session, user(team.coordinator), meeting_id, services.MeetingChange(utcnow() + timedelta(days=9))
        ),
        lambda: services.send_invitations(db.session, user(team.coordinator), meeting_id),
    ):
        with pytest.raises(Conflict):
            run(app, again)
    web = app.test_client()
    sign_in(web, app, team.mine.caseworker)
    page = web.get(f"/coordination/meetings/{meeting_id}").get_data(as_text=True)
    assert 'data-testid="meeting-cancelled"' in page
    [event] = icalendar.Calendar.from_ical(web.get(f"/coordination/meetings/{meeting_id}/meeting.ics").data).walk(
        "VEVENT"
    )
    assert str(event["status"]) == "CANCELLED" and int(event["sequence"]) == 1
    held = meeting(app, team, days=-1)
    with pytest.raises(Conflict):  # a meeting already held is neither moved nor called off
        run(app, lambda: services.cancel_meeting(db.session, user(team.coordinator), held))


def test_the_change_form_keeps_what_was_typed_and_only_the_coordinator_has_it(app: Flask, team: World) -> None:
    meeting_id = meeting(app, team, days=3)
    coordinator = app.test_client()
    sign_in(coordinator, app, team.coordinator)
    path = f"/coordination/meetings/{meeting_id}"
    assert 'data-testid="meeting-change-form"' in coordinator.get(path).get_data(as_text=True)
    refused = coordinator.post(
        f"{path}/change",
        data={"csrf_token": csrf(coordinator, path), "day": "2026-02-30", "local_time": "25:99", "place": "Hall 7"},
    )
    assert refused.status_code == 400 and 'value="Hall 7"' in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(services.Meeting, meeting_id).sequence == 0
    member = app.test_client()
    sign_in(member, app, team.mine.caseworker)
    assert 'data-testid="meeting-change-form"' not in member.get(path).get_data(as_text=True)
    assert member.post(f"{path}/cancel", data={"csrf_token": csrf(member, path)}).status_code == 404
    done = coordinator.post(f"{path}/cancel", data={"csrf_token": csrf(coordinator, path)})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(services.Meeting, meeting_id).state == "cancelled"


def test_a_series_meets_on_its_day_each_month_and_schedules_the_next(app: Flask, team: World) -> None:
    from datetime import date

    from referral.coordination.models import MeetingSeries

    second_tuesday = MeetingSeries(recurrence="monthly_weekday", week_of_month=2, weekday=1)
    last_friday = MeetingSeries(recurrence="monthly_weekday", week_of_month=5, weekday=4)
    the_31st = MeetingSeries(recurrence="monthly_day", day_of_month=31)
    assert services.occurrence_in(second_tuesday, 2027, 3) == date(2027, 3, 9)
    assert services.occurrence_in(last_friday, 2027, 4) == date(2027, 4, 30)
    assert services.occurrence_in(the_31st, 2027, 2) == date(2027, 2, 28)  # the month's last day
    assert services.next_occurrence(second_tuesday, date(2027, 3, 10)) == date(2027, 4, 13)
    assert services.next_occurrence(the_31st, date(2027, 12, 31)) == date(2027, 12, 31)
    net = network_id(app, team)
    bad = services.SeriesInput("", "weekly", "25:00", week_of_month=7, weekday=9, duration_minutes=5)
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        services.create_series(db.session, user(team.coordinator), net, bad)
    assert set(refused.value.fields) == {"title", "recurrence", "local_time", "duration_minutes"}
    for fields, data in (
        ({"week_of_month", "weekday"}, services.SeriesInput("Monthly", "monthly_weekday", "10:00")),
        ({"day_of_month"}, services.SeriesInput("Monthly", "monthly_day", "10:00", day_of_month=32)),
        ({"first_on_or_after"}, services.SeriesInput("Once", "one_off", "10:00")),
    ):
        with app.app_context(), pytest.raises(InvalidInput) as refused:
            services.create_series(db.session, user(team.coordinator), net, data)
        assert set(refused.value.fields) == fields
    start = date.today() + timedelta(days=1)
    monthly = services.SeriesInput(
        "Monthly", "monthly_weekday", "10:00", first_on_or_after=start, week_of_month=2, weekday=1
    )
    series_id, first_id = run(
        app,
        lambda: (lambda made: (made[0].id, made[1].id))(
            services.create_series(db.session, user(team.coordinator), net, monthly)
        ),
    )
    second_id = run(app, lambda: services.schedule_next(db.session, user(team.coordinator), series_id).id)
    with app.app_context():
        first, second = (db.session.get(services.Meeting, m) for m in (first_id, second_id))
        zone = services.zone_for(db.session, net)
        days = [m.starts_at.astimezone(zone) for m in (first, second)]
        assert all(d.weekday() == 1 and 8 <= d.day <= 14 and d.strftime("%H:%M") == "10:00" for d in days)
        assert days[0].date() >= start and days[1] > days[0] and (days[1].month - days[0].month) % 12 == 1
    once = services.SeriesInput("Once", "one_off", "09:30", first_on_or_after=start)
    one_off_id = run(app, lambda: services.create_series(db.session, user(team.coordinator), net, once)[0].id)
    with pytest.raises(Conflict):
        run(app, lambda: services.schedule_next(db.session, user(team.coordinator), one_off_id))
    with pytest.raises(NotFound):
        run(app, lambda: services.schedule_next(db.session, user(team.mine.org_admin), series_id))
