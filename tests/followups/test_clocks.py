"""Response clocks and reminder ladders: rungs written with the change that starts them,
cancelled when the clock stops, claimed by the sweeper when due and delivered once, with a
frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import time_machine
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.extensions import db
from referral.followups import clocks, notifications
from referral.followups import services as followups
from referral.followups.models import Notification, ReminderStep
from referral.models_base import utcnow
from referral.referrals.models import Referral
from tests.conftest import Account, sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, open_case, user
from tests.helpers.followups import notifications_of, sent_referral
from tests.helpers.referrals import act


def _rungs(app: Flask, target_id: str) -> dict[tuple[str, str], tuple[str, datetime]]:
    with app.app_context():
        rows = db.session.scalars(select(ReminderStep).where(ReminderStep.target_id == target_id))
        return {(r.clock, r.step): (r.state, r.due_at) for r in rows}


def _sweep_and_deliver(app: Flask, now: datetime) -> list[str]:
    with app.app_context():
        ids = clocks.sweep(db.session, now)
        db.session.commit()
        clocks.deliver_many(db.session, ids, now)  # one batch, as a worker's task delivers them
        db.session.commit()
        return ids


def test_sending_starts_the_response_ladder_and_an_answer_stops_it(app: Flask, world: World) -> None:
    referral_id = sent_referral(app, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        sent, due = referral.sent_at, referral.due_at
    assert due - sent == timedelta(hours=24)  # emergency: calendar time
    rungs = _rungs(app, referral_id)
    assert rungs == {
        ("referral_response", "half"): ("pending", sent + timedelta(hours=12)),
        ("referral_response", "target"): ("pending", due),
        ("referral_response", "twice"): ("pending", sent + timedelta(hours=48)),
    }
    act(app, world.other.supervisor, referral_id, "accepted")
    rungs = _rungs(app, referral_id)
    assert {k: v[0] for k, v in rungs.items() if k[0] == "referral_response"} == dict.fromkeys(
        [("referral_response", s) for s in ("half", "target", "twice")], "cancelled"
    )
    assert {s for (c, s), (state, _) in rungs.items() if c == "referral_completion" and state == "pending"} == {
        "half",
        "target",
        "twice",
    }
    act(app, world.other.supervisor, referral_id, "in_progress")
    act(app, world.other.supervisor, referral_id, "completed", outcome="done")
    assert all(state == "cancelled" for state, _ in _rungs(app, referral_id).values())


def test_the_ladder_climbs_focal_points_then_supervisors_then_the_coordinator(app: Flask, world: World) -> None:
    referral_id = sent_referral(app, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        sent = referral.sent_at
        referrals_assign(referral_id, world)
    assert _sweep_and_deliver(app, sent + timedelta(hours=11)) == []
    assert len(_sweep_and_deliver(app, sent + timedelta(hours=12, minutes=1))) == 1
    assert [n.kind for n in notifications_of(app, world.other.supervisor) if n.kind != "referral.received"] == [
        "referral.reminder"
    ]
    assert [n.kind for n in notifications_of(app, world.other.caseworker) if n.kind != "referral.assigned"] == [
        "referral.reminder"
    ]
    assert len(_sweep_and_deliver(app, sent + timedelta(hours=24, minutes=1))) == 1
    assert sorted(n.kind for n in notifications_of(app, world.other.supervisor) if n.kind.startswith("referral.")) == [
        "referral.escalation",
        "referral.received",
        "referral.reminder",
    ]
    assert notifications_of(app, world.coordinator) == []
    assert len(_sweep_and_deliver(app, sent + timedelta(hours=48, minutes=1))) == 1
    told = notifications_of(app, world.coordinator)
    assert [(n.kind, n.target_type) for n in told] == [("referral.escalation", "escalation")]
    assert _sweep_and_deliver(app, sent + timedelta(days=5)) == []  # every rung delivered once


def test_one_batch_tells_each_rung_its_own_people_and_skips_a_stopped_clock(app: Flask, world: World) -> None:
    """A whole ladder falling due at once (a worker back after a long outage) goes out in one
    batch, each rung to its own people; a rung whose clock stopped without cancelling it (the
    referral withdrawn by a path that did not stop the clock) is cancelled, telling nobody."""
    live, stopped = sent_referral(app, world), sent_referral(app, world)
    with app.app_context():
        sent = max(db.session.get(Referral, r).sent_at for r in (live, stopped))
        referrals_assign(live, world)
        db.session.get(Referral, stopped).state = "withdrawn"  # behind the clock's back
        db.session.commit()
    assert len(_sweep_and_deliver(app, sent + timedelta(days=3))) == 6
    rungs = {**_rungs(app, live), **{("stopped", s): v for (_c, s), v in _rungs(app, stopped).items()}}
    assert {k: v[0] for k, v in rungs.items()} == {
        ("referral_response", "half"): "sent",
        ("referral_response", "target"): "sent",
        ("referral_response", "twice"): "sent",
        ("stopped", "half"): "cancelled",
        ("stopped", "target"): "cancelled",
        ("stopped", "twice"): "cancelled",
    }

    def kinds(account: Account) -> list[tuple[str, str | None]]:
        return sorted((n.kind, n.target_id) for n in notifications_of(app, account) if n.kind in clocks.KINDS.values())

    assert kinds(world.other.supervisor) == [("referral.escalation", live), ("referral.reminder", live)]
    assert kinds(world.other.caseworker) == [("referral.reminder", live)]  # assigned: told at half only
    assert kinds(world.coordinator) == [("referral.escalation", live)]
    assert kinds(world.mine.supervisor) == [] and kinds(world.mine.caseworker) == []


def referrals_assign(referral_id: str, world: World) -> None:
    from referral.referrals import services as referrals

    referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
    db.session.commit()


def test_a_rung_is_delivered_once_however_often_it_is_run(app: Flask, world: World) -> None:
    referral_id = sent_referral(app, world)
    with app.app_context():
        sent = db.session.get(Referral, referral_id).sent_at
        later = sent + timedelta(hours=13)
        [step_id] = clocks.sweep(db.session, later)
        db.session.commit()
        first = clocks.deliver(db.session, step_id, later)
        db.session.commit()
        second = clocks.deliver(db.session, step_id, later)
        db.session.commit()
    assert first.delivered and not second.delivered
    assert [n.kind for n in notifications_of(app, world.other.supervisor)].count("referral.reminder") == 1


def test_a_batch_delivers_each_rung_once_and_one_failure_holds_back_only_its_own_rung(
    app: Flask, world: World, monkeypatch: Any
) -> None:
    referral_ids = [sent_referral(app, world) for _ in range(3)]
    with app.app_context():
        later = max(db.session.get(Referral, r).sent_at for r in referral_ids) + timedelta(hours=13)
        ids = clocks.sweep(db.session, later)
        db.session.commit()
        assert len(ids) == 3
        broken, real = ids[1], notifications.write_many

        def fails_after_writing(session: Any, deliveries: Any) -> list[Notification]:
            deliveries = list(deliveries)
            written = real(session, deliveries)
            if any(message.key == f"step:{broken}" for _users, message in deliveries):
                raise RuntimeError("the database went away mid-delivery")
            return written

        monkeypatch.setattr(notifications, "write_many", fails_after_writing)
        assert clocks.deliver_many(db.session, ids, later) == 2
        db.session.commit()
        monkeypatch.undo()
        states = {i: db.session.get(ReminderStep, i).state for i in ids}
        assert states == {ids[0]: "sent", broken: "pending", ids[2]: "sent"}  # its half-done write undone
        assert clocks.deliver_many(db.session, ids, later) == 1  # the retry: the others are no-ops
        db.session.commit()
    assert [n.kind for n in notifications_of(app, world.other.supervisor)].count("referral.reminder") == 3


def test_a_claim_that_was_never_delivered_is_claimed_again_after_it_goes_stale(app: Flask, world: World) -> None:
    referral_id = sent_referral(app, world)
    with app.app_context():
        sent = db.session.get(Referral, referral_id).sent_at
        moment = sent + timedelta(hours=13)
        assert len(clocks.sweep(db.session, moment)) == 1  # claimed; its delivery task is lost
        db.session.commit()
        assert clocks.sweep(db.session, moment + timedelta(minutes=1)) == []  # still claimed
        db.session.commit()
        assert len(clocks.sweep(db.session, moment + clocks.CLAIM_STALE + timedelta(seconds=1))) == 1
        db.session.commit()


def test_follow_up_rungs_start_stop_and_move_with_the_follow_up(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    due = utcnow() + timedelta(days=3)
    with app.app_context():
        followup = followups.create(
            db.session, user(world.mine.supervisor), case_id, followups.FollowUpInput(due_at=due, kind="call")
        )
        db.session.commit()
        followup_id, due = followup.id, followup.due_at
    rungs = _rungs(app, followup_id)
    assert rungs[("followup", "before")] == ("pending", due - timedelta(hours=24))
    assert rungs[("followup", "due")] == ("pending", due)
    assert rungs[("followup", "escalate")][1] >= due + timedelta(hours=48)
    with app.app_context():
        followups.reschedule(db.session, user(world.mine.supervisor), followup_id, due_at=due + timedelta(days=1))
        db.session.commit()
    moved = _rungs(app, followup_id)
    assert moved[("followup", "due")] == ("pending", due + timedelta(days=1))
    with app.app_context():
        followups.complete(db.session, user(world.mine.caseworker), followup_id)
        db.session.commit()
    assert all(state == "cancelled" for state, _ in _rungs(app, followup_id).values())


def test_a_follow_up_reminds_the_assignee_and_escalates_to_her_supervisor(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        followup = followups.create(
            db.session,
            user(world.mine.caseworker),
            case_id,
            followups.FollowUpInput(due_at=utcnow() + timedelta(days=2), kind="visit"),
        )
        db.session.commit()
        due = followup.due_at
    _sweep_and_deliver(app, due - timedelta(hours=23))
    _sweep_and_deliver(app, due + timedelta(minutes=1))
    assert [n.kind for n in notifications_of(app, world.mine.caseworker)] == ["followup.reminder", "followup.due"]
    assert notifications_of(app, world.mine.supervisor) == []
    _sweep_and_deliver(app, due + timedelta(days=10))
    assert [n.kind for n in notifications_of(app, world.mine.supervisor)] == ["followup.escalation"]


def test_the_coordinator_sees_case_code_organisations_and_delay_only(
    app: Flask, world: World, client: FlaskClient
) -> None:
    referral_id = sent_referral(app, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        code = referral.case_code
        referral.due_at = utcnow() - timedelta(hours=6)  # six hours past its target
        db.session.commit()
    sign_in(client, app, world.coordinator)
    page = client.get("/escalations").get_data(as_text=True)
    assert code in page and ("6 hours" in page or "6 ساعات" in page)
    for marker in (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Marker narrative", "legal representation"):
        assert marker not in page
    assert client.get(f"/referrals/{referral_id}").status_code == 404


def test_escalations_are_for_coordinators_only(app: Flask, world: World, client: FlaskClient) -> None:
    sign_in(client, app, world.mine.supervisor)
    assert client.get("/escalations").status_code == 404


def test_status_and_the_lateness_alert(app: Flask, world: World, factory: Any) -> None:
    admin = factory.user("sysadmin")
    referral_id = sent_referral(app, world)
    with app.app_context():
        sent = db.session.get(Referral, referral_id).sent_at
        moment = sent + timedelta(hours=12, minutes=6)  # the "half" rung is six minutes late
        current = clocks.status(db.session, moment)
        assert current.due_unsent == 1 and current.oldest_lag == timedelta(minutes=6)
        assert clocks.alert_if_late(db.session, moment)
        # a minute on, but never into the next hour (the alert is once per hour)
        again = min(moment + timedelta(minutes=1), moment.replace(minute=59, second=59, microsecond=0))
        assert clocks.alert_if_late(db.session, again)  # still late, same hour
        db.session.commit()
    assert [n.kind for n in notifications_of(app, admin)] == ["system.alert"]  # told once


def test_reminders_status_command(app: Flask, world: World) -> None:
    sent_referral(app, world)
    runner = app.test_cli_runner()
    with time_machine.travel(utcnow() + timedelta(hours=13)):
        result: Result = runner.invoke(args=["reminders", "status"])
        assert "due and not delivered: 1" in result.output and "last sweep: never" in result.output
        swept = runner.invoke(args=["reminders", "sweep"])
        assert "delivered 1" in swept.output
        result = runner.invoke(args=["reminders", "status"])
    assert "due and not delivered: 0" in result.output and "last sweep: 20" in result.output
