"""When a statistics snapshot was last read: the worker keeps refreshing the snapshots read in
the last days (an organisation's page, a custom period) and drops the others.

Revision ID: 0019_statistics_snapshot_reads
Revises: 0018_statistics_snapshots
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_statistics_snapshot_reads"
down_revision = "0018_statistics_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("statistics_snapshot") as batch:
        batch.add_column(sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("statistics_snapshot") as batch:
        batch.drop_column("read_at")
