"""Operators' commands: `flask --app referral init-db | seed-demo | demo-logins | create-user | issue-token`.

Each command is one transaction, committed here at its edge.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from .accounts import services as accounts
from .audit.services import record as audit_record
from .directory import services as directory
from .errors import DomainError
from .extensions import db
from .models_base import utcnow
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
        prepared = accounts.NewPassword.make(runtime())  # hashed before the transaction opens
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
                new_password=prepared,
            )
        except DomainError as error:
            _fail(_describe(error))
            return
        db.session.commit()
        click.echo(f"created {user.username} ({user.role}) at {org.name_en}")
        click.echo(f"one-time password: {password}")

    @app.cli.command("delete-organization")
    @click.argument("org_ref")
    @click.option("--yes", is_flag=True, help="Confirm: its users and data keys are destroyed for good.")
    def delete_organization(org_ref: str, yes: bool) -> None:
        """Delete an organisation, its accounts and its data keys (crypto-shredding)."""
        org = directory.find_organization(db.session, org_ref)
        if org is None:
            _fail(f"no organisation {org_ref!r}")
            return
        if not yes:
            _fail("add --yes: everything encrypted for this organisation becomes unreadable for good")
        destroyed = directory.delete_organization(db.session, None, org)
        db.session.commit()
        runtime().keyring.forget()
        click.echo(f"deleted {org.name_en}; destroyed {destroyed} data keys")

    register_key_commands(app)
    register_reminder_commands(app)
    register_audit_commands(app)

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


def register_key_commands(app: Flask) -> None:
    from .security import rotation

    keys = AppGroup("keys", help="Data keys: status, rotation, re-encryption, retirement.")

    @keys.command("status")
    def status() -> None:
        """Every key: scope, purpose, version, root key, and the values that use it."""
        rows = rotation.status(db.session)
        click.echo(f"root key in use: {runtime().keyring.root.current_id}")
        click.echo(f"{'id':>5}  {'scope':<36}  {'purpose':<7} {'ver':>3}  {'root key':<16}  {'values':>8}  state")
        for row in rows:
            values = "" if row["rows"] is None else str(row["rows"])
            state = "retired" if row["retired"] else "active"
            click.echo(
                f"{row['id']:>5}  {row['scope']:<36}  {row['purpose']:<7} {row['version']:>3}  "
                f"{row['root_key_id']:<16}  {values:>8}  {state}"
            )
        click.echo(f"values waiting for re-encryption: {rotation.pending(db.session)}")

    @keys.command("rotate")
    @click.option("--org", "org_ref", required=True, help="Organisation id or English name, or 'platform'.")
    def rotate(org_ref: str) -> None:
        """Start a new data-key version for an organisation; new writes use it."""
        scope = "platform" if org_ref == "platform" else None
        if scope is None:
            org = directory.find_organization(db.session, org_ref)
            if org is None:
                _fail(f"no organisation {org_ref!r}")
                return
            scope = org.id
        row = runtime().keyring.rotate(db.session, scope)
        audit_record(
            "keys.rotate",
            None,
            organization_id=None if scope == "platform" else scope,
            key_id=row.id,
            version=row.version,
        )
        db.session.commit()
        click.echo(f"data key {row.id} (version {row.version}) now takes new writes for {scope}")
        click.echo("run `flask --app referral keys reencrypt` to move older values to it")

    @keys.command("reencrypt")
    @click.option("--batch", default=200, show_default=True)
    def reencrypt(batch: int) -> None:
        """Move every value to its organisation's current data key (resumable, idempotent); each
        batch is recorded as it commits."""
        total = rotation.pending(db.session)
        with click.progressbar(length=total, label="re-encrypting") as bar:
            done = rotation.reencrypt(db.session, db.session.commit, batch=batch, progress=bar.update)
        click.echo(f"re-encrypted {done} values")

    @keys.command("rotate-root")
    def rotate_root() -> None:
        """Wrap every data key under the current root key (REFERRAL_ROOT_KEY); values are untouched.

        Set the new key as REFERRAL_ROOT_KEY and the old one in REFERRAL_PREVIOUS_ROOT_KEYS,
        run this, then remove the old key from the environment.
        """
        changed = rotation.rewrap_all(db.session, runtime().keyring)
        audit_record("keys.rotate_root", None, rewrapped=changed)
        db.session.commit()
        runtime().keyring.forget()
        click.echo(f"rewrapped {changed} data keys under root key {runtime().keyring.root.current_id}")

    @keys.command("retire")
    @click.argument("key_id", type=int)
    def retire(key_id: int) -> None:
        """Destroy an old data key; refused while any value still uses it."""
        try:
            rotation.retire(db.session, key_id)
        except (rotation.KeyInUse, LookupError) as error:
            _fail(str(error))
            return
        audit_record("keys.retire", None, key_id=key_id)
        db.session.commit()
        runtime().keyring.forget()
        click.echo(f"data key {key_id} destroyed")

    app.cli.add_command(keys)


def _describe(error: DomainError) -> str:
    return "; ".join(f"{k}: {v}" for k, v in error.fields.items()) or error.message


def _print_logins(logins: list) -> None:  # type: ignore[type-arg]
    user_width = max(len(login.username) for login in logins)
    password_width = max(len(login.password) for login in logins)
    for login in logins:
        name, password = login.username.ljust(user_width), login.password.ljust(password_width)
        click.echo(f"  {name}  {password}  {login.role:<12} {login.organization}")


def register_reminder_commands(app: Flask) -> None:
    from .followups import clocks

    reminders = AppGroup("reminders", help="Reminder and escalation delivery.")

    @reminders.command("status")
    def status() -> None:
        """Due rungs not yet delivered, the oldest lag, and the last sweep."""
        now = utcnow()
        current = clocks.status(db.session, now)
        click.echo(f"due and not delivered: {current.due_unsent}")
        lag = f"{int(current.oldest_lag.total_seconds())} s" if current.oldest_lag is not None else "none"
        click.echo(f"oldest lag: {lag}")
        if current.last_sweep_at is None:
            click.echo("last sweep: never (is the beat running?)")
        else:
            ago = int((now - current.last_sweep_at).total_seconds())
            when = f"{current.last_sweep_at:%Y-%m-%d %H:%M:%S} UTC"
            click.echo(f"last sweep: {when} ({ago} s ago), claimed {current.last_claimed}")
        if current.oldest_lag is not None and current.oldest_lag > clocks.ALERT_LATE:
            click.echo("LATE: reminders are more than five minutes behind")

    @reminders.command("sweep")
    def sweep() -> None:
        """Run one sweep now and deliver what it claims in this process (for operators)."""
        ids = clocks.sweep(db.session)
        db.session.commit()
        for step_id in ids:
            clocks.deliver(db.session, step_id)
            db.session.commit()
        click.echo(f"delivered {len(ids)}")

    app.cli.add_command(reminders)


def register_audit_commands(app: Flask) -> None:
    import json
    from pathlib import Path

    from .audit import chain, checkpoints, roles
    from .security import signing

    audit = AppGroup("audit", help="The audit trail's hash chain: seal, verify, checkpoints, keys.")

    @audit.command("seal")
    @click.option("--batch", default=chain.SEAL_BATCH, show_default=True)
    def seal(batch: int) -> None:
        """Chain the events not yet sealed, and sign a checkpoint if this process holds the key."""
        signer = checkpoints.signer()
        done = chain.seal(db.session, db.session.commit, signer=signer, checkpoint_every=None, batch=batch)
        click.echo(f"sealed {done.sealed} events; the chain ends at position {done.head_position}")
        if done.checkpoint_position is not None:
            click.echo(f"signed a checkpoint at position {done.checkpoint_position}")
        elif signer is None:
            click.echo("no checkpoint: AUDIT_SIGNING_KEY is not set in this process (the worker signs)")

    @audit.command("verify")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def verify(as_json: bool) -> None:
        """Recompute the whole chain and its checkpoints; exit status 1 when it does not hold."""
        result = chain.verify(db.session)
        db.session.rollback()
        chain.record_verification(db.session, None, result)
        db.session.commit()
        if as_json:
            click.echo(json.dumps(result.as_dict(), indent=2))
        elif result.ok:
            click.echo(f"ok: {result.checked} events, {result.checkpoints_checked} checkpoints verified")
        else:
            click.echo(f"BROKEN at position {result.first_bad_position} ({result.problem}); {result.checked} read")
        if not as_json and not result.keys_pinned:
            click.echo("warning: no published key (AUDIT_PUBLIC_KEY); checkpoints checked against stored keys")
        if not as_json and result.unsealed:
            click.echo(f"{result.unsealed} events are not sealed yet")
        if not result.ok:
            raise SystemExit(1)

    @audit.command("checkpoints")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True))
    def export_checkpoints(out: str) -> None:
        """Write every checkpoint and the public keys to FILE, for scripts/verify_audit.py."""
        document = checkpoints.document(db.session)
        Path(out).write_text(json.dumps(document, indent=1) + "\n")
        audit_record("audit.checkpoints", None, count=len(document["checkpoints"]))
        db.session.commit()
        click.echo(f"wrote {len(document['checkpoints'])} checkpoints to {out}")

    @audit.command("public-key")
    def public_key() -> None:
        """Print the public key of this process's AUDIT_SIGNING_KEY, to publish to auditors."""
        signer = checkpoints.signer()
        if signer is None:
            _fail("AUDIT_SIGNING_KEY is not set in this process")
            return
        click.echo(f"{signing.encode_key(signer.public_key)}  (key id {signer.key_id})")

    @audit.command("new-signing-key")
    def new_signing_key() -> None:
        """Print a new Ed25519 key pair: the private key for the worker, the public one for auditors."""
        private = signing.new_private_key()
        public = signing.public_key_of(private)
        click.echo(f"AUDIT_SIGNING_KEY={signing.encode_key(private)}")
        click.echo(f"AUDIT_PUBLIC_KEY={signing.encode_key(public)}")
        click.echo(f"key id: {signing.key_id(public)}")

    @audit.command("grant-app-role")
    @click.argument("role")
    def grant_app_role(role: str) -> None:
        """PostgreSQL: give ROLE what the application needs (audit tables: read, insert, seal)."""
        try:
            roles.grant_app_role(db.session, role)
        except (ValueError, RuntimeError) as error:
            _fail(str(error))
            return
        db.session.commit()
        click.echo(f"granted the application's privileges to {role}")

    app.cli.add_command(audit)
