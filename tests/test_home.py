"""The home pages of the supervisor (focal point) and the caseworker: figures that count what
their lists show, each linking to the list filtered to it."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from referral.extensions import db
from referral.followups.models import FollowUp
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from tests.conftest import sign_in
from tests.helpers.cases import World, open_case, user
from tests.helpers.followups import add_followup
from tests.helpers.referrals import act, consent, refer


def _count(html: str, key: str) -> int:
    found = re.search(rf'data-testid="count-{key}">(\d+)<', html)
    assert found is not None, key
    return int(found.group(1))


def _link(html: str, key: str) -> str:
    found = re.search(rf'href="([^"]+)" data-testid="link-{key}"', html)
    assert found is not None, key
    return found.group(1).replace("&amp;", "&")


def _sent(app: Flask, world: World, due_in: timedelta | None = None) -> str:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id))
    if due_in is not None:
        with app.app_context():
            db.session.get(Referral, referral_id).due_at = utcnow() + due_in
            db.session.commit()
    return referral_id


def test_the_focal_points_home_counts_her_inbox_and_links_to_it(app: Flask, world: World, client: FlaskClient) -> None:
    _sent(app, world)
    late = _sent(app, world, due_in=-timedelta(hours=3))
    answered = _sent(app, world)
    act(app, world.other.supervisor, answered, "accepted")
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), answered, world.other.supervisor.id)
        db.session.commit()
    sign_in(client, app, world.other.supervisor)
    home = client.get("/").get_data(as_text=True)
    assert (_count(home, "waiting"), _count(home, "overdue"), _count(home, "mine"), _count(home, "awaiting")) == (
        2,
        1,
        1,
        0,
    )
    overdue_list = client.get(_link(home, "overdue")).get_data(as_text=True)
    assert re.findall(r'<tr id="referral-([0-9a-f-]{36})"', overdue_list) == [late]
    assert answered in client.get(_link(home, "mine")).get_data(as_text=True)
    assert _link(home, "awaiting") == "/cases/approvals"
    # the sending organisation's supervisor has nothing waiting in her inbox
    other = app.test_client()
    sign_in(other, app, world.mine.supervisor)
    theirs = other.get("/").get_data(as_text=True)
    assert (_count(theirs, "waiting"), _count(theirs, "overdue"), _count(theirs, "mine")) == (0, 0, 0)
    assert _count(theirs, "news") == 1  # the acceptance, by the other side, this week


def test_the_caseworkers_home_has_new_case_follow_ups_and_referral_news(
    app: Flask, world: World, client: FlaskClient
) -> None:
    case_id = open_case(app, world)
    due_today = add_followup(app, world.mine.caseworker, case_id)
    late = add_followup(app, world.mine.caseworker, case_id)
    add_followup(app, world.mine.caseworker, case_id, due_at=utcnow() + timedelta(days=5))
    with app.app_context():
        db.session.get(FollowUp, late).due_at = utcnow() - timedelta(hours=2)
        db.session.get(FollowUp, due_today).due_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
    quiet = _sent(app, world)
    answered = _sent(app, world)
    act(app, world.other.supervisor, answered, "declined", reason="no_capacity")
    sign_in(client, app, world.mine.caseworker)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="new-case"' in home and 'href="/cases/new"' in home
    assert (_count(home, "followups-overdue"), _count(home, "followups-today"), _count(home, "news")) == (1, 1, 1)
    assert 'data-testid="count-waiting"' not in home  # the inbox figures are the focal point's
    news = client.get(_link(home, "news")).get_data(as_text=True)
    assert answered in news and quiet not in news
    assert _link(home, "followups-overdue").startswith("/followups")
    # a week later the answer is no longer news
    with app.app_context():
        referral = db.session.get(Referral, answered)
        for step in referral.transitions:
            step.at = step.at - timedelta(days=8)
        referral.sender_step_at -= timedelta(days=8)
        referral.receiver_step_at -= timedelta(days=8)
        db.session.commit()
    assert _count(client.get("/").get_data(as_text=True), "news") == 0
