"""audit chain: checkpoints, the sealer's queue index, and append-only guards

On PostgreSQL a trigger refuses DELETE on audit_event and any UPDATE but the one that seals an
unsealed event (sets chain_position, prev_hash and event_hash from NULL, nothing else);
audit_checkpoint refuses both. UPDATE, DELETE and TRUNCATE are revoked from PUBLIC; when
DATABASE_APP_ROLE names the application's role, it gets SELECT and INSERT, and UPDATE on the
seal columns only (see docs/deploy.md; `flask --app referral audit grant-app-role ROLE`
grants the whole schema). SQLite gets the same guards as RAISE(ABORT) triggers.

A later migration that adds a column to audit_event must add it to the SQLite trigger too.

Revision ID: 0015_audit_chain
Revises: 0013_email
Create Date: 2026-11-29 12:00:00

"""
import os
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_audit_chain'
down_revision = '0013_email'
branch_labels = None
depends_on = None

_PG_UPGRADE = [
    """
    CREATE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'audit events are never deleted' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF OLD.chain_position IS NOT NULL OR OLD.prev_hash IS NOT NULL OR OLD.event_hash IS NOT NULL
           OR NEW.chain_position IS NULL OR NEW.prev_hash IS NULL OR NEW.event_hash IS NULL
           OR (to_jsonb(NEW) - 'chain_position' - 'prev_hash' - 'event_hash')
              IS DISTINCT FROM (to_jsonb(OLD) - 'chain_position' - 'prev_hash' - 'event_hash') THEN
            RAISE EXCEPTION 'an audit event is only ever sealed, once' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard()
    """,
    """
    CREATE FUNCTION audit_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit checkpoints are never changed or deleted' USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_guard()
    """,
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_event, audit_checkpoint FROM PUBLIC",
]
_PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint",
    "DROP FUNCTION IF EXISTS audit_checkpoint_guard()",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_guard()",
]
_EVENT_COLUMNS = (
    "id", "event_id", "occurred_at", "action", "outcome", "actor_id", "actor_role", "actor_organization_id",
    "organization_id", "object_type", "object_id", "case_code", "route", "request_id", "reason", "details",
)
_SQLITE_UPGRADE = [
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit events are never deleted'); END
    """,
    """
    CREATE TRIGGER audit_event_seal_once BEFORE UPDATE ON audit_event
    WHEN OLD.chain_position IS NOT NULL OR OLD.prev_hash IS NOT NULL OR OLD.event_hash IS NOT NULL
      OR NEW.chain_position IS NULL OR NEW.prev_hash IS NULL OR NEW.event_hash IS NULL
      OR """ + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _EVENT_COLUMNS) + """
    BEGIN SELECT RAISE(ABORT, 'an audit event is only ever sealed, once'); END
    """,
    """
    CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are never changed'); END
    """,
    """
    CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are never deleted'); END
    """,
]
_SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
    "DROP TRIGGER IF EXISTS audit_event_seal_once",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
]


def _app_role_grants(role):
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise RuntimeError("DATABASE_APP_ROLE must be a plain lower-case role name")
    return [
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event, audit_checkpoint FROM {role}",
        f"GRANT SELECT, INSERT ON audit_event, audit_checkpoint TO {role}",
        f"GRANT UPDATE (chain_position, prev_hash, event_hash) ON audit_event TO {role}",
        f"GRANT USAGE ON SEQUENCE audit_event_id_seq, audit_checkpoint_id_seq TO {role}",
    ]


def upgrade():
    op.create_table('audit_checkpoint',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('chain_position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('head_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoint')),
    sa.UniqueConstraint('chain_position', name=op.f('uq_audit_checkpoint_chain_position'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_unsealed', ['id'], unique=False,
                              postgresql_where=sa.text('chain_position IS NULL'),
                              sqlite_where=sa.text('chain_position IS NULL'))

    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for statement in _PG_UPGRADE:
            op.execute(statement)
        role = os.environ.get('DATABASE_APP_ROLE', '').strip()
        if role:
            for statement in _app_role_grants(role):
                op.execute(statement)
    elif bind.dialect.name == 'sqlite':
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for statement in _PG_DOWNGRADE:
            op.execute(statement)
    elif bind.dialect.name == 'sqlite':
        for statement in _SQLITE_DOWNGRADE:
            op.execute(statement)
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_unsealed',
                            postgresql_where=sa.text('chain_position IS NULL'),
                            sqlite_where=sa.text('chain_position IS NULL'))

    op.drop_table('audit_checkpoint')
