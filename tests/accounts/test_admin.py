"""User administration: who may manage whom and grant what; resets never let an admin choose."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.accounts import services
from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.errors import Forbidden, NotFound
from referral.extensions import db
from referral.runtime import runtime
from tests.conftest import Factory, csrf, password_step, sign_in


def _user(app: Flask, user_id: str) -> User:
    return db.session.get(User, user_id)


def test_org_admin_creates_a_caseworker_with_a_one_time_password(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    sign_in(client, app, admin)
    token = csrf(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={"csrf_token": token, "username": "new.worker", "organization_id": org.id, "role": "caseworker"},
    )
    assert response.status_code == 200
    password = re.search(r'data-testid="one-time-password">([^<]+)<', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    # the new user must change it at first sign-in, after enrolling MFA
    fresh = app.test_client()
    step = password_step(fresh, "new.worker", password)
    assert step.headers["Location"].endswith("/login/mfa/enrol")
    with app.app_context():
        created = db.session.scalar(select(User).where(User.username == "new.worker"))
        assert created.must_change_password and created.organization_id == org.id
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.create").order_by(AuditEvent.id))
        assert event.actor_id == admin.id and event.object_id == created.id


@pytest.mark.parametrize("role", ["sysadmin", "auditor", "coordinator"])
def test_org_admin_cannot_grant_platform_roles(client: FlaskClient, app: Flask, factory: Factory, role: str) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    worker = factory.user("caseworker", org)
    sign_in(client, app, admin)
    token = csrf(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={"csrf_token": token, "username": "climber", "organization_id": org.id, "role": role},
    )
    assert response.status_code == 400
    assert 'value="climber"' in response.get_data(as_text=True)  # input kept
    token = csrf(client, f"/admin/users/{worker.id}")
    changed = client.post(f"/admin/users/{worker.id}", data={"csrf_token": token, "role-role": role})
    assert changed.status_code == 400
    with app.app_context():
        assert _user(app, worker.id).role == "caseworker"
        assert db.session.scalar(select(User).where(User.username == "climber")) is None
        # and at the service level too
        with pytest.raises(Forbidden):
            services.set_role(db.session, _user(app, admin.id), _user(app, worker.id), role)


def test_org_admin_cannot_see_or_manage_another_organisations_users(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    mine, theirs = factory.organization(), factory.organization()
    admin = factory.user("org_admin", mine)
    stranger = factory.user("caseworker", theirs)
    colleague = factory.user("caseworker", mine)
    sign_in(client, app, admin)
    listing = client.get("/admin/users").get_data(as_text=True)
    assert colleague.username in listing and stranger.username not in listing
    assert client.get(f"/admin/users/{stranger.id}").status_code == 404
    for action in ("deactivate", "reset-password", "end-sessions"):
        token = csrf(client, "/admin/users")
        assert client.post(f"/admin/users/{stranger.id}/{action}", data={"csrf_token": token}).status_code == 404
    token = csrf(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={"csrf_token": token, "username": "planted", "organization_id": theirs.id, "role": "caseworker"},
    )
    assert response.status_code == 400  # not one of the offered organisations
    with app.app_context():
        assert _user(app, stranger.id).active
        with pytest.raises(NotFound):
            services.managed_user(db.session, _user(app, admin.id), stranger.id)


def test_org_admin_cannot_manage_a_sysadmin_in_her_own_organisation(app: Flask, factory: Factory) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    root = factory.user("sysadmin", org)
    with app.app_context(), pytest.raises(NotFound):
        services.managed_user(db.session, _user(app, admin.id), root.id)


def test_caseworker_has_no_administration(client: FlaskClient, app: Flask, factory: Factory) -> None:
    worker = factory.user("caseworker")
    other = factory.user("caseworker")
    sign_in(client, app, worker)
    assert client.get("/admin/users").status_code == 404
    assert client.get(f"/admin/users/{other.id}").status_code == 404


def test_admin_reset_gives_a_random_one_time_password_and_ends_sessions(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    worker = factory.user("caseworker", org)
    worker_client = app.test_client()
    sign_in(worker_client, app, worker)
    sign_in(client, app, admin)
    token = csrf(client, f"/admin/users/{worker.id}")
    # a chosen password in the request is ignored: the form has no such field
    response = client.post(
        f"/admin/users/{worker.id}/reset-password", data={"csrf_token": token, "password": "chosen-by-admin-123"}
    )
    shown = re.search(r'data-testid="one-time-password">([^<]+)<', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert shown != "chosen-by-admin-123"
    assert worker_client.get("/").status_code == 302
    with app.app_context():
        target = _user(app, worker.id)
        assert target.must_change_password
        assert runtime().passwords.verify(target.password_hash, shown)
        assert not runtime().passwords.verify(target.password_hash, "chosen-by-admin-123")
        assert "user.password_reset" in db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_deactivation_and_role_change_are_audited(client: FlaskClient, app: Flask, factory: Factory) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    worker = factory.user("caseworker", org)
    sign_in(client, app, admin)
    token = csrf(client, f"/admin/users/{worker.id}")
    assert (
        client.post(f"/admin/users/{worker.id}", data={"csrf_token": token, "role-role": "supervisor"}).status_code
        == 302
    )
    assert client.post(f"/admin/users/{worker.id}/deactivate", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        target = _user(app, worker.id)
        assert target.role == "supervisor" and not target.active
        events = {e.action: e for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))}
        assert events["user.role_change"].details == {"previous_role": "caseworker", "role": "supervisor"}
        assert events["user.deactivate"].object_id == worker.id


def test_sysadmin_grants_auditor_and_coordinator(app: Flask, factory: Factory) -> None:
    net = factory.network()
    org = factory.organization(net)
    root = factory.user("sysadmin", org)
    with app.app_context():
        actor = _user(app, root.id)
        auditor, _ = services.create_user(
            db.session, runtime(), actor, username="aud.one", organization_id=org.id, role="auditor"
        )
        coordinator, _ = services.create_user(
            db.session,
            runtime(),
            actor,
            username="coord.one",
            organization_id=org.id,
            role="coordinator",
            network_id=net.id,
        )
        db.session.commit()
        assert auditor.role == "auditor" and coordinator.network_id == net.id


def test_org_admin_ends_her_users_sessions(client: FlaskClient, app: Flask, factory: Factory) -> None:
    org = factory.organization()
    admin = factory.user("org_admin", org)
    worker = factory.user("caseworker", org)
    worker_client = app.test_client()
    sign_in(worker_client, app, worker)
    sign_in(client, app, admin)
    token = csrf(client, f"/admin/users/{worker.id}")
    client.post(f"/admin/users/{worker.id}/end-sessions", data={"csrf_token": token})
    assert worker_client.get("/").status_code == 302
