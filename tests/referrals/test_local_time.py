"""One clock: a referral page, a follow-up list, the audit trail and the printed PDF show one
instant in the reader's zone (her network's, or her own), and say which zone that is."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.followups import services as followups
from referral.referrals.models import Referral
from tests.conftest import Account, csrf, sign_in
from tests.helpers.cases import World, open_case, user
from tests.helpers.referrals import external_referral as _external
from tests.helpers.referrals import health_consent as _health_consent

# 12:30 UTC on a winter day: 14:30 in Hebron (UTC+2), 21:30 in Tokyo (UTC+9).
INSTANT = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
HEBRON = "2026-11-20 14:30 (Hebron time)"


def _english(app: Flask, *accounts: Account, zone: str | None = None) -> None:
    with app.app_context():
        for account in accounts:
            found = db.session.get(User, account.id)
            found.locale, found.time_zone = "en", zone
        db.session.commit()


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    sign_in(client, app, account)
    return client


def _at_the_instant(app: Flask, world: World) -> tuple[str, str, str]:
    """A case, an external referral sent at INSTANT, a follow-up due at INSTANT."""
    with time_machine.travel(INSTANT - timedelta(days=1), tick=False):
        case_id = open_case(app, world)
        consent_id = _health_consent(app, world, case_id)
        with app.app_context():
            followups.create(
                db.session,
                user(world.mine.caseworker),
                case_id,
                followups.FollowUpInput(due_at=INSTANT, kind="call"),
            )
            db.session.commit()
    with time_machine.travel(INSTANT, tick=False):
        referral_id = _external(app, world, case_id, consent_id)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.sent_at == INSTANT
        code = referral.case_code
    return case_id, referral_id, code


def _pdf_text(client: FlaskClient, referral_id: str) -> str:
    answer = client.get(f"/referrals/{referral_id}/print.pdf")
    assert answer.status_code == 200
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.data)).pages)


def test_every_page_shows_the_instant_on_the_networks_clock(app: Flask, world: World) -> None:
    case_id, referral_id, code = _at_the_instant(app, world)
    _english(app, world.mine.caseworker, world.auditor)
    worker = _client(app, world.mine.caseworker)

    referral_page = worker.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert HEBRON in referral_page  # the timeline's "sent"
    assert "12:30" not in referral_page  # no UTC time beside it

    followup_list = worker.get(f"/cases/{case_id}/followups").get_data(as_text=True)
    assert HEBRON in followup_list

    assert "2026-11-20 14:30" in _pdf_text(worker, referral_id) and "(Hebron time)" in _pdf_text(worker, referral_id)

    with app.app_context():
        sent = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.create")).one()
        assert sent.occurred_at == INSTANT
    trail = _client(app, world.auditor).get(f"/audit/cases/{code}").get_data(as_text=True)
    assert "2026-11-20 14:30:00 (Hebron time)" in trail
    assert 'datetime="2026-11-20T12:30:00Z"' in trail  # the machine-readable time stays UTC


def test_a_user_with_her_own_zone_sees_hers(app: Flask, world: World) -> None:
    case_id, referral_id, _ = _at_the_instant(app, world)
    _english(app, world.mine.caseworker, zone="Asia/Tokyo")
    worker = _client(app, world.mine.caseworker)
    mine = "2026-11-20 21:30 (UTC+09:00)"
    assert mine in worker.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert mine in worker.get(f"/cases/{case_id}/followups").get_data(as_text=True)
    assert mine in _pdf_text(worker, referral_id)
    # Her colleague, without a zone of her own, reads the same instant on the network's clock.
    _english(app, world.mine.supervisor)
    assert HEBRON in _client(app, world.mine.supervisor).get(f"/referrals/{referral_id}").get_data(as_text=True)


def test_she_sets_and_clears_her_zone_on_her_account_page(app: Flask, world: World) -> None:
    account = world.mine.caseworker
    _english(app, account)
    client = _client(app, account)
    page = client.get("/account/").get_data(as_text=True)
    assert 'name="time_zone"' in page and "Asia/Hebron" in page  # the network's zone, named

    def post(value: str) -> Any:
        return client.post("/account/time-zone", data={"csrf_token": csrf(client, "/account/"), "time_zone": value})

    refused = post("Mars/Olympus")
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Enter a time zone name such as Asia/Hebron." in html and 'value="Mars/Olympus"' in html
    with app.app_context():
        assert db.session.get(User, account.id).time_zone is None
        assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.time_zone_change")).all()

    saved = post(" Europe/Berlin ")
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(User, account.id).time_zone == "Europe/Berlin"
        changed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.time_zone_change")).one()
        assert changed.details["time_zone"] == "Europe/Berlin"

    cleared = post("")
    assert cleared.status_code == 302
    with app.app_context():
        assert db.session.get(User, account.id).time_zone is None
