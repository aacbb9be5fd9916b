"""The coordinator's overdue referrals: each links to what she may see of it, with "remind now"
(the focal points of the receiving organisation, at most once a day)."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.models_base import utcnow
from referral.referrals.models import Referral
from tests.conftest import sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World
from tests.helpers.followups import notifications_of, sent_referral


def _overdue(app: Flask, world: World) -> tuple[str, str]:
    referral_id = sent_referral(app, world)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        referral.due_at = utcnow() - timedelta(hours=6)
        db.session.commit()
        return referral_id, referral.case_code


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_each_overdue_referral_links_to_the_coordinators_view_of_it(
    app: Flask, world: World, client: FlaskClient
) -> None:
    referral_id, code = _overdue(app, world)
    sign_in(client, app, world.coordinator)
    listing = client.get("/escalations").get_data(as_text=True)
    assert f'href="/escalations/{referral_id}"' in listing
    assert f'href="/escalations/{referral_id}"' in client.get("/").get_data(as_text=True)  # her home's list too
    answer = client.get(f"/escalations/{referral_id}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and code in page and 'data-testid="escalation-steps"' in page
    for marker in (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Marker narrative", "legal representation"):
        assert marker not in page
    with app.app_context():
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "referral.escalation_view").order_by(AuditEvent.id)
        ).all()
        assert event.case_code == code and event.actor_id == world.coordinator.id
    # answered, it is no longer hers to see; an unknown id neither
    with app.app_context():
        db.session.get(Referral, referral_id).due_at = utcnow() + timedelta(hours=1)
        db.session.commit()
    assert client.get(f"/escalations/{referral_id}").status_code == 404
    assert client.get("/escalations/not-an-id").status_code == 404
    other = app.test_client()
    sign_in(other, app, world.mine.supervisor)
    assert other.get(f"/escalations/{referral_id}").status_code == 404


def test_remind_now_from_the_list_tells_the_focal_points_once_a_day(
    app: Flask, world: World, client: FlaskClient
) -> None:
    referral_id, _code = _overdue(app, world)
    sign_in(client, app, world.coordinator)
    listing = client.get("/escalations").get_data(as_text=True)
    assert 'data-testid="remind"' in listing
    done = client.post(
        f"/home/referrals/{referral_id}/remind", data={"csrf_token": _token(listing), "back": "escalations"}
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/escalations")
    assert [n.kind for n in notifications_of(app, world.other.supervisor)][-1] == "referral.reminder"
    told = len(notifications_of(app, world.other.supervisor))
    after = client.get("/escalations").get_data(as_text=True)
    assert 'data-testid="reminded"' in after and 'data-testid="remind"' not in after
    again = client.post(
        f"/home/referrals/{referral_id}/remind", data={"csrf_token": _token(after), "back": "escalation"}
    )
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/escalations/{referral_id}")
    assert len(notifications_of(app, world.other.supervisor)) == told  # not twice the same day
