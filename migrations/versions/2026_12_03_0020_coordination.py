"""Network coordination: representatives, meeting series and meetings, agenda items,
invitations, attendance, minutes (versioned) and their comments, action points.

Revision ID: 0020_coordination
Revises: 0019_statistics_snapshot_reads
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_coordination"
down_revision = "0019_statistics_snapshot_reads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meeting_series",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("network_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("recurrence", sa.String(length=16), nullable=False),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("week_of_month", sa.Integer(), nullable=True),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("online_link", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"], ["network.id"], name=op.f("fk_meeting_series_network_id_network"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_series")),
    )
    with op.batch_alter_table("meeting_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_series_network_id"), ["network_id"], unique=False)

    op.create_table(
        "meeting",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("network_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("series_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("online_link", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("minute_taker_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("invitations_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["minute_taker_id"],
            ["user_account.id"],
            name=op.f("fk_meeting_minute_taker_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["network_id"], ["network.id"], name=op.f("fk_meeting_network_id_network"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["meeting_series.id"], name=op.f("fk_meeting_series_id_meeting_series"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting")),
    )
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_network_starts", ["network_id", "starts_at"], unique=False)

    op.create_table(
        "network_representative",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("network_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("named_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["network.id"],
            name=op.f("fk_network_representative_network_id_network"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_network_representative_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_network_representative_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_representative")),
        sa.UniqueConstraint("network_id", "user_id", name=op.f("uq_network_representative_network_id")),
    )
    with op.batch_alter_table("network_representative", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_representative_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "agenda_item",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("presenter", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_agenda_item_meeting_id_meeting"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_item")),
        sa.UniqueConstraint("meeting_id", "position", name=op.f("uq_agenda_item_meeting_id")),
    )
    op.create_table(
        "meeting_attendance",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("representative", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_attendance_meeting_id_meeting"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_meeting_attendance_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_attendance")),
        sa.UniqueConstraint("meeting_id", "organization_id", name=op.f("uq_meeting_attendance_meeting_id")),
    )
    op.create_table(
        "meeting_invitation",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("response", sa.String(length=12), nullable=False),
        sa.Column("delegate_name", sa.String(length=200), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_invitation_meeting_id_meeting"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_meeting_invitation_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_meeting_invitation_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_invitation")),
        sa.UniqueConstraint("meeting_id", "user_id", name=op.f("uq_meeting_invitation_meeting_id")),
    )
    op.create_table(
        "meeting_minutes",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("circulated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_meeting_minutes_meeting_id_meeting"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_minutes")),
        sa.UniqueConstraint("meeting_id", "version", name=op.f("uq_meeting_minutes_meeting_id")),
    )
    op.create_table(
        "action_point",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("network_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("agenda_item_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agenda_item_id"],
            ["agenda_item.id"],
            name=op.f("fk_action_point_agenda_item_id_agenda_item"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_action_point_meeting_id_meeting"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["network_id"], ["network.id"], name=op.f("fk_action_point_network_id_network"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_organization_id"],
            ["organization.id"],
            name=op.f("fk_action_point_owner_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["user_account.id"],
            name=op.f("fk_action_point_owner_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_point")),
    )
    with op.batch_alter_table("action_point", schema=None) as batch_op:
        batch_op.create_index("ix_action_point_network_status", ["network_id", "status", "due_date"], unique=False)
        batch_op.create_index("ix_action_point_owner_status", ["owner_organization_id", "status"], unique=False)

    op.create_table(
        "minute_entry",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("minutes_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("agenda_item_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("discussion", sa.Text(), nullable=False),
        sa.Column("decisions", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agenda_item_id"],
            ["agenda_item.id"],
            name=op.f("fk_minute_entry_agenda_item_id_agenda_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["minutes_id"],
            ["meeting_minutes.id"],
            name=op.f("fk_minute_entry_minutes_id_meeting_minutes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minute_entry")),
        sa.UniqueConstraint("minutes_id", "agenda_item_id", name=op.f("uq_minute_entry_minutes_id")),
    )
    op.create_table(
        "minutes_comment",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("minutes_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("user_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("organization_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["minutes_id"],
            ["meeting_minutes.id"],
            name=op.f("fk_minutes_comment_minutes_id_meeting_minutes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_minutes_comment_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minutes_comment")),
    )
    with op.batch_alter_table("minutes_comment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_minutes_comment_minutes_id"), ["minutes_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("minutes_comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_minutes_comment_minutes_id"))

    op.drop_table("minutes_comment")
    op.drop_table("minute_entry")
    with op.batch_alter_table("action_point", schema=None) as batch_op:
        batch_op.drop_index("ix_action_point_owner_status")
        batch_op.drop_index("ix_action_point_network_status")

    op.drop_table("action_point")
    op.drop_table("meeting_minutes")
    op.drop_table("meeting_invitation")
    op.drop_table("meeting_attendance")
    op.drop_table("agenda_item")
    with op.batch_alter_table("network_representative", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_representative_organization_id"))

    op.drop_table("network_representative")
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_network_starts")

    op.drop_table("meeting")
    with op.batch_alter_table("meeting_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_series_network_id"))

    op.drop_table("meeting_series")
