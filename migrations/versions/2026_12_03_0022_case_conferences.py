"""Case conferences for high-risk cases: the repeat-incident flag on the case file, conferences,
their agenda of cases and the actions agreed (each one a follow-up).

Revision ID: 0022_case_conferences
Revises: 0021_activity_plans
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_case_conferences"
down_revision = "0021_activity_plans"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat_incident_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("repeat_incident_by", UUID, nullable=True))

    op.create_table(
        "case_conference",
        sa.Column("id", UUID, nullable=False),
        sa.Column("network_id", UUID, nullable=False),
        sa.Column("organization_id", UUID, nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("chair_id", UUID, nullable=False),
        sa.Column("requested_by", UUID, nullable=True),
        sa.Column("requested_at", WHEN, nullable=True),
        sa.Column("convened_by", UUID, nullable=True),
        sa.Column("convened_at", WHEN, nullable=True),
        sa.Column("starts_at", WHEN, nullable=True),
        sa.Column("place", sa.LargeBinary(), nullable=True),
        sa.Column("minutes", sa.LargeBinary(), nullable=True),
        sa.Column("minutes_by", UUID, nullable=True),
        sa.Column("minutes_at", WHEN, nullable=True),
        sa.Column("created_by", UUID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["chair_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_conference_org_state", "case_conference", ["organization_id", "state"], unique=False)
    op.create_index("ix_case_conference_chair_state", "case_conference", ["chair_id", "state"], unique=False)

    op.create_table(
        "conference_item",
        sa.Column("id", UUID, nullable=False),
        sa.Column("conference_id", UUID, nullable=False),
        sa.Column("case_id", UUID, nullable=False),
        sa.Column("case_code", sa.String(length=20), nullable=False),
        sa.Column("organization_id", UUID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("minutes_allotted", sa.Integer(), nullable=False),
        sa.Column("grounds", sa.String(length=16), nullable=False),
        sa.Column("judgement_reason", sa.LargeBinary(), nullable=True),
        sa.Column("risk_summary", sa.LargeBinary(), nullable=True),
        sa.Column("risk_summary_by", UUID, nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("added_by", UUID, nullable=False),
        sa.Column("added_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["case_conference.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conference_id", "case_id"),
    )
    op.create_index("ix_conference_item_conference_id", "conference_item", ["conference_id"], unique=False)
    op.create_index("ix_conference_item_case_id", "conference_item", ["case_id"], unique=False)

    op.create_table(
        "conference_action",
        sa.Column("id", UUID, nullable=False),
        sa.Column("conference_id", UUID, nullable=False),
        sa.Column("item_id", UUID, nullable=False),
        sa.Column("followup_id", UUID, nullable=False),
        sa.Column("organization_id", UUID, nullable=False),
        sa.Column("created_by", UUID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["conference_id"], ["case_conference.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["conference_item.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["followup_id"], ["followup.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("followup_id"),
    )
    op.create_index("ix_conference_action_conference_id", "conference_action", ["conference_id"], unique=False)
    op.create_index("ix_conference_action_item_id", "conference_action", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_table("conference_action")
    op.drop_table("conference_item")
    op.drop_table("case_conference")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_column("repeat_incident_by")
        batch_op.drop_column("repeat_incident_at")
