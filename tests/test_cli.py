"""Operators' commands: seed-demo, demo-logins, create-user, issue-token."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from config import Settings
from referral import demo
from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.directory.models import Network, NetworkMembership, Organization
from referral.enums import ROLES, SECTORS
from referral.extensions import db
from referral.runtime import runtime
from tests.conftest import Factory


def test_seed_demo_builds_six_networks_and_every_role(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    logins = demo.logins()
    for login in logins:
        assert f"{login.username} " in result.output and login.password in result.output
    with app.app_context():
        governorates = set(db.session.scalars(select(Network.governorate)))
        assert governorates == {"tubas", "hebron", "jericho", "tulkarm", "qalqilya", "nablus"}
        assert set(db.session.scalars(select(User.role))) == set(ROLES)
        assert set(db.session.scalars(select(Organization.kind))) == {"governmental", "civil"}
        sectors = {s for org in db.session.scalars(select(Organization)) for s in org.sectors}
        assert sectors == set(SECTORS)
        assert db.session.scalar(select(func.count()).select_from(NetworkMembership)) >= 6 * 7
        user = db.session.scalar(select(User).where(User.username == logins[0].username))
        assert runtime().passwords.verify(user.password_hash, logins[0].password)
    again = app.test_cli_runner().invoke(args=["seed-demo"])
    assert again.exit_code != 0
    assert app.test_cli_runner().invoke(args=["seed-demo", "--if-empty"]).exit_code == 0


def test_demo_logins_are_the_same_every_time() -> None:
    assert demo.logins() == demo.logins()
    assert len({login.password for login in demo.logins()}) == len(demo.logins())


def test_seed_demo_is_refused_in_production(settings: Settings, make_app: Any) -> None:
    prod = make_app(replace(settings, env="production"))
    result = prod.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0 and "refused in production" in result.output
    assert prod.test_cli_runner().invoke(args=["demo-logins"]).exit_code != 0


def test_create_user_by_organisation_name_prints_a_one_time_password(app: Flask, factory: Factory) -> None:
    org = factory.organization(name_en="Hebron Legal Aid Centre")
    result = app.test_cli_runner().invoke(
        args=[
            "create-user",
            "--username",
            "Salma.K",
            "--org",
            "hebron legal aid centre",
            "--role",
            "supervisor",
            "--email",
            "salma@example.org",
        ]
    )
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].split(": ", 1)[1]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "salma.k"))
        assert user.organization_id == org.id and user.role == "supervisor" and user.must_change_password
        assert runtime().passwords.verify(user.password_hash, password)
        assert (
            db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == user.id).order_by(AuditEvent.id))
            == "user.create"
        )


def test_create_user_errors_are_named_and_nothing_is_written(app: Flask, factory: Factory) -> None:
    org = factory.organization()
    runner = app.test_cli_runner()
    bad_role = runner.invoke(args=["create-user", "--username", "someone", "--org", org.id, "--role", "queen"])
    assert bad_role.exit_code != 0 and "role" in bad_role.output
    no_org = runner.invoke(args=["create-user", "--username", "someone", "--org", "Nowhere", "--role", "caseworker"])
    assert no_org.exit_code != 0 and "Nowhere" in no_org.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_issue_token_prints_a_working_token_on_its_last_line(app: Flask, factory: Factory) -> None:
    account = factory.user()
    result = app.test_cli_runner().invoke(args=["issue-token", account.username, "--days", "7"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["username"] == account.username
    assert app.test_cli_runner().invoke(args=["issue-token", "nobody"]).exit_code != 0
    assert app.test_cli_runner().invoke(args=["issue-token", account.username, "--days", "999"]).exit_code != 0


def test_operator_creates_network_organisation_and_first_admin(app: Flask) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=[
            "create-network",
            "--governorate",
            "bethlehem",
            "--prefix",
            "BTH",
            "--name-ar",
            "شبكة بيت لحم",
            "--name-en",
            "Bethlehem Network",
        ]
    )
    assert made.exit_code == 0, made.output
    org = runner.invoke(
        args=[
            "create-organization",
            "--name-ar",
            "مركز",
            "--name-en",
            "Bethlehem Centre",
            "--kind",
            "civil",
            "--sectors",
            "legal_aid,social",
            "--governorates",
            "bethlehem",
        ]
    )
    assert org.exit_code == 0, org.output
    bad = runner.invoke(
        args=[
            "create-organization",
            "--name-ar",
            "x",
            "--name-en",
            "Nowhere Centre",
            "--kind",
            "civil",
            "--sectors",
            "magic",
            "--governorates",
            "atlantis",
        ]
    )
    assert bad.exit_code != 0 and "sectors" in bad.output and "governorates" in bad.output
    admin = runner.invoke(
        args=["create-user", "--username", "admin", "--org", "Bethlehem Centre", "--role", "sysadmin"]
    )
    assert admin.exit_code == 0, admin.output
    with app.app_context():
        org_row = db.session.scalar(select(Organization).where(Organization.name_en == "Bethlehem Centre"))
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(NetworkMembership)
                .where(NetworkMembership.organization_id == org_row.id)
            )
            == 1
        )
        assert db.session.scalar(select(Organization).where(Organization.name_en == "Nowhere Centre")) is None
