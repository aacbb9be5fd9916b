"""Operators' commands: `flask --app referral init-db | seed-demo | demo-logins | create-user | issue-token`.

Each command is one transaction, committed here at its edge.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask_migrate import upgrade

from .accounts import services as accounts
from .directory import services as directory
from .errors import DomainError
from .extensions import db
from .runtime import runtime


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["SHABAKA_SETTINGS"]


def _fail(message: str) -> None:
    db.session.rollback()
    raise click.ClickException(message)


def register(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create or migrate the database schema to the newest revision."""
        upgrade()
        click.echo("database is at the newest revision")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds data.")
    def seed_demo(if_empty: bool) -> None:
        """Build the fictional demo network and print its logins (never in production)."""
        from . import demo

        if not _settings().is_demo:
            _fail("seed-demo is refused in production")
        if demo.is_seeded(db.session):
            if if_empty:
                click.echo("demo data already present")
                return
            _fail("the database already holds networks; seed-demo needs an empty database")
        logins = demo.seed(db.session, runtime())
        db.session.commit()
        click.echo("demo network seeded; demo logins:")
        _print_logins(logins)

    @app.cli.command("demo-logins")
    def demo_logins() -> None:
        """Print the demo logins (demo mode only)."""
        from . import demo

        if not _settings().is_demo:
            _fail("there are no demo logins in production")
        _print_logins(demo.logins())

    @app.cli.command("create-network")
    @click.option("--governorate", required=True, help="Latin code, e.g. bethlehem.")
    @click.option("--prefix", required=True, help="Three letters for case codes, e.g. BTH.")
    @click.option("--name-ar", required=True)
    @click.option("--name-en", required=True)
    def create_network(governorate: str, prefix: str, name_ar: str, name_en: str) -> None:
        """Create a governorate network."""
        try:
            net = directory.create_network(
                db.session, None, governorate=governorate, case_prefix=prefix, name_ar=name_ar, name_en=name_en
            )
        except DomainError as error:
            _fail(_describe(error))
            return
        db.session.commit()
        click.echo(f"created network {net.governorate} ({net.case_prefix}): {net.id}")

    @app.cli.command("create-organization")
    @click.option("--name-ar", required=True)
    @click.option("--name-en", required=True)
    @click.option("--kind", required=True, type=click.Choice(["governmental", "civil"]))
    @click.option("--sectors", required=True, help="Comma-separated sector codes.")
    @click.option("--governorates", required=True, help="Comma-separated governorate codes; joins those networks.")
    def create_organization(name_ar: str, name_en: str, kind: str, sectors: str, governorates: str) -> None:
        """Create a member organisation and add it to the networks of the governorates it serves."""
        codes = [g.strip() for g in governorates.split(",") if g.strip()]
        data = directory.OrganizationInput(
            name_ar, name_en, kind, [s.strip() for s in sectors.split(",") if s.strip()], codes
        )
        try:
            org = directory.create_organization(db.session, None, data)
            for net in directory.networks(db.session):
                if net.governorate in codes:
                    directory.add_member(db.session, None, net, org)
        except DomainError as error:
            _fail(_describe(error))
            return
        db.session.commit()
        click.echo(f"created organisation {org.name_en}: {org.id}")

    @app.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--org", "org_ref", required=True, help="The organisation's id or English name.")
    @click.option("--role", required=True)
    @click.option("--email", default=None)
    @click.option("--network", "network_ref", default=None, help="A coordinator's network (governorate code).")
    def create_user(username: str, org_ref: str, role: str, email: str | None, network_ref: str | None) -> None:
        """Create an account and print its one-time password (changed at first sign-in)."""
        org = directory.find_organization(db.session, org_ref)
        if org is None:
            _fail(f"no organisation {org_ref!r}")
            return
        network_id = None
        if network_ref:
            nets = {n.governorate: n.id for n in directory.networks(db.session)}
            network_id = nets.get(network_ref.lower())
            if network_id is None:
                _fail(f"no network {network_ref!r}")
        try:
            user, password = accounts.create_user(
                db.session,
                runtime(),
                None,
                username=username,
                organization_id=org.id,
                role=role,
                email=email,
                network_id=network_id,
            )
        except DomainError as error:
            _fail(_describe(error))
            return
        db.session.commit()
        click.echo(f"created {user.username} ({user.role}) at {org.name_en}")
        click.echo(f"one-time password: {password}")

    @app.cli.command("issue-token")
    @click.argument("username")
    @click.option("--days", default=accounts.DEFAULT_TOKEN_DAYS, show_default=True, type=int)
    def issue_token(username: str, days: int) -> None:
        """Issue a personal API token; the token is the last line printed."""
        user = accounts.find_user(db.session, username)
        if user is None:
            _fail(f"no user {username!r}")
            return
        try:
            token, raw = accounts.issue_token(db.session, user, days=days, label="command line")
        except DomainError as error:
            _fail(_describe(error))
            return
        db.session.commit()
        click.echo(f"token for {user.username}, valid until {token.expires_at:%Y-%m-%d}:")
        click.echo(raw)


def _describe(error: DomainError) -> str:
    return "; ".join(f"{k}: {v}" for k, v in error.fields.items()) or error.message


def _print_logins(logins: list) -> None:  # type: ignore[type-arg]
    user_width = max(len(login.username) for login in logins)
    password_width = max(len(login.password) for login in logins)
    for login in logins:
        name, password = login.username.ljust(user_width), login.password.ljust(password_width)
        click.echo(f"  {name}  {password}  {login.role:<12} {login.organization}")
