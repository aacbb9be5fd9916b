"""In-app notifications of referrals: who is told, only after commit, once per cause, and never
more than the case code and what happened."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select

from referral.extensions import db
from referral.followups import notifications
from referral.followups.models import Notification
from referral.referrals import services as referrals
from tests.conftest import sign_in
from tests.helpers.api import auth_headers
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, intake, open_case, user
from tests.helpers.referrals import act, consent, refer

MARKERS = (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Marker narrative", "marker mosque", "Um Ahmad", "custody")


def _inbox(app: Flask, account_id: str) -> list[Notification]:
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.user_id == account_id)).all()
        db.session.expunge_all()
        return list(rows)


def _sent(app: Flask, world: World) -> tuple[str, str]:
    case_id = open_case(app, world)
    return case_id, refer(app, world, case_id, consent(app, world, case_id))


def test_receiving_focal_points_are_told_of_a_new_referral(app: Flask, world: World) -> None:
    _, referral_id = _sent(app, world)
    told = _inbox(app, world.other.supervisor.id)
    assert [(n.kind, n.target_type, n.target_id) for n in told] == [("referral.received", "referral", referral_id)]
    assert told[0].case_code and told[0].case_code in notifications.text(told[0])
    # nobody else: not the receiving caseworkers, not the sending side
    for account in (world.other.caseworker, world.mine.caseworker, world.mine.supervisor):
        assert _inbox(app, account.id) == []


def test_the_sender_is_told_of_every_response(app: Flask, world: World) -> None:
    _, referral_id = _sent(app, world)
    act(app, world.other.supervisor, referral_id, "accepted")
    act(app, world.other.supervisor, referral_id, "in_progress")
    act(app, world.other.supervisor, referral_id, "completed", outcome="Represented in court")
    kinds = [n.kind for n in _inbox(app, world.mine.caseworker.id)]
    assert kinds == ["referral.accepted", "referral.in_progress", "referral.completed"]


def test_withdrawal_tells_the_receiving_side_and_assignment_the_assignee(app: Flask, world: World) -> None:
    _, referral_id = _sent(app, world)
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.commit()
    assert [n.kind for n in _inbox(app, world.other.caseworker.id)] == ["referral.assigned"]
    act(app, world.mine.caseworker, referral_id, "withdrawn", reason="She moved away")
    assert sorted(n.kind for n in _inbox(app, world.other.caseworker.id)) == ["referral.assigned", "referral.withdrawn"]
    assert "referral.withdrawn" in {n.kind for n in _inbox(app, world.other.supervisor.id)}


def test_nothing_is_told_when_the_change_rolls_back(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    consent_id = consent(app, world, case_id)
    with app.app_context():
        data = referrals.ReferralInput(
            case_id=case_id,
            to_organization_id=world.other.id,
            priority="urgent",
            reason="legal aid",
            field_groups=["identity"],
            consent_id=consent_id,
        )
        referrals.create(db.session, user(world.mine.caseworker), data)
        db.session.flush()
        db.session.rollback()
    assert _inbox(app, world.other.supervisor.id) == []


def test_a_cause_is_delivered_once_per_user(app: Flask, world: World) -> None:
    message = notifications.Message("followup.due", "NBL-2026-000001", key="step:1")
    with app.app_context():
        assert notifications.deliver(db.session, [world.mine.caseworker.id], message) == 1
        assert notifications.deliver(db.session, [world.mine.caseworker.id, world.mine.supervisor.id], message) == 1
        db.session.commit()
    assert len(_inbox(app, world.mine.caseworker.id)) == 1


def test_no_notification_text_holds_anything_about_the_survivor(app: Flask, world: World, client: FlaskClient) -> None:
    case_id = open_case(app, world, **{"narrative": "Marker narrative " + MARKER_NAME})
    consent_id = consent(app, world, case_id)
    referral_id = refer(app, world, case_id, consent_id, reason=f"Marker narrative for {MARKER_NAME}")
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.commit()
    act(app, world.other.supervisor, referral_id, "declined", reason="other", note=f"{MARKER_PHONE} custody")
    with app.app_context():
        rows = db.session.scalars(select(Notification)).all()
        assert len(rows) >= 3
        for row in rows:
            stored = " ".join(str(v) for v in (row.kind, row.case_code, row.target_type, row.dedupe_key))
            for locale in ("ar", "en"):
                with force_locale(locale):
                    shown = notifications.text(row)
                for marker in MARKERS:
                    assert marker not in shown and marker not in stored
    # the inbox page and the API show the same words
    sign_in(client, app, world.other.caseworker)
    page = client.get("/notifications").get_data(as_text=True)
    api = client.get("/api/v1/notifications", headers=auth_headers(app, world.other.caseworker)).get_data(as_text=True)
    for marker in MARKERS:
        assert marker not in page and marker not in api
    assert intake(world)["full_name"] not in page


def test_the_inbox_page_marks_read_and_follows_to_the_referral(app: Flask, world: World, client: FlaskClient) -> None:
    _, referral_id = _sent(app, world)
    sign_in(client, app, world.other.supervisor)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="unread-count">1' in home
    told = _inbox(app, world.other.supervisor.id)[0]
    answer = client.get(f"/notifications/{told.id}")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/referrals/{referral_id}")
    assert _inbox(app, world.other.supervisor.id)[0].read_at is not None
    assert 'data-testid="unread-count"' not in client.get("/").get_data(as_text=True)


def test_another_users_notification_is_not_found(app: Flask, world: World, client: FlaskClient) -> None:
    _sent(app, world)
    told = _inbox(app, world.other.supervisor.id)[0]
    sign_in(client, app, world.other.caseworker)
    assert client.get(f"/notifications/{told.id}").status_code == 404
    assert client.get("/notifications/not-an-id").status_code == 404
    assert _inbox(app, world.other.supervisor.id)[0].read_at is None


def test_mark_all_read(app: Flask, world: World, client: FlaskClient) -> None:
    _sent(app, world)
    _sent(app, world)
    sign_in(client, app, world.other.supervisor)
    page = client.get("/notifications")
    from tests.conftest import csrf_from

    client.post("/notifications/read", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert all(n.read_at is not None for n in _inbox(app, world.other.supervisor.id))


def test_the_api_lists_your_notifications_in_pages(app: Flask, world: World, client: FlaskClient) -> None:
    for _ in range(3):
        _sent(app, world)
    headers = auth_headers(app, world.other.supervisor)
    first = client.get("/api/v1/notifications?limit=2", headers=headers).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/notifications?limit=2&cursor={first['next_cursor']}", headers=headers).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    item = first["items"][0]
    assert item["kind"] == "referral.received" and item["case_code"] in item["text"]
    assert item["target"]["type"] == "referral"
    assert (
        client.get("/api/v1/notifications", headers=auth_headers(app, world.mine.caseworker)).get_json()["items"] == []
    )
    assert client.get("/api/v1/notifications?limit=0", headers=headers).status_code == 400


def test_each_referral_step_is_told_in_its_own_words(app: Flask, world: World) -> None:
    case_id, referral_id = _sent(app, world)
    with app.app_context():
        referrals.assign(db.session, user(world.other.supervisor), referral_id, world.other.caseworker.id)
        db.session.commit()
    act(app, world.other.supervisor, referral_id, "accepted")
    act(app, world.other.supervisor, referral_id, "in_progress")
    act(app, world.other.supervisor, referral_id, "closed_unresolved", reason="She could not be reached")
    code = _case_code(app, case_id)
    with app.app_context(), force_locale("en"):
        received = [notifications.text(n) for n in _inbox(app, world.other.supervisor.id)]
        assigned = [notifications.text(n) for n in _inbox(app, world.other.caseworker.id)]
        answers = [notifications.text(n) for n in _inbox(app, world.mine.caseworker.id)]
    assert received == [f"{code}: referral received"]
    assert assigned == [f"{code}: referral assigned to you"]
    assert answers == [
        f"{code}: referral accepted",
        f"{code}: referral in progress",
        f"{code}: referral closed unresolved",
    ]


def test_in_app_words_never_ask_to_log_in_and_every_kind_is_translated(app: Flask) -> None:
    with app.app_context():
        for kind in notifications.KINDS:
            message = notifications.Message(kind, "NBL-2026-000009")
            with force_locale("en"):
                english = notifications.text(message)
            with force_locale("ar"):
                arabic_text = notifications.text(message)
            assert "log in" not in english.lower(), kind
            assert "سجّلي الدخول" not in arabic_text and arabic_text != english, kind
            assert any("\u0600" <= ch <= "\u06ff" for ch in arabic_text), kind
        with force_locale("ar"):
            assert notifications.text(notifications.Message("referral.accepted", "NBL-2026-000009")) == (
                "NBL-2026-000009: قُبلت الإحالة"
            )


def _case_code(app: Flask, case_id: str) -> str:
    from referral.cases.models import Case

    with app.app_context():
        return str(db.session.get(Case, case_id).case_code)
