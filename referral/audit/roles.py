"""The PostgreSQL privileges of the application's database role (see docs/deploy.md).

Migrations run as the schema's owner; the web and worker processes connect as a lesser role
that may read and write the application's tables but, on the audit trail, only SELECT and
INSERT, plus UPDATE of the three seal columns (which the guard trigger allows once, from NULL).
"""

from __future__ import annotations

import re

from sqlalchemy import text

from ..models_base import DbSession

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
APPEND_ONLY = ("audit_event", "audit_checkpoint")


def app_role_grants(role: str) -> list[str]:
    """The statements that give `role` what the application needs and no more."""
    if not _ROLE.fullmatch(role):
        raise ValueError("a database role is a plain lower-case name (letters, digits, underscores)")
    append_only = ", ".join(APPEND_ONLY)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {role}",
        f"GRANT UPDATE (chain_position, prev_hash, event_hash) ON audit_event TO {role}",
    ]


def grant_app_role(session: DbSession, role: str) -> None:
    """Run `app_role_grants` (as the owner; PostgreSQL only). Run again after each upgrade."""
    if session.get_bind().dialect.name != "postgresql":
        raise RuntimeError("database roles are PostgreSQL's; SQLite has none")
    for statement in app_role_grants(role):
        session.execute(text(statement))
