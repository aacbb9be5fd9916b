"""A credential change ends the user's API tokens, not only her sessions (issue 11, finding 3).

Each path: the token answers 200 before, the change is made the way a user or an administrator
makes it (through the pages), and the same token answers 401 afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.accounts import services
from referral.accounts.models import ApiToken, RecoveryCode, User
from referral.extensions import db
from referral.runtime import runtime
from tests.conftest import Account, Factory, csrf, sign_in

NEW_PASSWORD = "amber-lighthouse-meadow-quietly"


def _token(app: Flask, account: Account) -> str:
    with app.app_context():
        _, raw = services.issue_token(db.session, db.session.get(User, account.id), days=1)
        db.session.commit()
    return raw


def _me(client: FlaskClient, raw: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code


def _own_password_change(app: Flask, client: FlaskClient, worker: Account, admin: Account) -> None:
    sign_in(client, app, worker)
    form = {"current_password": worker.password, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    response = client.post("/account/password", data={"csrf_token": csrf(client, "/account/password"), **form})
    assert response.status_code in (200, 302, 303)


def _admin(action: str) -> Callable[[Flask, FlaskClient, Account, Account], None]:
    def run(app: Flask, client: FlaskClient, worker: Account, admin: Account) -> None:
        sign_in(client, app, admin)
        token = csrf(client, f"/admin/users/{worker.id}")
        response = client.post(f"/admin/users/{worker.id}/{action}", data={"csrf_token": token})
        assert response.status_code in (200, 302, 303)

    return run


def _mfa_reset(app: Flask, client: FlaskClient, worker: Account, admin: Account) -> None:
    """The reset with its confirmation step (the admin checked who asks)."""
    sign_in(client, app, admin)
    path = f"/admin/users/{worker.id}/two-step-reset"
    response = client.post(path, data={"csrf_token": csrf(client, path), "identity_checked": "y"})
    assert response.status_code == 303


def _role_change(app: Flask, client: FlaskClient, worker: Account, admin: Account) -> None:
    sign_in(client, app, admin)
    token = csrf(client, f"/admin/users/{worker.id}")
    response = client.post(f"/admin/users/{worker.id}", data={"role-csrf_token": token, "role-role": "supervisor"})
    assert response.status_code in (200, 302, 303)
    with app.app_context():
        assert db.session.get(User, worker.id).role == "supervisor"


CHANGES = {
    "own password change": _own_password_change,
    "password reset by an administrator": _admin("reset-password"),
    "two-step sign-in reset by an administrator": _mfa_reset,
    "role change": _role_change,
    "deactivation": _admin("deactivate"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_the_change_revokes_every_token_of_the_user(
    app: Flask, client: FlaskClient, factory: Factory, change: Callable[[Flask, FlaskClient, Account, Account], None]
) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    worker = factory.user("caseworker", org)
    bystander = factory.user("caseworker", org)
    tokens = [_token(app, worker), _token(app, worker)]
    theirs = _token(app, bystander)
    api = app.test_client()
    assert [_me(api, raw) for raw in tokens] == [200, 200]
    change(app, client, worker, admin)
    assert [_me(api, raw) for raw in tokens] == [401, 401]
    assert _me(api, theirs) == 200  # a colleague's token is not touched
    with app.app_context():
        revoked = db.session.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == worker.id)).all()
        assert all(when is not None for when in revoked)


def test_a_second_factor_reset_makes_her_enrol_again(app: Flask, client: FlaskClient, factory: Factory) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    worker = factory.user("caseworker", org)
    with app.app_context():
        services.regenerate_recovery_codes(db.session, runtime(), _user(worker))
        db.session.commit()
    _mfa_reset(app, client, worker, admin)
    with app.app_context():
        user = _user(worker)
        assert not user.mfa_enrolled and user.totp_secret is None
        assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == worker.id)).all() == []
    fresh = app.test_client()
    page = fresh.post(
        "/login",
        data={"csrf_token": csrf(fresh, "/login"), "username": worker.username, "password": worker.password},
    )
    assert page.headers["Location"].endswith("/login/mfa/enrol")


def _user(account: Account) -> User:
    user = db.session.get(User, account.id)
    assert user is not None
    return user
