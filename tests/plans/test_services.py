"""The plan's rules at the service level: progress against plan counted exactly (against numbers
worked out by hand), the checks on an activity and a delivery, the status moves, and a case code
refused wherever free text is kept."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleRefused
from referral.extensions import db
from referral.plans import services
from referral.plans.models import Activity, ActivityDelivery
from referral.text import contains_case_code
from tests.conftest import Factory
from tests.helpers.cases import user
from tests.helpers.plans import YEAR, PlanWorld, activity_input, add_activity, deliver


def _move(app: Flask, pw: PlanWorld, activity_id: str, to: str, by: Any = None) -> None:
    with app.app_context():
        services.move(db.session, user(by or pw.world.coordinator), activity_id, to)
        db.session.commit()


def test_progress_against_plan_is_counted_by_type_and_quarter(app: Flask, pw: PlanWorld, factory: Factory) -> None:
    first = add_activity(app, pw, target_participants=30)  # training, Q1 (February)
    second = add_activity(app, pw, planned_start=f"{YEAR}-05-01", planned_end=f"{YEAR}-05-01", target_participants=20)
    cancelled = add_activity(
        app,
        pw,
        activity_type="awareness_campaign",
        planned_start=f"{YEAR}-03-01",
        planned_end=f"{YEAR}-03-31",
        target_participants=100,
    )
    add_activity(
        app,
        pw,
        activity_type="joint_event",
        planned_start=f"{YEAR}-11-20",
        planned_end=f"{YEAR}-11-20",
        target_participants=50,
    )
    deliver(app, pw, first, participants={"female": {"18-24": 10, "25-59": 8}})  # 18
    deliver(app, pw, first, participants={"male": {"25-59": 12}}, completes=True)  # 12: completed, 30 in all
    deliver(app, pw, second, participants={"female": {"60+": 7}})  # ongoing, 7
    _move(app, pw, cancelled, "cancelled")
    # neither another year of the same network nor another network counts
    with app.app_context():
        services.create_plan(db.session, user(pw.world.coordinator), pw.network_id, YEAR + 1)
        db.session.commit()

    with app.app_context():
        progress = services.plan_progress(db.session, pw.network_id, YEAR)
    cells = {
        (r.activity_type, r.quarter): (r.planned, r.delivered, r.cancelled, r.target, r.participants)
        for r in progress.rows
    }
    assert cells == {
        ("training", 1): (1, 1, 0, 30, 30),
        ("training", 2): (1, 0, 0, 20, 7),
        ("awareness_campaign", 1): (0, 0, 1, 0, 0),
        ("joint_event", 4): (1, 0, 0, 50, 0),
    }
    training = progress.cell("training", None)
    assert training is not None and (training.planned, training.delivered, training.target, training.participants) == (
        2,
        1,
        50,
        37,
    )
    assert training.share_delivered == 50 and training.share_reached == 74
    quarters = {r.quarter: (r.planned, r.delivered, r.cancelled, r.target, r.participants) for r in progress.by_quarter}
    assert quarters == {1: (1, 1, 1, 30, 30), 2: (1, 0, 0, 20, 7), 3: (0, 0, 0, 0, 0), 4: (1, 0, 0, 50, 0)}
    total = progress.total
    assert (total.planned, total.delivered, total.cancelled, total.target, total.participants) == (3, 1, 1, 100, 37)

    with app.app_context():
        first_quarter = services.plan_progress(db.session, pw.network_id, YEAR, quarter=1)
        assert {(r.activity_type, r.quarter) for r in first_quarter.rows} == {
            ("training", 1),
            ("awareness_campaign", 1),
        }
        assert (first_quarter.total.planned, first_quarter.total.cancelled, first_quarter.total.participants) == (
            1,
            1,
            30,
        )
        assert [r.quarter for r in first_quarter.by_quarter] == [1]
        empty = services.plan_progress(db.session, pw.network_id, YEAR + 1)
        assert empty.rows == [] and empty.total.planned == 0
        with pytest.raises(InvalidInput):
            services.plan_progress(db.session, pw.network_id, YEAR, quarter=5)


def test_an_activity_is_checked_field_by_field(app: Flask, pw: PlanWorld, factory: Factory) -> None:
    outsider = factory.organization(factory.network())
    with app.app_context():
        coordinator = user(pw.world.coordinator)
        with pytest.raises(InvalidInput) as bad:
            services.add_activity(
                db.session,
                coordinator,
                pw.plan_id,
                activity_input(
                    pw,
                    title="  ",
                    activity_type="party",
                    planned_start="2026-02-30",
                    planned_end="",
                    governorate="atlantis",
                    target_sectors=["shelter", "spa"],
                    target_participants=-3,
                    meeting_id="not-an-id",
                ),
            )
        assert bad.value.status == 400
        assert bad.value.fields == {
            "title": "required",
            "activity_type": "unknown",
            "planned_start": "invalid_date",
            "planned_end": "required",
            "governorate": "unknown",
            "target_sectors": "unknown",
            "target_participants": "invalid_number",
            "meeting_id": "invalid",
        }
        # rules of the plan alone: a 422
        with pytest.raises(RuleRefused) as rules:
            services.add_activity(
                db.session,
                coordinator,
                pw.plan_id,
                activity_input(
                    pw,
                    responsible_organization_id=outsider.id,
                    planned_start=f"{YEAR - 1}-12-30",
                    decision_ref="Follow up NBL-2026-000009",
                ),
            )
        assert rules.value.fields == {
            "responsible_organization_id": "not_a_member",
            "planned_start": "outside_plan_year",
            "decision_ref": "case_code",
        }
        with pytest.raises(InvalidInput) as order:
            services.add_activity(
                db.session,
                coordinator,
                pw.plan_id,
                activity_input(pw, planned_start=f"{YEAR}-03-02", planned_end=f"{YEAR}-03-01"),
            )
        assert order.value.fields == {"planned_end": "end_before_start"}
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Activity)) == 0


def test_only_coordinators_make_and_change_plans(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    with app.app_context():
        for account in (pw.world.mine.supervisor, pw.world.mine.org_admin, pw.world.other.caseworker):
            with pytest.raises(Forbidden):
                services.add_activity(db.session, user(account), pw.plan_id, activity_input(pw))
            with pytest.raises(Forbidden):
                services.update_activity(db.session, user(account), activity_id, activity_input(pw, title="Changed"))
        # another network's coordinator and staff: the plan does not exist for them
        for account in (pw.stranger_coordinator, pw.stranger):
            with pytest.raises(NotFound):
                services.add_activity(db.session, user(account), pw.plan_id, activity_input(pw))
            with pytest.raises(NotFound):
                services.view_activity(db.session, user(account), activity_id)
            with pytest.raises(NotFound):
                services.create_plan(db.session, user(account), pw.network_id, YEAR + 2)
        # the national coordinator runs every network
        services.update_activity(db.session, user(pw.national), activity_id, activity_input(pw, title="Renamed"))
        with pytest.raises(RuleRefused) as twice:
            services.create_plan(db.session, user(pw.national), pw.network_id, YEAR)
        assert twice.value.fields == {"year": "plan_exists"}
        db.session.commit()
        assert db.session.get(Activity, activity_id).title == "Renamed"


def test_status_moves_follow_the_transitions(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    supervisor = pw.world.mine.supervisor
    _move(app, pw, activity_id, "ongoing", by=supervisor)
    _move(app, pw, activity_id, "suspended", by=supervisor)
    with app.app_context():
        with pytest.raises(Conflict):
            services.move(db.session, user(supervisor), activity_id, "completed")  # suspended -> completed
        with pytest.raises(Forbidden):
            services.move(db.session, user(supervisor), activity_id, "cancelled")  # the coordinator's call
        with pytest.raises(Forbidden):  # not the responsible organisation
            services.move(db.session, user(pw.world.other.supervisor), activity_id, "ongoing")
        with pytest.raises(InvalidInput):
            services.move(db.session, user(supervisor), activity_id, "finished")
    _move(app, pw, activity_id, "cancelled")
    _move(app, pw, activity_id, "planned")
    with app.app_context():
        assert db.session.get(Activity, activity_id).status == "planned"


def test_a_delivery_is_recorded_by_the_responsible_organisation_only(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    for account in (pw.world.other.supervisor, pw.world.other.org_admin, pw.world.mine.caseworker):
        with app.app_context(), pytest.raises(Forbidden):
            services.record_delivery(
                db.session, user(account), activity_id, services.DeliveryInput(delivered_from=f"{YEAR}-01-01")
            )
    with app.app_context(), pytest.raises(NotFound):
        services.record_delivery(
            db.session, user(pw.stranger), activity_id, services.DeliveryInput(delivered_from=f"{YEAR}-01-01")
        )
    deliver(app, pw, activity_id, by=pw.world.mine.org_admin)
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        assert activity.status == "ongoing"  # a planned activity that delivered is under way
        [delivery] = activity.deliveries
        assert delivery.participants == {
            "female": {"0-11": 0, "12-17": 0, "18-24": 10, "25-59": 5, "60+": 0},
            "male": {"0-11": 0, "12-17": 0, "18-24": 0, "25-59": 3, "60+": 0},
        }
        assert delivery.participants_total == 18 and delivery.organization_ids == [pw.world.other.id]


def test_a_case_code_in_a_report_is_refused_and_nothing_is_kept(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    for report in ("Follow-up of NBL-2026-000009 discussed", "الحالة nbl 2026 ٠٠٠٠٠٩ تمت متابعتها", "case HEB–2025–12"):
        with app.app_context():
            with pytest.raises(RuleRefused) as refused:
                services.record_delivery(
                    db.session,
                    user(pw.world.mine.supervisor),
                    activity_id,
                    services.DeliveryInput(delivered_from=f"{YEAR}-01-01", report=report),
                )
            assert refused.value.fields == {"report": "case_code"}
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(ActivityDelivery)) == 0
            assert db.session.get(Activity, activity_id).status == "planned"


def test_delivery_input_is_checked(app: Flask, pw: PlanWorld) -> None:
    activity_id = add_activity(app, pw)
    with app.app_context(), pytest.raises(InvalidInput) as bad:
        services.record_delivery(
            db.session,
            user(pw.world.mine.supervisor),
            activity_id,
            services.DeliveryInput(
                delivered_from="yesterday",
                participants={"female": {"18-24": "many", "25-59": -1}, "male": {"7-9": 1}},
                organization_ids=["nope"],
                report="x" * (services.REPORT_MAX + 1),
            ),
        )
    assert bad.value.fields == {
        "delivered_from": "invalid_date",
        "participants": "invalid",
        "participants.female.18-24": "invalid_number",
        "participants.female.25-59": "invalid_number",
        "organization_ids": "invalid",
        "report": "too_long_text",
    }
    with app.app_context(), pytest.raises(RuleRefused) as future:
        services.record_delivery(
            db.session,
            user(pw.world.mine.supervisor),
            activity_id,
            services.DeliveryInput(delivered_from=f"{YEAR + 1}-06-01"),
        )
    assert future.value.fields == {"delivered_from": "in_the_future"}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("NBL-2026-000009", True),
        ("see nbl-2026-9 please", True),
        ("ملف HEB/2026/000123 مغلق", True),
        ("Reference TUB 2026 ٠٠٠٠١٢", True),
        ("Training on 2026-03-01 for 25 people", False),
        ("Room B-12, call 059-123-4567", False),
        ("", False),
    ],
)
def test_what_looks_like_a_case_code(text: str, found: bool) -> None:
    assert contains_case_code(text) is found


def test_an_activity_comes_from_a_meeting_of_its_own_network_only(app: Flask, pw: PlanWorld, factory: Factory) -> None:
    from referral.coordination import services as coordination
    from referral.models_base import utcnow
    from tests.helpers import coordination as meetings

    own = meetings.meeting(app, pw.world)
    elsewhere = factory.network()
    with app.app_context():
        national = user(pw.national)
        data = coordination.MeetingInput(title="Monthly", starts_at=utcnow(), place="Hall", agenda=[])
        theirs = str(coordination.create_meeting(db.session, national, elsewhere.id, data).id)
        db.session.commit()
        coordinator = user(pw.world.coordinator)
        for unknown in (theirs, "00000000-0000-4000-8000-000000000000"):
            with pytest.raises(RuleRefused) as refused:  # a 422: the id is well formed
                services.add_activity(db.session, coordinator, pw.plan_id, activity_input(pw, meeting_id=unknown))
            assert refused.value.fields == {"meeting_id": "unknown_meeting"}
        made = services.add_activity(db.session, coordinator, pw.plan_id, activity_input(pw, meeting_id=own))
        db.session.commit()
        assert db.session.get(Activity, made.id).meeting_id == own


def test_the_meeting_page_lists_the_activities_decided_there(app: Flask, pw: PlanWorld) -> None:
    from tests.conftest import sign_in
    from tests.helpers import coordination as meetings

    own = meetings.meeting(app, pw.world)
    with app.app_context():
        made = services.add_activity(
            db.session,
            user(pw.world.coordinator),
            pw.plan_id,
            activity_input(pw, title="Joint training on safe referral", meeting_id=own, decision_ref="Decision 2"),
        )
        db.session.commit()
        activity_id = made.id
    web = app.test_client()
    sign_in(web, app, pw.world.mine.caseworker)
    page = web.get(f"/coordination/meetings/{own}").get_data(as_text=True)
    section = page.split('data-testid="meeting-activities"')[1].split("</section>")[0]
    assert "Joint training on safe referral" in section and f"/plans/activities/{activity_id}" in section
    back = web.get(f"/plans/activities/{activity_id}").get_data(as_text=True)
    assert f"/coordination/meetings/{own}" in back
