"""The receiving side's work on the pages: accept and open our own case, record progress,
assignments on the timeline; and the sender's case page showing each referral's state,
outcome and service log."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.cases.models import Case
from referral.extensions import db
from referral.referrals.models import Referral, ReferralLogEntry
from tests.conftest import arabic, csrf, sign_in
from tests.helpers.cases import MARKER_NAME, World, open_case
from tests.helpers.referrals import refer_through_pages


def _parties(client: FlaskClient, app: Flask, world: World) -> tuple[str, str, FlaskClient]:
    case_id = open_case(app, world)
    sign_in(client, app, world.mine.caseworker)
    referral_id = refer_through_pages(client, case_id, world)
    receiver = app.test_client()
    sign_in(receiver, app, world.other.supervisor)
    return case_id, referral_id, receiver


def _named(username: str) -> str:
    """A username as a page shows it, isolated (so that user1 is not found inside user12)."""
    return f">{username}<"


def _post(client: FlaskClient, path: str, **data: str) -> object:
    return client.post(path, data={"csrf_token": csrf(client, "/referrals"), **data})


def test_accept_opens_our_case_then_progress_is_logged_and_the_sender_sees_it_on_her_case(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id, referral_id, receiver = _parties(client, app, world)
    page = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert 'name="open_case"' in page and 'data-testid="service-log"' not in page
    accepted = _post(receiver, f"/referrals/{referral_id}/accept", open_case="y")
    assert accepted.status_code == 303  # type: ignore[attr-defined]
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral is not None and referral.state == "accepted" and referral.receiver_case_id
        own = db.session.get(Case, referral.receiver_case_id)
        assert own is not None and own.organization_id == world.other.id
        own_code = own.case_code
    page = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert own_code in page and 'data-testid="open-own-case"' not in page  # opened once
    logged = _post(
        receiver, f"/referrals/{referral_id}/log", text="Lawyer met her at the centre", next_step="Hearing on Monday"
    )
    assert logged.status_code == 303  # type: ignore[attr-defined]
    mine = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert "Lawyer met her at the centre" in mine and "Hearing on Monday" in mine
    assert (
        _named(world.other.supervisor.username) in mine.split('data-testid="service-log"')[1].split("</ol>")[0]
    )  # her people by name
    theirs = client.get(f"/referrals/{referral_id}").get_data(as_text=True)
    log = theirs.split('data-testid="service-log"')[1].split("</ol>")[0]
    assert "Lawyer met her at the centre" in log and _named(world.other.supervisor.username) not in log
    assert own_code not in theirs  # the receiver's own case stays its own
    _post(receiver, f"/referrals/{referral_id}/start")
    _post(receiver, f"/referrals/{referral_id}/complete", outcome="Custody hearing attended")
    case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    panel = case_page.split('data-testid="case-referrals"')[1].split("</section>")[0]
    assert referral_id in panel and "Custody hearing attended" in panel and "Lawyer met her at the centre" in panel
    assert 'data-testid="case-referral-state"' in panel
    # after completion the shared view has ended, the receiver's own case file has not
    assert MARKER_NAME not in receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    with app.app_context():
        own_id = db.session.scalar(select(Referral.receiver_case_id).where(Referral.id == referral_id))
    kept = receiver.get(f"/cases/{own_id}")
    assert kept.status_code == 200 and own_code in kept.get_data(as_text=True)


def test_a_bad_entry_is_shown_again_with_its_problem_and_nothing_is_written(
    client: FlaskClient, app: Flask, world: World
) -> None:
    _case_id, referral_id, receiver = _parties(client, app, world)
    early = _post(receiver, f"/referrals/{referral_id}/log", text="too early")
    assert early.status_code == 400  # type: ignore[attr-defined]
    body = early.get_data(as_text=True)  # type: ignore[attr-defined]
    problem = "Progress is recorded, and a case file opened, only while the referral is accepted or in progress."
    assert arabic(app, problem) in body and "too early" in body
    _post(receiver, f"/referrals/{referral_id}/accept")
    empty = _post(receiver, f"/referrals/{referral_id}/log", text="   ", next_step="Call her on Sunday")
    assert empty.status_code == 400  # type: ignore[attr-defined]
    body = empty.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "is-invalid" in body and "Call her on Sunday" in body  # the problem named, the input kept
    long = _post(receiver, f"/referrals/{referral_id}/log", text="x" * 5001)
    assert long.status_code == 400  # type: ignore[attr-defined]
    by_sender = _post(client, f"/referrals/{referral_id}/log", text="not hers to write")
    assert by_sender.status_code == 400  # type: ignore[attr-defined]
    outsider = app.test_client()
    sign_in(outsider, app, world.other.caseworker)  # receiving organisation, not assigned
    assert _post(outsider, f"/referrals/{referral_id}/log", text="who").status_code == 404  # type: ignore[attr-defined]
    assert _post(outsider, f"/referrals/{referral_id}/open-case").status_code == 404  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(ReferralLogEntry)) == 0
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 1


def test_open_case_later_from_the_button_once(client: FlaskClient, app: Flask, world: World) -> None:
    _case_id, referral_id, receiver = _parties(client, app, world)
    _post(receiver, f"/referrals/{referral_id}/accept")
    assert 'data-testid="open-own-case"' in receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    opened = _post(receiver, f"/referrals/{referral_id}/open-case")
    assert opened.status_code == 303 and "/cases/" in opened.headers["Location"]  # type: ignore[attr-defined]
    own_page = receiver.get(opened.headers["Location"]).get_data(as_text=True)  # type: ignore[attr-defined]
    origin = own_page.split('data-testid="case-origin"')[1].split("</p>")[0]
    assert f"/referrals/{referral_id}" in origin  # her own case links back to the referral
    assert 'data-testid="case-origin"' not in client.get(f"/cases/{_case_id}").get_data(as_text=True)
    again = _post(receiver, f"/referrals/{referral_id}/open-case")
    assert again.status_code == 400  # type: ignore[attr-defined]
    problem = arabic(app, "Your organisation has already opened its own case file from this referral.")
    assert problem in again.get_data(as_text=True)  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 2


def test_assignments_are_on_the_timeline_and_the_assignee_on_the_page(
    client: FlaskClient, app: Flask, world: World
) -> None:
    _case_id, referral_id, receiver = _parties(client, app, world)
    _post(receiver, f"/referrals/{referral_id}/assign", user_id=world.other.caseworker.id)
    mine = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assignee = mine.split('data-testid="assignee"')[1].split("</dd>")[0]
    assert _named(world.other.caseworker.username) in assignee
    rows = mine.split('data-testid="timeline-assigned"')
    assert len(rows) == 2 and _named(world.other.caseworker.username) in rows[1].split("</li>")[0]
    theirs = client.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert _named(world.other.caseworker.username) not in theirs  # another organisation's staff are not named
    assert arabic(app, "Assigned within the receiving organisation") in theirs
    assert arabic(app, "A member of the receiving organisation") in theirs


def test_the_service_log_reads_in_arabic(client: FlaskClient, app: Flask, world: World) -> None:
    _case_id, referral_id, receiver = _parties(client, app, world)
    _post(receiver, f"/referrals/{referral_id}/accept")
    page = receiver.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert 'lang="ar"' in page
    assert arabic(app, "Service log") in page and arabic(app, "Record progress") in page
