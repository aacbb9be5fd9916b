"""The demo network shows the referral loop in every state, through the real services."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from referral.accounts.models import User
from referral.demo import seed
from referral.extensions import db
from referral.followups.models import Notification
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from referral.runtime import runtime


def test_demo_referrals_cover_every_state_and_both_sides_see_them(app: Flask) -> None:
    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
        rows = db.session.scalars(select(Referral)).all()
        states = {r.state for r in rows}
        assert {"sent", "accepted", "in_progress", "completed", "declined", "withdrawn"} <= states
        users = {u.username: u for u in db.session.scalars(select(User))}
        inbox = referrals.listing(db.session, users["nbl.supervisor"], "inbox")
        outbox = referrals.listing(db.session, users["nbl.caseworker"], "outbox")
        assert inbox and outbox
        for referral in inbox:
            assert referrals.visible(db.session, users["nbl.supervisor"], referral.id).id == referral.id
        external = [r for r in rows if r.external]
        assert external and all(r.state == "accepted" and r.transitions[-1].note for r in external)
        completed = next(r for r in rows if r.state == "completed")
        assert completed.outcome and [t.to_state for t in completed.transitions][-1] == "completed"
        # the focal points were told, after the seed committed
        told = db.session.scalars(select(Notification).where(Notification.user_id == users["nbl.supervisor"].id))
        assert {n.kind for n in told} == {"referral.received"}
        told = db.session.scalars(select(Notification).where(Notification.user_id == users["nbl.mosd.supervisor"].id))
        assert {n.kind for n in told} == {"referral.received", "referral.withdrawn"}


def test_demo_networks_hold_a_year_of_meetings_action_points_and_a_plan(app: Flask) -> None:
    from datetime import timedelta

    from referral.coordination import services as coordination
    from referral.coordination.models import ActionPoint, Attendance, Meeting, Minutes, Representative
    from referral.demo_coordination import seed_coordination
    from referral.directory.models import Network, NetworkMembership
    from referral.plans import services as plans
    from referral.plans.models import Activity, ActivityDelivery

    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
        nablus = db.session.scalar(select(Network).where(Network.governorate == "nablus"))
        now = utcnow()
        meetings = db.session.scalars(
            select(Meeting).where(Meeting.network_id == nablus.id).order_by(Meeting.starts_at)
        ).all()
        past = [m for m in meetings if m.starts_at <= now]
        assert len(past) == 12 and len(meetings) == 13 and meetings[-1].starts_at > now
        assert (past[-1].starts_at - past[0].starts_at) > timedelta(days=300)
        # every past meeting has its agenda (first item the review), attendance and minutes
        for m in past:
            assert m.items[0].kind == "review" and len(m.items) >= 3
            assert db.session.scalar(select(func.count()).where(Attendance.meeting_id == m.id)) >= 8
        states = [coordination.current_minutes(db.session, m).state for m in past]
        assert states[:-1] == ["approved"] * 11 and states[-1] == "circulated"
        assert db.session.scalar(select(func.count()).where(Minutes.state == "draft")) == 2  # the next meetings
        # every member organisation has its representative
        members = set(
            db.session.scalars(
                select(NetworkMembership.organization_id).where(NetworkMembership.network_id == nablus.id)
            )
        )
        named = set(
            db.session.scalars(select(Representative.organization_id).where(Representative.network_id == nablus.id))
        )
        assert members == named
        points = db.session.scalars(select(ActionPoint).where(ActionPoint.network_id == nablus.id)).all()
        assert {p.status for p in points} >= {"done", "open"}
        assert coordination.overdue_action_points(db.session, nablus.id)
        assert any(p.status == "open" and p.due_date >= coordination.today_in(db.session, nablus.id) for p in points)
        engagement = coordination.engagement(db.session, nablus.id)
        assert sum(e.done_on_time for e in engagement) > 0 and all(e.invited == 12 for e in engagement)
        # this year's plan: delivered (with participants counted) and planned activities
        plan = plans.plan_for(db.session, nablus.id, coordination.today_in(db.session, nablus.id).year)
        assert plan is not None
        activities = db.session.scalars(select(Activity).where(Activity.plan_id == plan.id)).all()
        assert {a.status for a in activities} >= {"completed", "planned"}
        assert db.session.scalar(select(func.count()).select_from(ActivityDelivery)) >= 4
        total = plans.plan_progress(db.session, nablus.id, plan.year).total
        assert 0 < total.delivered < total.planned and total.participants > 0
        # the other networks are left without coordination history
        tubas = db.session.scalar(select(Network).where(Network.governorate == "tubas"))
        assert db.session.scalar(select(func.count()).where(Meeting.network_id == tubas.id)) == 0
        # seeding again changes nothing
        assert seed_coordination(db.session, runtime(), {"nablus": "NBL"}, {"nablus": {"legal": "x"}}) == 0
        # no flood: the past year's meetings told nobody; the next meeting invited each representative once
        invited = db.session.scalars(select(Notification).where(Notification.kind == "meeting.invitation")).all()
        assert len(invited) == len({(n.user_id, n.target_id) for n in invited}) <= 2 * len(members) + 2
        assert len({n.target_id for n in invited}) == 2  # the next meeting of each demo network
        kinds = {n.kind for n in db.session.scalars(select(Notification)) if not n.kind.startswith("referral.")}
        assert kinds == {"meeting.invitation"}


def test_the_demo_clocks_follow_its_dates_so_the_overdue_emergency_escalates(app: Flask) -> None:
    from datetime import timedelta

    from referral.followups import clocks
    from referral.followups.models import FollowUp, ReminderStep

    def sweep_at(now: object) -> None:
        ids = clocks.sweep(db.session, now)  # what the beat's task runs
        db.session.commit()
        clocks.deliver_many(db.session, ids, now)  # what the delivery task runs
        db.session.commit()

    def told(username: str, referral_id: str) -> list[tuple[str, str | None]]:
        rows = db.session.scalars(
            select(Notification).where(
                Notification.user_id == users[username].id, Notification.case_code == codes[referral_id]
            )
        )
        return sorted((n.kind, n.target_type) for n in rows)

    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
        now = utcnow()
        users = {u.username: u for u in db.session.scalars(select(User))}
        rows = db.session.scalars(select(Referral)).all()
        codes = {r.id: r.case_code for r in rows}
        [emergency] = [
            r for r in rows if r.priority == "emergency" and r.state == "sent" and r.case_code.startswith("NBL")
        ]
        assert emergency.due_at < now - timedelta(hours=23)  # shown a day overdue
        rungs = {
            s.step: s.due_at
            for s in db.session.scalars(
                select(ReminderStep).where(
                    ReminderStep.target_id == emergency.id, ReminderStep.clock == "referral_response"
                )
            )
        }
        assert rungs["half"] == emergency.sent_at + timedelta(hours=12) and rungs["target"] == emergency.due_at
        assert now < rungs["twice"] < now + timedelta(minutes=10)  # the coordinator in the first minutes
        # every other seeded referral's rungs moved with its dates too
        for referral in rows:
            for step in db.session.scalars(select(ReminderStep).where(ReminderStep.target_id == referral.id)):
                if step.clock == "referral_response" and step.step == "target":
                    assert step.due_at == referral.due_at, referral.case_code

        sweep_at(now)
        assert told("nbl.mosd.supervisor", emergency.id) == [
            ("referral.escalation", "referral"),  # at the target (her organisation's supervisors)
            ("referral.received", "referral"),
            ("referral.reminder", "referral"),  # at half the target (the focal points)
        ]
        assert told("coord.nablus", emergency.id) == []
        # the overdue follow-ups told their caseworker at the first sweep; their escalation waits
        overdue = db.session.scalars(
            select(FollowUp).where(FollowUp.assignee_id == users["nbl.caseworker"].id, FollowUp.due_at < now)
        ).all()
        assert len(overdue) == 2
        due_told = db.session.scalars(
            select(Notification).where(
                Notification.user_id == users["nbl.caseworker"].id, Notification.kind == "followup.due"
            )
        ).all()
        assert sorted(n.case_code or "" for n in due_told) == sorted(f.case_code for f in overdue)
        for followup in overdue:
            escalate = db.session.scalar(
                select(ReminderStep.due_at).where(
                    ReminderStep.target_id == followup.id, ReminderStep.step == "escalate"
                )
            )
            assert escalate is not None and escalate > followup.due_at

        sweep_at(rungs["twice"] + timedelta(seconds=1))
        assert told("coord.nablus", emergency.id) == [("referral.escalation", "escalation")]
