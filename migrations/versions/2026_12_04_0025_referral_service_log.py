"""The receiving side's work on a referral: its service log (encrypted under the receiving
organisation), each (re)assignment for the timeline, and the receiver's own case file opened
from the referral.

Revision ID: 0025_referral_service_log
Revises: 0024_meeting_sequence
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_referral_service_log"
down_revision = "0024_meeting_sequence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral_log_entry",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("referral_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("author_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=True),
        sa.Column("next_step", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], name=op.f("fk_referral_log_entry_organization_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referral.id"],
            name=op.f("fk_referral_log_entry_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_log_entry")),
    )
    with op.batch_alter_table("referral_log_entry") as batch:
        batch.create_index(batch.f("ix_referral_log_entry_referral_id"), ["referral_id"], unique=False)
    op.create_table(
        "referral_assignment",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("referral_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("assigned_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referral.id"],
            name=op.f("fk_referral_assignment_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_assignment")),
    )
    with op.batch_alter_table("referral_assignment") as batch:
        batch.create_index(batch.f("ix_referral_assignment_referral_id"), ["referral_id"], unique=False)
    with op.batch_alter_table("referral") as batch:
        batch.add_column(sa.Column("receiver_case_id", sa.Uuid(as_uuid=False), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_referral_receiver_case_id_case_file"),
            "case_file",
            ["receiver_case_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("referral") as batch:
        batch.drop_constraint(batch.f("fk_referral_receiver_case_id_case_file"), type_="foreignkey")
        batch.drop_column("receiver_case_id")
    with op.batch_alter_table("referral_assignment") as batch:
        batch.drop_index(batch.f("ix_referral_assignment_referral_id"))
    op.drop_table("referral_assignment")
    with op.batch_alter_table("referral_log_entry") as batch:
        batch.drop_index(batch.f("ix_referral_log_entry_referral_id"))
    op.drop_table("referral_log_entry")
