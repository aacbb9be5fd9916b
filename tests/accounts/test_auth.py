"""Sign-in with password and TOTP, sessions, timeouts, throttling and password change."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.extensions import db
from referral.models_base import utcnow
from referral.security.models import StoredSession
from tests.conftest import Account, Factory, csrf, password_step, sign_in

COOKIE = "shabaka"


def _cookie(client: FlaskClient) -> str | None:
    found = client.get_cookie(COOKIE)
    return found.value if found else None


def _actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_full_sign_in_reaches_home_and_is_audited(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    sign_in(client, app, account)
    home = client.get("/")
    assert home.status_code == 200
    assert account.username in home.get_data(as_text=True)
    assert _actions(app)[-2:] == ["auth.mfa_verified", "auth.login"]


def test_password_alone_does_not_sign_in(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    response = password_step(client, account.username, account.password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/mfa")
    assert client.get("/").headers["Location"].endswith("/login")
    assert client.get("/account/").status_code == 302


def test_session_id_changes_at_each_sign_in_step(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    client.get("/login")
    anonymous = _cookie(client)
    assert anonymous is not None  # the login form's CSRF token lives in a session
    password_step(client, account.username, account.password)
    pending = _cookie(client)
    assert pending and pending != anonymous
    token = csrf(client, "/login/mfa")
    client.post("/login/mfa", data={"csrf_token": token, "code": account.totp()})
    signed_in = _cookie(client)
    assert signed_in and signed_in not in (anonymous, pending)
    # the old ids are gone from the server
    replay = app.test_client()
    replay.set_cookie(COOKIE, pending)
    assert replay.get("/").status_code == 302


def test_cookie_replayed_after_logout_is_refused(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    sign_in(client, app, account)
    stolen = _cookie(client)
    token = csrf(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen)
    response = thief.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert "auth.logout" in _actions(app)


def test_idle_timeout(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(client, app, account)
        clock.shift(timedelta(minutes=14))
        assert client.get("/").status_code == 200  # activity resets the idle clock
        clock.shift(timedelta(minutes=14))
        assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=16))
        expired = client.get("/")
        assert expired.status_code == 302 and expired.headers["Location"].endswith("/login")


def test_absolute_timeout(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(client, app, account)
        for _ in range(11 * 6):  # keep active every 10 minutes for 11 hours
            clock.shift(timedelta(minutes=10))
            assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=61))  # 12 h 01 min after sign-in, though active 61 min ago
        assert client.get("/").status_code == 302


def test_absolute_timeout_applies_even_when_active(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    with time_machine.travel(utcnow(), tick=False) as clock:
        sign_in(client, app, account)
        for _ in range(12 * 6):
            clock.shift(timedelta(minutes=10))
            client.get("/")
        clock.shift(timedelta(minutes=5))
        assert client.get("/").status_code == 302


def test_unknown_user_and_wrong_password_look_the_same(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    wrong = password_step(client, account.username, "not-the-password-at-all")
    unknown = password_step(app.test_client(), "nobody-here", "not-the-password-at-all")
    assert wrong.status_code == unknown.status_code == 200

    def body(response: object) -> str:
        import re

        text = response.get_data(as_text=True)  # type: ignore[attr-defined]
        return re.sub(r'value="[^"]*"', "", text)

    assert body(wrong) == body(unknown)
    assert "Invalid username or password" in body(wrong) or "غير صحيحة" in body(wrong)


def test_five_failures_a_minute_throttle_the_account(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    with time_machine.travel(utcnow(), tick=False) as clock:
        for i in range(5):
            other = app.test_client()  # different sessions; same account
            assert password_step(other, account.username, f"wrong password {i}").status_code == 200
        # even the right password is refused now
        assert password_step(client, account.username, account.password).status_code == 429
        clock.shift(timedelta(seconds=61))
        assert password_step(client, account.username, account.password).status_code == 302
    assert "auth.login_throttled" in _actions(app)


def test_one_colleagues_failures_do_not_lock_out_her_office(client: FlaskClient, app: Flask, factory: Factory) -> None:
    """Per account 5 a minute, per address far more: a colleague behind the same NAT signs in."""
    careless, colleague = factory.user(), factory.user()
    with time_machine.travel(utcnow(), tick=False):
        for i in range(5):
            assert password_step(app.test_client(), careless.username, f"wrong password {i}").status_code == 200
        assert password_step(app.test_client(), careless.username, "wrong password 6").status_code == 429
        assert password_step(app.test_client(), careless.username, careless.password).status_code == 429
        assert password_step(client, colleague.username, colleague.password).status_code == 302


def test_many_accounts_from_one_address_meet_the_address_limit(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    account = factory.user()
    limit = app.config["SHABAKA_SETTINGS"].login_attempts_per_minute_per_address
    assert limit > app.config["SHABAKA_SETTINGS"].login_attempts_per_minute
    with time_machine.travel(utcnow(), tick=False):
        for i in range(limit):  # each account stays below its own limit
            assert password_step(client, f"someone{i}", "wrong password here").status_code == 200
        refused = password_step(client, account.username, account.password)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "60"
        elsewhere = app.test_client()
        token = csrf(elsewhere)
        response = elsewhere.post(
            "/login",
            data={"csrf_token": token, "username": account.username, "password": account.password},
            environ_base={"REMOTE_ADDR": "10.9.8.7"},
        )
        assert response.status_code == 302


def test_totp_code_works_only_once(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    with time_machine.travel(utcnow(), tick=False):
        code = account.totp()
        password_step(client, account.username, account.password)
        token = csrf(client, "/login/mfa")
        assert client.post("/login/mfa", data={"csrf_token": token, "code": code}).status_code == 302
        second = app.test_client()
        password_step(second, account.username, account.password)
        token = csrf(second, "/login/mfa")
        replay = second.post("/login/mfa", data={"csrf_token": token, "code": code})
        assert replay.status_code == 200
        assert second.get("/").status_code == 302
    assert "auth.mfa_failed" in _actions(app)


def test_enrolment_at_first_sign_in_then_recovery_code(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user(enrolled=False)
    response = password_step(client, account.username, account.password)
    assert response.headers["Location"].endswith("/login/mfa/enrol")
    page = client.get("/login/mfa/enrol").get_data(as_text=True)
    assert "<svg" in page  # the QR code is drawn by the server
    import re

    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    token = csrf(client, "/login/mfa/enrol")
    bad = client.post("/login/mfa/enrol", data={"csrf_token": token, "code": "000000"})
    assert bad.status_code == 400
    done = client.post("/login/mfa/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li class=\"col\">([a-z2-9]{5}-[a-z2-9]{5})</li>", done.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get("/").status_code == 200
    with app.app_context():
        user = db.session.get(User, account.id)
        assert user.mfa_enrolled and user.totp_secret == secret
        raw = db.session.execute(
            text("SELECT totp_secret FROM user_account WHERE username = :u"), {"u": account.username}
        )
        stored = bytes(raw.scalar_one())
        assert secret.encode() not in stored and stored[0] == 1  # format version, then key id
    # sign in again with a recovery code, which then no longer works
    fresh = app.test_client()
    password_step(fresh, account.username, account.password)
    token = csrf(fresh, "/login/mfa")
    assert fresh.post("/login/mfa", data={"csrf_token": token, "code": codes[0].upper()}).status_code == 302
    again = app.test_client()
    password_step(again, account.username, account.password)
    token = csrf(again, "/login/mfa")
    assert again.post("/login/mfa", data={"csrf_token": token, "code": codes[0]}).status_code == 200
    assert "auth.mfa_enrolled" in _actions(app) and "auth.recovery_code_used" in _actions(app)


def test_password_change_ends_other_sessions(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    sign_in(client, app, account)
    laptop = app.test_client()
    sign_in(laptop, app, account)
    token = csrf(client, "/account/password")
    new = "quiet-river-under-amber-sky"
    response = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": account.password, "new_password": new, "confirm_password": new},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this session stays
    assert laptop.get("/").status_code == 302  # the other one ended
    with app.app_context():
        assert db.session.scalar(select(StoredSession).where(StoredSession.user_id == account.id)) is not None
    assert "auth.password_changed" in _actions(app)


def test_weak_or_common_new_password_is_refused_with_input_kept(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    account = factory.user()
    sign_in(client, app, account)
    for weak in ("short", "passwordpassword", "aaaaaaaaaaaaaaa"):
        token = csrf(client, "/account/password")
        response = client.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current_password": account.password,
                "new_password": weak,
                "confirm_password": weak,
            },
        )
        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.get_data(as_text=True)
    with app.app_context():
        assert "auth.password_changed" not in _actions(app)


def test_forced_password_change_after_one_time_password(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user(must_change_password=True)
    sign_in(client, app, account)
    assert client.get("/").headers["Location"].endswith("/account/password")
    assert client.get("/admin/users").headers["Location"].endswith("/account/password")


def test_user_ends_one_of_her_sessions(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account: Account = factory.user()
    sign_in(client, app, account)
    phone = app.test_client()
    sign_in(phone, app, account)
    page = client.get("/account/").get_data(as_text=True)
    import re

    handles = re.findall(r"/account/sessions/([0-9a-f-]{36})/end", page)
    assert len(handles) == 1  # the current session has no "end" button
    token = csrf(client, "/account/")
    client.post(f"/account/sessions/{handles[0]}/end", data={"csrf_token": token})
    assert phone.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_deactivated_user_cannot_sign_in_and_loses_sessions(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    sign_in(client, app, account)
    with app.app_context():
        from referral.accounts import services
        from referral.runtime import runtime

        admin = db.session.get(User, factory.user("sysadmin").id)
        target = db.session.get(User, account.id)
        services.deactivate(db.session, runtime(), admin, target)
        db.session.commit()
    assert client.get("/").status_code == 302
    assert password_step(app.test_client(), account.username, account.password).status_code == 200
