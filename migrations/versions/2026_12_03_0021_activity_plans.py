"""Activity and training plans: a plan per network and year, its activities, their deliveries
(participants by sex and age group, an encrypted report) and the deliveries' encrypted files.

An activity may name the meeting whose decision it came from (`activity.meeting_id`).

Revision ID: 0021_activity_plans
Revises: 0020_coordination
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_activity_plans"
down_revision = "0020_coordination"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "activity_plan",
        sa.Column("id", UUID, nullable=False),
        sa.Column("network_id", UUID, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("created_by", UUID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("network_id", "year"),
    )
    op.create_table(
        "activity",
        sa.Column("id", UUID, nullable=False),
        sa.Column("plan_id", UUID, nullable=False),
        sa.Column("network_id", UUID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("activity_type", sa.String(length=24), nullable=False),
        sa.Column("responsible_organization_id", UUID, nullable=False),
        sa.Column("partner_organization_ids", sa.JSON(), nullable=False),
        sa.Column("planned_start", sa.Date(), nullable=False),
        sa.Column("planned_end", sa.Date(), nullable=False),
        sa.Column("governorate", sa.String(length=32), nullable=False),
        sa.Column("target_sectors", sa.JSON(), nullable=False),
        sa.Column("target_participants", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("meeting_id", UUID, nullable=True),
        sa.Column("decision_ref", sa.String(length=100), nullable=False),
        sa.Column("created_by", UUID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["activity_plan.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["responsible_organization_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_activity_plan_start", "activity", ["plan_id", "planned_start"], unique=False)
    op.create_index("ix_activity_network_status", "activity", ["network_id", "status"], unique=False)
    op.create_index(
        "ix_activity_responsible_organization_id", "activity", ["responsible_organization_id"], unique=False
    )
    op.create_index("ix_activity_meeting_id", "activity", ["meeting_id"], unique=False)
    op.create_table(
        "activity_delivery",
        sa.Column("id", UUID, nullable=False),
        sa.Column("activity_id", UUID, nullable=False),
        sa.Column("organization_id", UUID, nullable=False),
        sa.Column("delivered_from", sa.Date(), nullable=False),
        sa.Column("delivered_to", sa.Date(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("participants_total", sa.Integer(), nullable=False),
        sa.Column("organization_ids", sa.JSON(), nullable=False),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_by", UUID, nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_activity_delivery_activity_id", "activity_delivery", ["activity_id"], unique=False)
    op.create_table(
        "activity_attachment",
        sa.Column("id", UUID, nullable=False),
        sa.Column("delivery_id", UUID, nullable=False),
        sa.Column("organization_id", UUID, nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by", UUID, nullable=False),
        sa.Column("uploaded_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["activity_delivery.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_activity_attachment_delivery_id", "activity_attachment", ["delivery_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_activity_attachment_delivery_id", table_name="activity_attachment")
    op.drop_table("activity_attachment")
    op.drop_index("ix_activity_delivery_activity_id", table_name="activity_delivery")
    op.drop_table("activity_delivery")
    op.drop_index("ix_activity_meeting_id", table_name="activity")
    op.drop_index("ix_activity_responsible_organization_id", table_name="activity")
    op.drop_index("ix_activity_network_status", table_name="activity")
    op.drop_index("ix_activity_plan_start", table_name="activity")
    op.drop_table("activity")
    op.drop_table("activity_plan")
