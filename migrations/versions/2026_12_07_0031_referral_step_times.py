"""When each side of a referral last made a step, for the "with news" count and filter.

referral.sender_step_at and referral.receiver_step_at: the time of the last transition made by
the sending and by the receiving organisation's people, kept by each transition from now on and
filled here from the transitions already recorded. With an index each on (from_organization_id,
receiver_step_at) and (to_organization_id, sender_step_at), "the referrals on which the other
side stepped this week" is two index ranges of the box, where it read every transition of the
week of every organisation (230-280 ms at the reference size).

Revision ID: 0031_referral_step_times
Revises: 0030_checkpoint_links
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_referral_step_times"
down_revision = "0030_checkpoint_links"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_referral_from_receiver_step", ["from_organization_id", "receiver_step_at"]),
    ("ix_referral_to_sender_step", ["to_organization_id", "sender_step_at"]),
]


def upgrade() -> None:
    op.add_column("referral", sa.Column("sender_step_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("referral", sa.Column("receiver_step_at", sa.DateTime(timezone=True), nullable=True))
    for column, party in (("sender_step_at", "from_organization_id"), ("receiver_step_at", "to_organization_id")):
        # one grouped read of the transitions per side, not a lookup per referral
        op.execute(
            f"UPDATE referral SET {column} = steps.at FROM ("  # noqa: S608 (our own names only)
            "SELECT t.referral_id, max(t.at) AS at FROM referral_transition t "
            f"JOIN referral r ON r.id = t.referral_id AND t.organization_id = r.{party} "
            "GROUP BY t.referral_id) AS steps WHERE referral.id = steps.referral_id"
        )
    for name, columns in INDEXES:
        op.create_index(name, "referral", columns)


def downgrade() -> None:
    for name, _columns in INDEXES:
        op.drop_index(name, table_name="referral")
    op.execute("ALTER TABLE referral DROP COLUMN receiver_step_at")
    op.execute("ALTER TABLE referral DROP COLUMN sender_step_at")
