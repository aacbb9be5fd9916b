"""An index on followup.follows_id: deleting follow-ups (a purge, an organisation removed)
sets the next follow-up's link to NULL, and without it each deleted row scanned the table.

Revision ID: 0016_followup_follows_index
Revises: 0015_audit_chain
Create Date: 2026-11-29
"""

from alembic import op

revision = "0016_followup_follows_index"
down_revision = "0015_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("followup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followup_follows_id"), ["follows_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("followup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_follows_id"))
