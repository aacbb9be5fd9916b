"""The inbox page: the most urgent first, filters by state, priority and assignee (validated),
the list swapped by htmx, and accepting from the list with or without JavaScript."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals import views as referral_views
from referral.referrals.models import Referral
from tests.conftest import arabic, sign_in
from tests.helpers.cases import World, open_case, user
from tests.helpers.referrals import act, consent, refer

HX = {"HX-Request": "true"}


def _sent(app: Flask, world: World, priority: str = "urgent", due_in: timedelta | None = None) -> str:
    case_id = open_case(app, world)
    referral_id = refer(app, world, case_id, consent(app, world, case_id), priority=priority)
    if due_in is not None:
        with app.app_context():
            db.session.get(Referral, referral_id).due_at = utcnow() + due_in
            db.session.commit()
    return referral_id


def _order(html: str) -> list[str]:
    return re.findall(r'<tr id="referral-([0-9a-f-]{36})"', html)


def test_the_inbox_puts_the_overdue_first_then_the_least_time_left_then_the_rest(
    app: Flask, world: World, client: FlaskClient
) -> None:
    answered = _sent(app, world)
    act(app, world.other.supervisor, answered, "accepted")
    later = _sent(app, world, due_in=timedelta(days=3))
    overdue = _sent(app, world, "emergency", due_in=-timedelta(hours=5))
    soon = _sent(app, world, due_in=timedelta(hours=2))
    very_late = _sent(app, world, "normal", due_in=-timedelta(days=2))
    sign_in(client, app, world.other.supervisor)
    html = client.get("/referrals?box=inbox").get_data(as_text=True)
    assert _order(html) == [very_late, overdue, soon, later, answered]
    with app.app_context():  # the API keeps its contract: newest first
        rows = referrals.listing(db.session, user(world.other.supervisor), "inbox")
        assert [r.id for r in rows] == [very_late, soon, overdue, later, answered]


def _next_page(html: str) -> str | None:
    found = re.search(r'rel="next" data-testid="next-page" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_inbox_pages_keep_the_urgency_order_with_and_without_htmx(
    app: Flask, world: World, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = _sent(app, world)
    act(app, world.other.supervisor, answered, "accepted")
    older_answered = _sent(app, world)
    act(app, world.other.supervisor, older_answered, "accepted")
    with app.app_context():  # the rest, newest first: the first one accepted is the older one
        db.session.get(Referral, answered).created_at = utcnow() - timedelta(days=9)
        db.session.commit()
    later = _sent(app, world, due_in=timedelta(days=3))
    overdue = _sent(app, world, "emergency", due_in=-timedelta(hours=5))
    soon = _sent(app, world, due_in=timedelta(hours=2))
    sign_in(client, app, world.other.supervisor)
    everything = [overdue, soon, later, older_answered, answered]
    assert _order(client.get("/referrals?box=inbox").get_data(as_text=True)) == everything
    assert _next_page(client.get("/referrals?box=inbox").get_data(as_text=True)) is None

    monkeypatch.setattr(referral_views, "PAGE_SIZE", 2)
    for headers in ({}, HX):
        pages: list[list[str]] = []
        url: str | None = "/referrals?box=inbox"
        while url is not None:
            answer = client.get(url, headers=headers)
            html = answer.get_data(as_text=True)
            assert answer.status_code == 200 and ("<html" in html) == (not headers)
            pages.append(_order(html))
            url = _next_page(html)
            assert url is None or 'hx-get="' + url.replace("&", "&amp;") + '"' in html
        assert pages == [[overdue, soon], [later, older_answered], [answered]]

    filtered = client.get("/referrals?box=inbox&state=sent").get_data(as_text=True)
    following = _next_page(filtered)
    assert _order(filtered) == [overdue, soon] and following is not None and "state=sent" in following
    assert _order(client.get(following).get_data(as_text=True)) == [later]
    assert client.get("/referrals?box=inbox&cursor=not-a-cursor").status_code == 422


def test_filters_by_state_priority_and_assignee(app: Flask, world: World, client: FlaskClient) -> None:
    accepted = _sent(app, world)
    act(app, world.other.supervisor, accepted, "accepted")
    overdue = _sent(app, world, "emergency", due_in=-timedelta(hours=1))
    waiting = _sent(app, world, "normal", due_in=timedelta(days=4))
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), waiting, world.other.supervisor.id)
        db.session.commit()
    sign_in(client, app, world.other.supervisor)

    def shown(query: str) -> list[str]:
        answer = client.get(f"/referrals?box=inbox&{query}")
        assert answer.status_code == 200, query
        return sorted(_order(answer.get_data(as_text=True)))

    assert shown("state=sent") == sorted([overdue, waiting])
    assert shown("state=accepted") == [accepted]
    assert shown("state=overdue") == [overdue]
    assert shown("priority=emergency") == [overdue]
    assert shown("priority=normal&state=sent") == [waiting]
    assert shown("assigned=me") == [waiting]
    assert shown("state=completed") == []
    assert arabic(app, "No referral matches these filters.") in client.get(
        "/referrals?box=inbox&state=completed"
    ).get_data(as_text=True)
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "referral.list").order_by(AuditEvent.occurred_at.desc())
        ).first()
        assert event is not None and event.details.get("state") == "completed"


def test_a_bad_filter_is_named_and_answered_400_without_filtering(
    app: Flask, world: World, client: FlaskClient
) -> None:
    referral_id = _sent(app, world)
    sign_in(client, app, world.other.supervisor)
    for query in ("state=nonsense", "priority=%3Cscript%3E", "assigned=someone", "state=" + "x" * 5000):
        answer = client.get(f"/referrals?box=inbox&{query}")
        html = answer.get_data(as_text=True)
        assert answer.status_code == 400, query
        assert 'data-testid="filter-problems"' in html and referral_id in html
        assert "<script>" not in html
    assert client.get("/referrals?box=nowhere").status_code == 404


def test_htmx_gets_only_the_list(app: Flask, world: World, client: FlaskClient) -> None:
    referral_id = _sent(app, world, "emergency")
    sign_in(client, app, world.other.supervisor)
    whole = client.get("/referrals?box=inbox&priority=emergency")
    part = client.get("/referrals?box=inbox&priority=emergency", headers=HX)
    assert "<html" in whole.get_data(as_text=True) and 'hx-get="/referrals"' in whole.get_data(as_text=True)
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in html and 'id="referral-results"' in html and referral_id in html
    assert "HX-Request" in part.headers.get("Vary", "")
    assert _order(client.get("/referrals?box=inbox&priority=normal", headers=HX).get_data(as_text=True)) == []


def _token(client: FlaskClient) -> str:
    html = client.get("/referrals?box=inbox").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_accept_from_the_list_with_htmx_swaps_the_row(app: Flask, world: World, client: FlaskClient) -> None:
    referral_id = _sent(app, world)
    sign_in(client, app, world.other.supervisor)
    html = client.get("/referrals?box=inbox").get_data(as_text=True)
    assert f'hx-post="/referrals/{referral_id}/accept"' in html
    answer = client.post(
        f"/referrals/{referral_id}/accept", data={"csrf_token": _token(client), "from": "list"}, headers=HX
    )
    row = answer.get_data(as_text=True)
    assert answer.status_code == 200 and row.lstrip().startswith(f'<tr id="referral-{referral_id}"')
    assert 'data-state="accepted"' in row and 'data-testid="row-notice"' in row and 'data-testid="accept"' not in row
    with app.app_context():
        assert db.session.get(Referral, referral_id).state == "accepted"
    # accepting again (a colleague was quicker): the row says why, nothing changes
    again = client.post(
        f"/referrals/{referral_id}/accept", data={"csrf_token": _token(client), "from": "list"}, headers=HX
    )
    assert 'data-testid="row-problem"' in again.get_data(as_text=True)
    with app.app_context():
        moves = db.session.scalars(select(Referral).where(Referral.id == referral_id)).one().transitions
        assert [t.to_state for t in moves] == ["draft", "sent", "accepted"]


def test_accept_from_the_list_without_javascript_comes_back_to_the_list(
    app: Flask, world: World, client: FlaskClient
) -> None:
    referral_id = _sent(app, world)
    sign_in(client, app, world.other.supervisor)
    answer = client.post(f"/referrals/{referral_id}/accept", data={"csrf_token": _token(client), "from": "list"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/referrals?box=inbox")
    with app.app_context():
        assert db.session.get(Referral, referral_id).state == "accepted"


def test_only_the_receiving_focal_point_sees_accept_in_the_list(app: Flask, world: World, client: FlaskClient) -> None:
    referral_id = _sent(app, world)
    sign_in(client, app, world.mine.caseworker)
    html = client.get("/referrals?box=outbox").get_data(as_text=True)
    assert referral_id in html and 'data-testid="accept"' not in html
    answer = client.post(f"/referrals/{referral_id}/accept", data={"csrf_token": _token(client)}, headers=HX)
    assert 'data-testid="row-problem"' in answer.get_data(as_text=True)
    assert client.post(f"/referrals/{referral_id}/accept", data={"csrf_token": _token(client)}).status_code == 400
    with app.app_context():
        assert db.session.get(Referral, referral_id).state == "sent"


def test_the_api_takes_the_same_filters_and_refuses_others_field_by_field(
    app: Flask, world: World, client: FlaskClient
) -> None:
    from tests.helpers.api import auth_headers

    late = _sent(app, world, "emergency", due_in=-timedelta(hours=1))
    waiting = _sent(app, world, "normal")
    headers = auth_headers(app, world.other.supervisor)
    got = client.get("/api/v1/referrals?box=inbox&state=overdue", headers=headers).get_json()
    assert [item["id"] for item in got["items"]] == [late]
    got = client.get("/api/v1/referrals?box=inbox&priority=normal", headers=headers).get_json()
    assert [item["id"] for item in got["items"]] == [waiting]
    plain = client.get("/api/v1/referrals?box=inbox", headers=headers).get_json()
    assert [item["id"] for item in plain["items"]] == [waiting, late]  # newest first, as before
    for query in ("state=lost", "priority=high", "assigned=you", "news=yes"):
        refused = client.get(f"/api/v1/referrals?box=inbox&{query}", headers=headers)
        assert refused.status_code == 400, query
        assert query.split("=")[0] in str(refused.get_json()), query
