"""The schema comes only from migrations: it equals the models, and every step goes up and down."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from config import BASE_DIR
from referral.extensions import db


def test_migrated_schema_equals_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_migration_upgrades_and_downgrades(app: Flask) -> None:
    script = ScriptDirectory(str(BASE_DIR / "migrations"))
    revisions = list(reversed(list(script.walk_revisions())))
    assert revisions, "there are no migrations"
    with app.app_context():
        try:
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            for rev in revisions:
                upgrade(revision=rev.revision)
                downgrade(revision=rev.down_revision or "base")
                upgrade(revision=rev.revision)
        finally:
            upgrade()
        assert "user_account" in inspect(db.engine).get_table_names()


def test_migration_files_are_date_prefixed() -> None:
    for path in (Path(BASE_DIR) / "migrations" / "versions").glob("*.py"):
        assert path.name[:11].replace("_", "").isdigit(), path.name
