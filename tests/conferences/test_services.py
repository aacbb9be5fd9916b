"""Case conferences: who may convene one and on what grounds, who takes part and sees what, and
how its actions land as follow-ups that the reminder engine delivers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from referral.audit.models import AuditEvent
from referral.cases.models import Case
from referral.conferences import services
from referral.conferences.models import CaseConference, ConferenceAction, ConferenceItem
from referral.errors import InvalidInput, NotFound
from referral.extensions import db
from referral.followups import clocks
from referral.followups import services as followups
from referral.followups.models import FollowUp, Notification, ReminderStep
from referral.models_base import utcnow
from tests.helpers.cases import open_case, user
from tests.helpers.conferences import ACTION, MINUTES, REASON, SUMMARY, Scene, convene, item_of, run
from tests.helpers.referrals import act


def _refused_fields(scene: Scene, **extra: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        convene(scene, **extra)
    return refused.value.fields


# ---------------------------------------------------------------------------------- eligibility
def test_a_high_risk_case_is_eligible_and_a_medium_one_only_on_another_ground(scene: Scene) -> None:
    conference_id = convene(scene)
    with scene.app.app_context():
        conference = db.session.get(CaseConference, conference_id)
        assert conference.state == "scheduled" and conference.chair_id == scene.world.coordinator.id
        assert [(i.case_code, i.grounds, i.minutes_allotted) for i in conference.items] == [
            (scene.code, "high_risk", 15)
        ]
    medium = open_case(scene.app, scene.world, risk_level="medium")
    with scene.app.app_context():
        code = db.session.get(Case, medium).case_code
    assert _refused_fields(scene, case_code=code) == {"grounds": "not_high_risk"}
    assert _refused_fields(scene, case_code=code, grounds="repeat_incident") == {"grounds": "no_repeat_incident"}
    assert _refused_fields(scene, case_code=code, grounds="judgement") == {"reason": "required"}
    assert convene(scene, case_code=code, grounds="judgement", reason=REASON)


def test_a_repeat_incident_within_twelve_months_makes_a_case_eligible(scene: Scene) -> None:
    medium = open_case(scene.app, scene.world, risk_level="low")
    with scene.app.app_context():
        code = db.session.get(Case, medium).case_code
    caseworker = scene.world.mine.caseworker
    run(scene.app, lambda: services.flag_repeat_incident(db.session, user(caseworker), medium, True))
    assert convene(scene, case_code=code, grounds="repeat_incident")
    with scene.app.app_context():  # a flag older than twelve months no longer counts
        case = db.session.get(Case, medium)
        case.repeat_incident_at = utcnow() - timedelta(days=366)
        assert services.eligible_grounds(case) == ["judgement"]
        db.session.commit()
    assert _refused_fields(scene, case_code=code, grounds="repeat_incident") == {"grounds": "no_repeat_incident"}
    # only the case team flags it; anyone else is told the case does not exist
    with pytest.raises(NotFound):
        run(
            scene.app,
            lambda: services.flag_repeat_incident(db.session, user(scene.world.other.supervisor), medium, True),
        )
    with scene.app.app_context():
        flagged = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "case.repeat_incident").order_by(AuditEvent.id)
            )
        )
        assert [e.case_code for e in flagged] == [code]


def test_only_a_supervisor_convenes_and_only_for_her_own_open_cases(scene: Scene) -> None:
    with pytest.raises(NotFound):
        run(
            scene.app,
            lambda: services.convene(
                db.session,
                user(scene.world.mine.caseworker),
                services.ConveneInput(case_code=scene.code, grounds="high_risk"),
            ),
        )
    foreign = open_case(scene.app, scene.world, by=scene.world.other.caseworker, risk_level="high")
    with scene.app.app_context():
        foreign_code = db.session.get(Case, foreign).case_code
    assert _refused_fields(scene, case_code=foreign_code) == {"case_code": "unknown_case"}
    assert _refused_fields(scene, case_code="NOPE-2026-000001") == {"case_code": "unknown_case"}
    assert _refused_fields(scene, starts_at=utcnow() - timedelta(hours=1)) == {"starts_at": "in_past"}
    assert _refused_fields(scene, place="", minutes_allotted=20) == {"place": "required", "minutes_allotted": "invalid"}


def test_a_supervisor_may_ask_the_coordinator_who_then_convenes_it(scene: Scene) -> None:
    conference_id = convene(scene, ask_coordinator=True, starts_at=None, place=None)
    with scene.app.app_context():
        assert db.session.get(CaseConference, conference_id).state == "requested"
    with pytest.raises(InvalidInput):  # a time and a place are needed
        run(
            scene.app,
            lambda: services.convene_requested(db.session, user(scene.world.coordinator), conference_id, None, ""),
        )
    with pytest.raises(NotFound):  # another network's coordinator does not know it exists
        run(
            scene.app,
            lambda: services.convene_requested(
                db.session, user(scene.other_coordinator), conference_id, utcnow() + timedelta(days=1), "Room"
            ),
        )
    run(
        scene.app,
        lambda: services.convene_requested(
            db.session, user(scene.world.coordinator), conference_id, utcnow() + timedelta(days=1), "Room 4"
        ),
    )
    with scene.app.app_context():
        conference = db.session.get(CaseConference, conference_id)
        assert conference.state == "scheduled" and conference.convened_by == scene.world.coordinator.id
        assert conference.requested_by == scene.world.mine.supervisor.id and conference.place == "Room 4"


# ---------------------------------------------------------------------------------- who takes part
def test_only_the_owner_the_open_referrals_and_the_chair_have_a_seat(scene: Scene) -> None:
    conference_id = convene(scene)
    w = scene.world

    def seat_of(account: object) -> str | None:
        with scene.app.app_context():
            try:
                return services.visible(db.session, user(account), conference_id)[1].role  # type: ignore[arg-type]
            except NotFound:
                return None

    assert seat_of(w.mine.supervisor) == "owner" and seat_of(w.mine.caseworker) == "owner"
    assert seat_of(w.mine.colleague) is None  # not on the case team
    assert seat_of(w.other.supervisor) == "participant"  # the referral's focal point
    assert seat_of(w.other.caseworker) is None  # the referral is not assigned to her
    assert seat_of(w.coordinator) == "chair"
    for stranger in (
        scene.third_supervisor,
        scene.third_admin,
        scene.mine_admin,
        w.other.org_admin,
        scene.other_coordinator,
        w.auditor,
        w.sysadmin,
    ):
        assert seat_of(stranger) is None, stranger.role
    # the referral ends: its organisation's seat goes with it
    act(scene.app, w.other.supervisor, scene.referral_id, "declined", reason="no_capacity")
    assert seat_of(w.other.supervisor) is None
    with scene.app.app_context():
        denials = db.session.scalar(
            select(db.func.count()).select_from(AuditEvent).where(AuditEvent.action == "access.denied")
        )
    assert denials == 0  # refusals are kept by the request edge; services only note them


def test_a_participant_sees_what_its_referral_shares_and_the_chair_sees_no_content(scene: Scene) -> None:
    conference_id = convene(scene)
    item_id = item_of(scene, conference_id)
    owner = scene.world.mine.supervisor
    run(scene.app, lambda: services.save_risk_summary(db.session, user(owner), conference_id, item_id, SUMMARY))
    with scene.app.app_context():
        conference, seat = services.view(db.session, user(scene.world.other.supervisor), conference_id)
        assert seat.shared[item_id] == frozenset({"contact", "assessment"})
        assert services.summary_readable(seat, conference.items[0])
        _conference, chair = services.view(db.session, user(scene.world.coordinator), conference_id)
        assert not services.summary_readable(chair, conference.items[0])
        assert not services.minutes_readable(conference, chair)
        assert services.actions_of(db.session, conference, chair) == {}
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "conference.view").order_by(AuditEvent.id))
        )
        assert [(e.case_code, e.details["seat"]) for e in events] == [
            (scene.code, "participant"),
            (scene.code, "chair"),
        ]
        db.session.rollback()


# ---------------------------------------------------------------------------------- actions
def test_actions_land_as_follow_ups_that_the_reminder_engine_delivers(scene: Scene) -> None:
    conference_id = convene(scene)
    item_id = item_of(scene, conference_id)
    w = scene.world
    with scene.app.app_context():
        due = followups.start_of_day(utcnow(), followups.DEFAULT_ZONE, 3) + timedelta(hours=10)
    mine = services.ActionInput(w.mine.caseworker.id, "safety_plan_review", due, f"{ACTION} (owner)")
    theirs = services.ActionInput(w.other.supervisor.id, "service_check", due, f"{ACTION} (referral)")
    run(scene.app, lambda: services.add_action(db.session, user(w.mine.supervisor), conference_id, item_id, mine))
    # the receiving organisation records its own action too
    run(scene.app, lambda: services.add_action(db.session, user(w.other.supervisor), conference_id, item_id, theirs))
    # ... but may not give one to the owning organisation's staff
    with pytest.raises(InvalidInput) as refused:
        run(
            scene.app,
            lambda: services.add_action(db.session, user(w.other.supervisor), conference_id, item_id, mine),
        )
    assert refused.value.fields == {"assignee_id": "invalid_assignee"}
    with scene.app.app_context():
        rows = list(
            db.session.scalars(
                select(FollowUp)
                .join(ConferenceAction, ConferenceAction.followup_id == FollowUp.id)
                .order_by(FollowUp.kind)
            )
        )
        by_kind = {f.kind: f for f in rows}
        assert set(by_kind) == {"safety_plan_review", "service_check"}
        ours, referral_side = by_kind["safety_plan_review"], by_kind["service_check"]
        assert (ours.organization_id, ours.referral_id, ours.case_id) == (w.mine.id, None, scene.case_id)
        assert (referral_side.organization_id, referral_side.referral_id) == (w.other.id, scene.referral_id)
        assert referral_side.note == f"{ACTION} (referral)" and ours.assignee_id == w.mine.caseworker.id
        ids = {ours.id: w.mine.caseworker.id, referral_side.id: w.other.supervisor.id}
        steps = {
            (s.target_id, s.step)
            for s in db.session.scalars(select(ReminderStep).where(ReminderStep.target_id.in_(list(ids))))
        }
        assert {(fid, "due") for fid in ids} <= steps
        # the owner sees both actions; the participant only its own
        conference, seat = services.visible(db.session, user(w.other.supervisor), conference_id)
        assert [f.id for f in services.actions_of(db.session, conference, seat)[item_id]] == [referral_side.id]
        conference, seat = services.visible(db.session, user(w.mine.supervisor), conference_id)
        assert len(services.actions_of(db.session, conference, seat)[item_id]) == 2
        db.session.rollback()
    # the sweep at the due time tells each assignee once, with the case code only
    for when in (due + timedelta(minutes=1), due + timedelta(minutes=2)):
        with scene.app.app_context():
            claimed = clocks.sweep(db.session, when)
            db.session.commit()
            clocks.deliver_many(db.session, claimed, when)
            db.session.commit()
    with scene.app.app_context():
        for followup_id, user_id in ids.items():
            told = list(
                db.session.scalars(
                    select(Notification).where(Notification.user_id == user_id, Notification.kind == "followup.due")
                )
            )
            assert len(told) == 1 and told[0].case_code == scene.code, followup_id
        actions = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "conference.action").order_by(AuditEvent.id)
            )
        )
        assert len(actions) == 2 and {e.case_code for e in actions} == {scene.code}


# ---------------------------------------------------------------------------------- the record
def test_minutes_are_read_by_participants_until_the_conference_closes(scene: Scene) -> None:
    conference_id = convene(scene)
    w = scene.world
    run(scene.app, lambda: services.save_minutes(db.session, user(w.mine.caseworker), conference_id, MINUTES))
    with pytest.raises(NotFound):  # only the owning organisation writes them
        run(scene.app, lambda: services.save_minutes(db.session, user(w.other.supervisor), conference_id, "x"))
    with pytest.raises(NotFound):
        run(scene.app, lambda: services.close(db.session, user(w.mine.caseworker), conference_id))
    with scene.app.app_context():
        conference, seat = services.visible(db.session, user(w.other.supervisor), conference_id)
        assert services.minutes_readable(conference, seat) and conference.minutes == MINUTES
        db.session.rollback()
    run(scene.app, lambda: services.close(db.session, user(w.coordinator), conference_id))
    with scene.app.app_context():
        conference, seat = services.visible(db.session, user(w.other.supervisor), conference_id)
        assert not services.minutes_readable(conference, seat)
        conference, seat = services.visible(db.session, user(w.mine.caseworker), conference_id)
        assert services.minutes_readable(conference, seat)
        db.session.rollback()
    with pytest.raises(services.InvalidTransition):  # a closed record no longer changes
        run(scene.app, lambda: services.save_minutes(db.session, user(w.mine.caseworker), conference_id, "later"))


def test_the_confidential_fields_are_encrypted_at_rest(scene: Scene) -> None:
    conference_id = convene(scene)
    medium = open_case(scene.app, scene.world, risk_level="medium")
    with scene.app.app_context():
        code = db.session.get(Case, medium).case_code
    w = scene.world
    run(
        scene.app,
        lambda: services.add_case(
            db.session,
            user(w.mine.supervisor),
            conference_id,
            services.AgendaInput(case_code=code, grounds="judgement", reason=REASON, minutes_allotted=10),
        ),
    )
    item_id = item_of(scene, conference_id)
    run(
        scene.app,
        lambda: services.save_risk_summary(db.session, user(w.mine.supervisor), conference_id, item_id, SUMMARY),
    )
    run(scene.app, lambda: services.save_minutes(db.session, user(w.mine.supervisor), conference_id, MINUTES))
    with scene.app.app_context():
        raw_items = db.session.execute(text("SELECT judgement_reason, risk_summary FROM conference_item")).all()
        raw_conference = db.session.execute(text("SELECT place, minutes FROM case_conference")).one()
        blobs = [bytes(v) for row in raw_items for v in row if v is not None] + [bytes(v) for v in raw_conference]
        assert len(blobs) == 4
        for blob in blobs:
            for marker in (SUMMARY, REASON, MINUTES, "Meeting room"):
                assert marker.encode() not in blob
        # and the ORM reads them back under the owning organisation's key
        items = {i.case_code: i for i in db.session.scalars(select(ConferenceItem))}
        assert items[code].judgement_reason == REASON and items[scene.code].risk_summary == SUMMARY
        assert db.session.get(CaseConference, conference_id).minutes == MINUTES


def test_the_receiving_side_reaches_and_closes_its_own_action(scene: Scene) -> None:
    """An action given to the receiving organisation's staff is on her day, opens from its
    reminder onto the referral, and she can mark it done; it is gone once the referral ends."""
    from referral.followups.views import target_url
    from referral.referrals.models import Referral

    conference_id = convene(scene)
    item_id = item_of(scene, conference_id)
    w = scene.world
    with scene.app.app_context():
        due = followups.start_of_day(utcnow(), followups.DEFAULT_ZONE, 2) + timedelta(hours=10)
    theirs = services.ActionInput(w.other.supervisor.id, "service_check", due, f"{ACTION} (referral)")
    run(scene.app, lambda: services.add_action(db.session, user(w.other.supervisor), conference_id, item_id, theirs))
    with scene.app.app_context():
        task = db.session.scalar(select(FollowUp).where(FollowUp.organization_id == w.other.id))
        task_id = task.id
        day = followups.my_day(db.session, user(w.other.supervisor))
        assert task_id in [f.id for f in day.overdue + day.today + day.week]
        assert followups.visible(db.session, user(w.other.supervisor), task_id).id == task_id
        with pytest.raises(NotFound):  # her colleague, not assigned and not a supervisor, does not
            followups.visible(db.session, user(w.other.caseworker), task_id)
        db.session.rollback()
    for when in (due + timedelta(minutes=1),):
        with scene.app.app_context():
            claimed = clocks.sweep(db.session, when)
            db.session.commit()
            clocks.deliver_many(db.session, claimed, when)
            db.session.commit()
    with scene.app.app_context(), scene.app.test_request_context():
        told = db.session.scalar(
            select(Notification).where(
                Notification.user_id == w.other.supervisor.id, Notification.kind == "followup.due"
            )
        )
        assert told is not None and target_url(told).endswith(f"/referrals/{scene.referral_id}")
        followups.complete(db.session, user(w.other.supervisor), task_id, note="Done")
        db.session.commit()
        assert db.session.get(FollowUp, task_id).state == "done"
        db.session.get(Referral, scene.referral_id).state = "completed"
        db.session.commit()
        with pytest.raises(NotFound):
            followups.visible(db.session, user(w.other.supervisor), task_id)
        db.session.rollback()


def test_the_seats_are_told_once_and_without_a_case_code(scene: Scene) -> None:
    """Asking tells the chair; convening tells the chair, the owner's other supervisors and the
    receiving organisation's supervisors, once each; nobody without a seat hears of it."""
    from referral.followups.notifications import text

    w = scene.world
    conference_id = convene(scene, ask_coordinator=True, starts_at=None, place=None)

    def told(kind: str) -> dict[str, int]:
        with scene.app.app_context(), scene.app.test_request_context():
            rows = db.session.scalars(select(Notification).where(Notification.kind == kind))
            found: dict[str, int] = {}
            for n in rows:
                assert n.case_code is None and n.target_id == conference_id and scene.code not in text(n)
                found[n.user_id] = found.get(n.user_id, 0) + 1
            return found

    assert told("conference.requested") == {w.coordinator.id: 1}
    assert told("conference.scheduled") == {}
    starts = utcnow() + timedelta(days=1)
    run(
        scene.app,
        lambda: services.convene_requested(db.session, user(w.coordinator), conference_id, starts, "Room 4"),
    )
    seats = told("conference.scheduled")
    assert seats.get(w.other.supervisor.id) == 1 and w.mine.supervisor.id in seats
    assert scene.third_supervisor.id not in seats and scene.other_coordinator.id not in seats
    assert w.coordinator.id not in seats  # she convened it herself
    assert set(seats.values()) == {1}
