"""The meeting pack: one row per version, its content frozen as JSON and its PDFs (Arabic and
English).

Revision ID: 0023_meeting_packs
Revises: 0022_case_conferences
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_meeting_packs"
down_revision = "0022_case_conferences"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meeting_pack",
        sa.Column("id", UUID, nullable=False),
        sa.Column("meeting_id", UUID, nullable=False),
        sa.Column("network_id", UUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("requested_by", UUID, nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("failure", sa.String(length=40), nullable=False),
        sa.Column("content", sa.JSON(), nullable=True),
        sa.Column("pdf_ar", sa.LargeBinary(), nullable=True),
        sa.Column("pdf_en", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["network_id"], ["network.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "version"),
    )


def downgrade() -> None:
    op.drop_table("meeting_pack")
