"""A user's own time zone: when set, every time she reads is drawn on her clock rather than her
network's (NULL: her network's zone, as before).

Revision ID: 0027_user_time_zone
Revises: 0028_admin_tools
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_user_time_zone"
down_revision = "0028_admin_tools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("time_zone")
