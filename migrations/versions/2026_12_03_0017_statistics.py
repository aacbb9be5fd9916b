"""Network statistics: the survivor's consent to be counted, the clear facts the quality
indicators read (reporting delay, when the assessment and the safety plan were first recorded),
releases with their approvals, and the register of outside data requests.

Existing cases get `statistics_consent = false`: nobody asked their survivors, so they count only
in their own organisation's numbers until a caseworker records the answer (docs/decisions.md).
`assessed_at` and `safety_plan_at` are filled from whether the (encrypted) content is present,
dated at the case's last update: the content itself is not read.

Revision ID: 0017_statistics
Revises: 0016_followup_follows_index
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_statistics"
down_revision = "0016_followup_follows_index"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reporting_delay", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("statistics_consent", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("assessed_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("safety_plan_at", WHEN, nullable=True))
        batch_op.create_index("ix_case_file_statistics", ["governorate", "opened_at"], unique=False)
    op.execute("UPDATE case_file SET assessed_at = updated_at WHERE assessment IS NOT NULL")
    op.execute("UPDATE case_file SET safety_plan_at = updated_at WHERE safety_plan IS NOT NULL")

    op.create_table(
        "statistics_release",
        sa.Column("id", UUID, nullable=False),
        sa.Column("scope_key", sa.String(length=48), nullable=False),
        sa.Column("network_id", UUID, nullable=True),
        sa.Column("period_first", sa.String(length=7), nullable=False),
        sa.Column("period_last", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("prepared_by", UUID, nullable=False),
        sa.Column("prepared_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        sa.Column("published_at", WHEN, nullable=True),
        sa.Column("published_by", UUID, nullable=True),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope_key", "period_first", "period_last", "version"),
    )
    op.create_index("ix_statistics_release_scope_state", "statistics_release", ["scope_key", "state"], unique=False)
    op.create_table(
        "statistics_release_approval",
        sa.Column("id", UUID, nullable=False),
        sa.Column("release_id", UUID, nullable=False),
        sa.Column("organization_id", UUID, nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", UUID, nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["release_id"], ["statistics_release.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("release_id", "organization_id"),
    )
    op.create_index(
        op.f("ix_statistics_release_approval_release_id"), "statistics_release_approval", ["release_id"], unique=False
    )
    op.create_table(
        "statistics_data_request",
        sa.Column("id", UUID, nullable=False),
        sa.Column("scope_key", sa.String(length=48), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("requester", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("release_id", UUID, nullable=True),
        sa.Column("recorded_by", UUID, nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["statistics_release.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_statistics_data_request_scope_key"), "statistics_data_request", ["scope_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_statistics_data_request_scope_key"), table_name="statistics_data_request")
    op.drop_table("statistics_data_request")
    op.drop_index(op.f("ix_statistics_release_approval_release_id"), table_name="statistics_release_approval")
    op.drop_table("statistics_release_approval")
    op.drop_index("ix_statistics_release_scope_state", table_name="statistics_release")
    op.drop_table("statistics_release")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_index("ix_case_file_statistics")
        batch_op.drop_column("safety_plan_at")
        batch_op.drop_column("assessed_at")
        batch_op.drop_column("statistics_consent")
        batch_op.drop_column("reporting_delay")
