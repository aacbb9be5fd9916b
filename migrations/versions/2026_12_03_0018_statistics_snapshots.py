"""Snapshots of live statistics views: the protected numbers of a scope and period, kept for a
few minutes so that a page does not count and protect again on every request.

Revision ID: 0018_statistics_snapshots
Revises: 0017_statistics
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_statistics_snapshots"
down_revision = "0017_statistics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statistics_snapshot",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("statistics_snapshot")
