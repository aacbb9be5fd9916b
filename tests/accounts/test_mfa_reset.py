"""An admin resets a user's two-step sign-in (a lost phone) through a confirmation step: the user
enrols again at her next sign-in, her sessions end, her API tokens and recovery codes stop
working, she is told without any secret, and the reset is audited. The system admin for anyone,
an org admin for her own organisation's staff; anyone else gets "not found"."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select

from referral.accounts import services
from referral.accounts.models import ApiToken, RecoveryCode, User
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.followups.models import Notification
from referral.followups.notifications import text
from referral.runtime import runtime
from tests.conftest import Account, Factory, arabic, csrf, sign_in


def _prepared(app: Flask, worker: Account) -> str:
    """Recovery codes and an API token for the worker; returns the raw token."""
    with app.app_context():
        found = db.session.get(User, worker.id)
        services.regenerate_recovery_codes(db.session, runtime(), found)
        _token, raw = services.issue_token(db.session, found, days=5)
        db.session.commit()
        return raw


def _path(worker: Account) -> str:
    return f"/admin/users/{worker.id}/two-step-reset"


def _resets(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.mfa_reset")))
        db.session.expunge_all()
        return rows


def _state(app: Flask, worker: Account) -> tuple[bool, bool, int, int]:
    """(enrolled, has a seed, unused recovery codes, live tokens)."""
    with app.app_context():
        found = db.session.get(User, worker.id)
        codes = db.session.scalars(
            select(RecoveryCode).where(RecoveryCode.user_id == worker.id, RecoveryCode.used_at.is_(None))
        ).all()
        tokens = db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == worker.id, ApiToken.revoked_at.is_(None))
        ).all()
        return found.mfa_enrolled, found.totp_secret is not None, len(codes), len(tokens)


def test_the_reset_asks_for_confirmation_then_resets_everything_and_tells_her(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    org = factory.organization()
    worker = factory.user("caseworker", org)
    raw = _prepared(app, worker)
    her = app.test_client()
    sign_in(her, app, worker)
    assert her.get("/account/").status_code == 200
    sign_in(client, app, factory.user("sysadmin"))

    detail = client.get(f"/admin/users/{worker.id}").get_data(as_text=True)
    assert f'href="{_path(worker)}"' in detail  # the button leads to the confirmation step
    page = client.get(_path(worker))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="reset-consequences"' in html
    assert 'name="identity_checked"' in html
    before = _state(app, worker)
    assert before[:2] == (True, True) and before[2] > 0 and before[3] == 1

    # without the confirmation nothing happens
    refused = client.post(_path(worker), data={"csrf_token": csrf(client, _path(worker))})
    assert refused.status_code == 400 and 'id="identity_checked-error"' in refused.get_data(as_text=True)
    assert _state(app, worker) == before and _resets(app) == []

    done = client.post(_path(worker), data={"csrf_token": csrf(client, _path(worker)), "identity_checked": "y"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/admin/users/{worker.id}")
    assert _state(app, worker) == (False, False, 0, 0)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert her.get("/account/").status_code == 302  # her session ended
    (event,) = _resets(app)
    assert event.object_id == worker.id and event.outcome == "success" and event.details == {}
    with app.app_context():
        told = list(db.session.scalars(select(Notification).where(Notification.user_id == worker.id)))
        assert [n.kind for n in told] == ["account.mfa_reset"]
    with app.test_request_context(), force_locale("en"):
        message = text(told[0])
    assert "two-step sign-in" in message and raw not in message
    with app.app_context():
        assert told[0].case_code is None and told[0].target_id is None

    # her next sign-in goes to enrolment, and she reads the notice in Arabic
    fresh = app.test_client()
    step = fresh.post(
        "/login",
        data={"csrf_token": csrf(fresh, "/login"), "username": worker.username, "password": worker.password},
    )
    assert step.headers["Location"].endswith("/login/mfa/enrol")
    # nothing more to reset: the confirmation page says so and writes nothing
    again = client.get(_path(worker))
    assert again.status_code == 303
    assert len(_resets(app)) == 1


def test_the_notice_is_worded_in_arabic_without_secrets(app: Flask) -> None:
    from referral.followups.notifications import KINDS

    with app.test_request_context(), force_locale("en"):
        english = str(KINDS["account.mfa_reset"])
    assert "two-step sign-in" in english and "%(" not in english
    assert arabic(app, english) != english


def test_an_org_admin_resets_her_own_staff_only(client: FlaskClient, app: Flask, factory: Factory) -> None:
    mine, theirs = factory.organization(), factory.organization()
    ours = factory.user("caseworker", mine)
    stranger = factory.user("caseworker", theirs)
    admin = factory.user("org_admin", mine)
    sign_in(client, app, admin)
    token = csrf(client, _path(ours))
    assert client.get(_path(stranger)).status_code == 404
    assert client.post(_path(stranger), data={"csrf_token": token, "identity_checked": "y"}).status_code == 404
    assert client.get(f"/admin/users/{admin.id}/two-step-reset").status_code == 404  # not her own, here
    assert client.get("/admin/users/not-an-id/two-step-reset").status_code == 404
    assert client.get("/admin/users/not-an-id").status_code == 404  # PostgreSQL refuses it as a uuid
    assert _state(app, stranger)[:2] == (True, True) and _resets(app) == []
    assert client.post(_path(ours), data={"csrf_token": token, "identity_checked": "y"}).status_code == 303
    assert _state(app, ours)[:2] == (False, False)
    (event,) = _resets(app)
    assert event.actor_id == admin.id and event.object_id == ours.id
    # the old one-click action is gone
    assert client.post(f"/admin/users/{ours.id}/reset-mfa", data={"csrf_token": token}).status_code == 404


def test_others_get_not_found(client: FlaskClient, app: Flask, factory: Factory) -> None:
    org = factory.organization()
    worker = factory.user("caseworker", org)
    for role in ("caseworker", "supervisor", "auditor"):
        fresh = app.test_client()
        sign_in(fresh, app, factory.user(role, org))
        assert fresh.get(_path(worker)).status_code == 404
    assert _resets(app) == []
    assert client is not None
