"""Linked audit checkpoints: each new checkpoint signs the digest of the one before it.

audit_checkpoint.previous_digest holds SHA-256 of the previous checkpoint's signed message and
signature (32 zero bytes when it links to nothing). A checkpoint that links to its predecessor
vouches for it, so the verifier checks one signature per unbroken run of checkpoints instead of
one per checkpoint. Checkpoints written before this migration keep a NULL digest and are
verified one by one, as before. A plain ADD COLUMN: the append-only triggers stay in place.

Revision ID: 0030_checkpoint_links
Revises: 0029_scale_indexes
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_checkpoint_links"
down_revision = "0029_scale_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_checkpoint", sa.Column("previous_digest", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    # SQLite drops the column in place too (3.35+), so its append-only triggers survive, where a
    # batch copy of the table would lose them.
    op.execute("ALTER TABLE audit_checkpoint DROP COLUMN previous_digest")
