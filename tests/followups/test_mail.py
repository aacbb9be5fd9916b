"""Notifications by e-mail, delivered to a real SMTP server started by the test: once per
notification, only to those who chose it, retried when the server is away, and saying nothing
but the case code, "log in to review" and the link."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.cases.models import Case
from referral.directory.models import Organization
from referral.extensions import db
from referral.followups import mail, notifications
from referral.followups.models import EmailOutbox, Notification
from referral.models_base import new_id, utcnow
from tests.conftest import Account, csrf, post_form, sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, open_case
from tests.helpers.mail import SmtpServer

MARKERS = (MARKER_NAME, MARKER_ID, MARKER_PHONE, "Marker narrative", "marker mosque", "Um Ahmad")
CODE = "NBL-2026-000042"


# ----------------------------------------------------------------------------- the SMTP server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        mail_from="Shabaka <no-reply@shabaka.test>",
        base_url="https://shabaka.test",
    )


# ----------------------------------------------------------------------------- helpers
def _prefer(app: Flask, account: Account, address: str | None = "reader@example.org", on: bool = True) -> None:
    with app.app_context():
        user = db.session.get(User, account.id)
        user.email = address
        user.notify_by_email = on
        db.session.commit()


def _notify(
    app: Flask, settings: Settings, accounts: list[Account], code: str = CODE, kind: str = "followup.reminder"
) -> tuple[list[str], list[str]]:
    """Write notifications and queue their e-mails in one transaction: (notification ids, outbox ids)."""
    message = notifications.Message(kind, code, "followup", new_id(), key=f"test:{new_id()}")
    with app.app_context():
        notifications.deliver(db.session, [a.id for a in accounts], message)
        written = list(db.session.scalars(select(Notification).where(Notification.case_code == code)))
        queued = mail.queue_for(db.session, written, settings)
        db.session.commit()
        return [n.id for n in written], queued


def _send(app: Flask, settings: Settings, ids: list[str]) -> int:
    with app.app_context():
        return mail.send_pending(lambda: Session(bind=db.engine), ids, settings)


def _outbox(app: Flask) -> list[EmailOutbox]:
    with app.app_context():
        rows = list(db.session.scalars(select(EmailOutbox).order_by(EmailOutbox.created_at)))
        db.session.expunge_all()
        return rows


def _requeue(app: Flask, settings: Settings, notification_ids: list[str]) -> list[str]:
    with app.app_context():
        rows = list(db.session.scalars(select(Notification).where(Notification.id.in_(notification_ids))))
        queued = mail.queue_for(db.session, rows, settings)
        db.session.commit()
        return queued


def _due(app: Flask) -> list[str]:
    with app.app_context():
        return mail.pending_ids(db.session, utcnow() + timedelta(seconds=1))


# ----------------------------------------------------------------------------- delivery
def test_a_notification_is_emailed_once_to_whoever_chose_it(
    app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings
) -> None:
    _prefer(app, world.mine.caseworker)
    notification_ids, queued = _notify(app, mail_settings, [world.mine.caseworker])
    assert len(notification_ids) == 1 and len(queued) == 1
    assert _send(app, mail_settings, queued) == 1
    assert len(smtp.received) == 1
    got = smtp.received[0]
    assert got.rcpt == ["reader@example.org"]
    assert got.message["Message-ID"] == f"<{queued[0]}@shabaka>"
    assert CODE in got.body and "https://shabaka.test/notifications" in got.body
    [row] = _outbox(app)
    assert (row.state, row.attempts, row.notification_id) == ("sent", 1, notification_ids[0])
    assert row.sent_at is not None
    # queueing and sending again change nothing
    assert _requeue(app, mail_settings, notification_ids) == []
    assert _send(app, mail_settings, queued) == 0
    assert _due(app) == []
    assert len(smtp.received) == 1 and len(_outbox(app)) == 1


def test_nobody_else_gets_an_email(app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings) -> None:
    _prefer(app, world.mine.caseworker, on=False)  # an address, but in-app only
    _prefer(app, world.mine.colleague, address=None)  # chose e-mail, has no address
    _prefer(app, world.mine.supervisor, address="")
    _, queued = _notify(app, mail_settings, [world.mine.caseworker, world.mine.colleague, world.mine.supervisor])
    assert queued == [] and _outbox(app) == []
    # e-mail turned off on the server: not even those who chose it
    _prefer(app, world.other.caseworker)
    _, queued = _notify(app, replace(mail_settings, smtp_host=""), [world.other.caseworker], code="NBL-2026-000043")
    assert queued == [] and _outbox(app) == []
    assert _send(app, mail_settings, _due(app)) == 0
    assert smtp.received == []


def test_a_user_who_changes_her_mind_before_sending_gets_nothing(
    app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings
) -> None:
    _prefer(app, world.mine.caseworker)
    _, queued = _notify(app, mail_settings, [world.mine.caseworker])
    _prefer(app, world.mine.caseworker, on=False)
    assert _send(app, mail_settings, queued) == 0
    assert smtp.received == []
    assert [r.state for r in _outbox(app)] == ["failed"]


def test_while_the_server_is_down_the_email_waits_then_goes_once(
    app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings
) -> None:
    _prefer(app, world.mine.caseworker)
    _prefer(app, world.mine.colleague, address="colleague@example.org")
    _, queued = _notify(app, mail_settings, [world.mine.caseworker, world.mine.colleague])
    smtp.stop()
    for _ in range(6):  # more than the attempts a refused message gets: an outage uses none up
        assert _send(app, mail_settings, queued) == 0
    assert [(r.state, r.attempts) for r in _outbox(app)] == [("pending", 0), ("pending", 0)]
    assert sorted(_due(app)) == sorted(queued)
    smtp.start()
    assert _send(app, mail_settings, _due(app)) == 2
    assert _send(app, mail_settings, queued) == 0
    assert sorted(r.rcpt[0] for r in smtp.received) == ["colleague@example.org", "reader@example.org"]
    assert {r.state for r in _outbox(app)} == {"sent"}


def test_a_refused_message_is_tried_five_times_and_a_permanent_refusal_once(
    app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings
) -> None:
    _prefer(app, world.mine.caseworker)
    _, queued = _notify(app, mail_settings, [world.mine.caseworker])
    smtp.handler.refuse = ["451 4.3.0 Try again later"] * 5
    for attempt in range(1, 6):
        assert _send(app, mail_settings, queued) == 0
        [row] = _outbox(app)
        assert (row.state, row.attempts) == ("failed" if attempt == 5 else "pending", attempt)
    assert _send(app, mail_settings, queued) == 0 and _due(app) == []

    _prefer(app, world.mine.colleague, address="gone@example.org")
    _, queued = _notify(app, mail_settings, [world.mine.colleague], code="NBL-2026-000044")
    smtp.handler.refuse = ["550 5.1.1 No such user"]
    assert _send(app, mail_settings, queued) == 0
    assert [(r.state, r.attempts) for r in _outbox(app) if r.id == queued[0]] == [("failed", 1)]
    assert smtp.received == []


def test_a_send_left_half_done_is_retried_with_the_same_message_id(
    app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings
) -> None:
    _prefer(app, world.mine.caseworker)
    _prefer(app, world.mine.colleague, address="colleague@example.org")
    _, (stale,) = _notify(app, mail_settings, [world.mine.caseworker])
    _, (busy,) = _notify(app, mail_settings, [world.mine.colleague], code="NBL-2026-000045")
    with app.app_context():  # one process died mid-send three minutes ago; another is sending now
        for outbox_id, ago in ((stale, timedelta(minutes=3)), (busy, timedelta(seconds=30))):
            row = db.session.get(EmailOutbox, outbox_id)
            row.state, row.attempts, row.last_attempt_at = "sending", 1, utcnow() - ago
        db.session.commit()
    assert _due(app) == [stale]
    assert _send(app, mail_settings, [stale, busy]) == 1
    [got] = smtp.received
    assert got.message["Message-ID"] == f"<{stale}@shabaka>" and got.rcpt == ["reader@example.org"]
    assert {r.id: (r.state, r.attempts) for r in _outbox(app)} == {stale: ("sent", 2), busy: ("sending", 1)}


def test_starttls_never_falls_back_to_clear_text(
    app: Flask, world: World, smtp: SmtpServer, mail_settings: Settings
) -> None:
    _prefer(app, world.mine.caseworker)
    starttls = replace(mail_settings, smtp_security="starttls")  # the test server offers no STARTTLS
    _, queued = _notify(app, starttls, [world.mine.caseworker])
    assert _send(app, starttls, queued) == 0
    assert smtp.received == []
    assert [r.state for r in _outbox(app)] == ["pending"]


# ----------------------------------------------------------------------------- content
def _case_code(app: Flask, case_id: str) -> str:
    with app.app_context():
        return str(db.session.get(Case, case_id).case_code)


@pytest.mark.parametrize("locale", ["ar", "en"])
def test_the_email_says_the_case_code_and_the_link_and_nothing_about_the_survivor(
    app: Flask,
    world: World,
    smtp: SmtpServer,
    mail_settings: Settings,
    locale: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case_id = open_case(app, world, narrative="Marker narrative " + MARKER_NAME)
    code = _case_code(app, case_id)
    _prefer(app, world.mine.caseworker)
    with app.app_context():
        db.session.get(User, world.mine.caseworker.id).locale = locale
        db.session.commit()
    message = notifications.Message("followup.reminder", code, "followup", new_id(), key="marker")
    with app.app_context():
        notifications.deliver(db.session, [world.mine.caseworker.id], message)
        written = list(db.session.scalars(select(Notification)))
        queued = mail.queue_for(db.session, written, mail_settings)
        notification_id = written[0].id
        db.session.commit()
    smtp.handler.refuse = ["451 4.3.0 Try again later"]  # one failure, so the logs say something
    with caplog.at_level(logging.DEBUG):
        assert _send(app, mail_settings, queued) == 0
        assert _send(app, mail_settings, queued) == 1
    [got] = smtp.received
    with app.app_context(), force_locale(locale):
        expected_text = notifications.text(db.session.get(Notification, notification_id))
        expected_subject = gettext("Shabaka: you have a new notification")
    body = got.body
    assert expected_text in body and code in expected_text
    assert got.message["Subject"] == expected_subject
    assert "https://shabaka.test/notifications" in body
    assert body.count("https://") == 1 and "http://" not in body
    assert got.message.get_content_charset() == "utf-8"
    assert got.message["Content-Language"] == locale
    if locale == "ar":
        assert "سجّلي الدخول" in body  # "log in", in Arabic words decoded intact
        assert any("\u0600" <= ch <= "\u06ff" for ch in got.message["Subject"])
    else:
        assert "Log in to review" in body
    # nothing about the survivor, the case or the organisation, in any header or the body
    whole = str(got.message) + body + "".join(f"{k}: {v}\n" for k, v in got.message.items())
    with app.app_context():
        org = db.session.get(Organization, world.mine.id)
        names = [org.name_ar, org.name_en, org.kind]
        hidden = [*MARKERS, case_id, message.target_id or "", notification_id, world.mine.caseworker.username, *names]
    for marker in hidden:
        assert marker not in whole, marker
    # and the logs name neither the address nor the words
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("referral"))
    assert queued[0] in logged
    for secret in ("reader@example.org", code, expected_text):
        assert secret not in logged


# ----------------------------------------------------------------------------- the account page
def _preference(app: Flask, account: Account) -> bool:
    with app.app_context():
        return bool(db.session.get(User, account.id).notify_by_email)


def _preference_events(app: Flask, account: Account) -> list[dict[str, object]]:
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "user.notification_preference", AuditEvent.actor_id == account.id)
            .order_by(AuditEvent.id)
        )
        return [dict(e.details) for e in events]


def _checkbox(page: str) -> str:
    """The e-mail checkbox of the account page's notifications form."""
    form = page[page.index('action="/account/notifications"') :]
    found = re.search(r'<input[^>]*name="notify_by_email"[^>]*>', form[: form.index("</form>")])
    assert found, "no e-mail checkbox in the form"
    return found.group(0)


