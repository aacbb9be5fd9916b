"""An organisation's directory entry: a description (Arabic and English) and its public contact
(phone, e-mail, website), kept by the organisation's own admin.

Revision ID: 0028_admin_tools
Revises: 0026_approval_returns
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_admin_tools"
down_revision = "0026_approval_returns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(sa.Column("description_ar", sa.Text(), nullable=True))
        batch.add_column(sa.Column("description_en", sa.Text(), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("website", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("website")
        batch.drop_column("email")
        batch.drop_column("phone")
        batch.drop_column("description_en")
        batch.drop_column("description_ar")
