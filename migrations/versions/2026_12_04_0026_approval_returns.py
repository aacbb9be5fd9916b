"""Action plans and closures returned by a supervisor with a comment (encrypted), instead of
approved.

Revision ID: 0026_approval_returns
Revises: 0025_referral_service_log
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_approval_returns"
down_revision = "0025_referral_service_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_approval_return",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("case_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("what", sa.String(length=16), nullable=False),
        sa.Column("returned_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_approval_return_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_case_approval_return_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["returned_by"],
            ["user_account.id"],
            name=op.f("fk_case_approval_return_returned_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_approval_return")),
    )
    with op.batch_alter_table("case_approval_return") as batch:
        batch.create_index(batch.f("ix_case_approval_return_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_approval_return") as batch:
        batch.drop_index(batch.f("ix_case_approval_return_case_id"))
    op.drop_table("case_approval_return")