def test_the_account_page_turns_email_on_and_off_and_audits_it(app: Flask, world: World, client: FlaskClient) -> None:
    account = world.mine.caseworker
    _prefer(app, account, on=False)
    sign_in(client, app, account)
    page = client.get("/account/").get_data(as_text=True)
    assert "checked" not in _checkbox(page)
    # without the CSRF token nothing changes
    assert client.post("/account/notifications", data={"notify_by_email": "y"}).status_code == 400
    assert _preference(app, account) is False
    response = post_form(client, "/account/notifications", {"notify_by_email": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/")
    assert _preference(app, account) is True
    assert "checked" in _checkbox(client.get("/account/").get_data(as_text=True))
    response = post_form(client, "/account/notifications", {})
    assert response.status_code == 302 and _preference(app, account) is False
    events = _preference_events(app, account)
    assert [e.get("email") for e in events] == [True, False]
    assert all("reader@example.org" not in str(e) for e in events)


def test_without_an_address_the_toggle_says_why_and_refuses(app: Flask, world: World, client: FlaskClient) -> None:
    account = world.mine.caseworker
    _prefer(app, account, address=None, on=False)
    sign_in(client, app, account)
    page = client.get("/account/").get_data(as_text=True)
    assert 'data-testid="no-email-address"' in page and "disabled" in page
    token = csrf(client, "/account/")
    response = client.post("/account/notifications", data={"csrf_token": token, "notify_by_email": "y"})
    assert response.status_code == 400
    assert 'data-testid="no-email-address"' in response.get_data(as_text=True)
    assert _preference(app, account) is False and _preference_events(app, account) == []
