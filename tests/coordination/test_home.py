"""The coordinators' home pages: the network coordinator's (next meeting, minutes awaiting
approval, overdue action points by organisation, plan progress this quarter, overdue referrals
with "remind now", statistics shortcuts) and the national coordinator's comparison of networks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.followups.models import Notification
from referral.models_base import utcnow
from referral.plans import services as plans
from referral.plans.models import Activity
from referral.referrals.models import Referral
from tests.conftest import Account, Factory, csrf, sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, user
from tests.helpers.coordination import action_point, meeting, name_representatives, network_id, run
from tests.helpers.followups import sent_referral
from tests.helpers.plans import YEAR, world_activity, world_plan


def _overdue_referral(app: Flask, world: World, hours: int = 6) -> tuple[str, str]:
    referral_id = sent_referral(app, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        referral.due_at = utcnow() - timedelta(hours=hours)
        db.session.commit()
        return referral_id, referral.case_code


def _page(app: Flask, account: Account) -> tuple[FlaskClient, str]:
    client = app.test_client()
    sign_in(client, app, account)
    response = client.get("/")
    assert response.status_code == 200
    return client, response.get_data(as_text=True)


def _reminders(app: Flask, referral_id: str) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification).where(
                    Notification.kind == "referral.reminder", Notification.target_id == referral_id
                )
            )
        )
        db.session.expunge_all()
        return rows


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def test_the_network_coordinator_sees_her_network_at_a_glance(app: Flask, world: World) -> None:
    name_representatives(app, world)
    past = meeting(app, world, days=-20, title="Held in spring")
    upcoming = meeting(app, world, days=5, title="The coming meeting")
    meeting(app, world, days=40, title="A later meeting")
    late = action_point(app, world, past, due=(utcnow() - timedelta(days=3)).date(), description="Map the shelters")
    action_point(app, world, past, due=(utcnow() + timedelta(days=30)).date(), description="Not yet due")
    activity = world_activity(app, world)
    with app.app_context():
        # an activity planned in this quarter, delivered and completed
        item = db.session.get(Activity, activity)
        today = date.today()
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        item.planned_start, item.planned_end = first, first
        db.session.commit()
    run(
        app,
        lambda: plans.record_delivery(
            db.session,
            user(world.coordinator),
            activity,
            plans.DeliveryInput(
                delivered_from=first.isoformat(), participants={"female": {"18-24": 7}}, completes=True
            ),
        ),
    )
    referral_id, code = _overdue_referral(app, world)

    _client, page = _page(app, world.coordinator)
    assert "The coming meeting" in page and f"/coordination/meetings/{upcoming}" in page
    assert "A later meeting" not in page.split('data-testid="next-meeting"')[1].split("</section>")[0]
    awaiting = page.split('data-testid="minutes-awaiting"')[1].split("</section>")[0]
    assert f"/coordination/meetings/{past}" in awaiting
    overdue = page.split('data-testid="overdue-points"')[1].split("</section>")[0]
    assert "Map the shelters" in overdue and f"/coordination/action-points/{late}" in overdue
    assert "Not yet due" not in overdue
    progress = page.split('data-testid="plan-progress"')[1].split("</section>")[0]
    assert "1 of 1" in progress or "1 من 1" in progress
    assert f"/plans/{world_plan(app, world)}" in progress
    referrals = page.split('data-testid="overdue-referrals"')[1].split("</table>")[0]
    assert code in referrals and f"/home/referrals/{referral_id}/remind" in referrals
    shortcuts = page.split('data-testid="statistics-shortcuts"')[1].split("</section>")[0]
    assert "/statistics/?from=" in shortcuts or "/statistics?from=" in shortcuts
    for marker in (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Marker narrative", "legal representation"):
        assert marker not in page
    assert _events(app, "coordination.home")


def test_remind_now_tells_the_focal_points_once_a_day_and_is_audited(app: Flask, world: World) -> None:
    referral_id, code = _overdue_referral(app, world)
    client, page = _page(app, world.coordinator)
    token = csrf(client, "/")
    done = client.post(f"/home/referrals/{referral_id}/remind", data={"csrf_token": token})
    assert done.status_code == 303
    told = _reminders(app, referral_id)
    assert [n.user_id for n in told] == [world.other.supervisor.id]
    assert told[0].case_code == code
    events = _events(app, "referral.remind")
    assert len(events) == 1 and events[0].actor_id == world.coordinator.id and events[0].object_id == referral_id
    assert events[0].case_code == code
    # the second time the same day: refused, nobody told again, nothing audited
    page = client.get("/").get_data(as_text=True)
    assert "Reminded today" in page or "تم التذكير اليوم" in page or f"/home/referrals/{referral_id}/remind" not in page
    again = client.post(f"/home/referrals/{referral_id}/remind", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200
    assert len(_reminders(app, referral_id)) == 1
    assert len(_events(app, "referral.remind")) == 1


def test_remind_now_is_not_found_outside_her_network_and_for_anyone_else(
    app: Flask, world: World, factory: Factory
) -> None:
    referral_id, _code = _overdue_referral(app, world)
    net = factory.network()
    stranger = factory.user("coordinator", factory.organization(net), network=net)
    for account in (stranger, world.other.supervisor, world.mine.caseworker):
        client = app.test_client()
        sign_in(client, app, account)
        token = csrf(client, "/account/")
        assert client.post(f"/home/referrals/{referral_id}/remind", data={"csrf_token": token}).status_code == 404
    assert _reminders(app, referral_id) == []
    assert _events(app, "referral.remind") == []


def test_remind_now_refuses_a_referral_not_overdue_and_hostile_ids(app: Flask, world: World) -> None:
    referral_id = sent_referral(app, world)  # sent, not yet past its target
    client = app.test_client()
    sign_in(client, app, world.coordinator)
    token = csrf(client, "/account/")
    for target in (referral_id, "not-an-id", "%00", "' OR 1=1 --", "9" * 300, "00000000-0000-0000-0000-000000000000"):
        response = client.post(f"/home/referrals/{target}/remind", data={"csrf_token": token})
        assert response.status_code == 404, target
    assert client.post(f"/home/referrals/{referral_id}/remind", data={}).status_code in (400, 403)
    assert client.get(f"/home/referrals/{referral_id}/remind").status_code == 405
    assert _reminders(app, referral_id) == []


def test_the_national_coordinator_compares_the_networks(app: Flask, world: World, factory: Factory) -> None:
    name_representatives(app, world)
    past = meeting(app, world, days=-10)
    upcoming = meeting(app, world, days=3)
    action_point(app, world, past, due=(utcnow() - timedelta(days=2)).date())
    action_point(app, world, past, due=(utcnow() + timedelta(days=20)).date())
    world_activity(app, world)
    _overdue_referral(app, world)
    quiet = factory.network()
    national = factory.user("coordinator", factory.organization(quiet))

    _client, page = _page(app, national)
    table = page.split('data-testid="network-comparison"')[1].split("</table>")[0]
    net = network_id(app, world)
    row = table.split(f'data-network="{net}"')[1].split("</tr>")[0]
    assert f"/coordination/networks/{net}" in row and f"/coordination/meetings/{upcoming}" in row
    assert 'data-col="awaiting">1<' in row
    assert 'data-col="open">2<' in row
    assert ">1</a>" in row.split('data-col="overdue"')[1].split("</td>")[0]
    assert "0 / 1" in row.split('data-col="plan"')[1].split("</td>")[0]
    assert 'data-col="referrals">1<' in row
    other = table.split(f'data-network="{quiet.id}"')[1].split("</tr>")[0]
    assert 'data-col="open">0<' in other and 'data-col="referrals">0<' in other
    assert _events(app, "coordination.national_home")


def test_other_roles_keep_their_home_and_see_no_coordination(app: Flask, world: World) -> None:
    _overdue_referral(app, world)
    for account in (world.mine.caseworker, world.other.supervisor, world.auditor):
        _client, page = _page(app, account)
        assert 'data-testid="overdue-referrals"' not in page and 'data-testid="network-comparison"' not in page


@pytest.mark.parametrize("year", [YEAR])
def test_the_home_without_any_coordination_data_still_renders(app: Flask, world: World, year: int) -> None:
    _client, page = _page(app, world.coordinator)
    assert 'data-testid="next-meeting"' in page and str(year) in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
