"""A meeting's sequence: raised by every change of time or place and by a cancellation, so that
calendars replace the event they hold (RFC 5545 SEQUENCE).

Revision ID: 0024_meeting_sequence
Revises: 0023_meeting_packs
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_meeting_sequence"
down_revision = "0023_meeting_packs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meeting") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("meeting") as batch:
        batch.drop_column("sequence")
