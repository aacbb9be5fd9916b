"""Indexes for the lists at the reference size (200,000 cases, 400,000 referrals, 2,000,000
audit events): each matches a scoped, ordered, keyset-paged list, so the list reads its page from
the index instead of sorting everything the organisation has.

- case_file (organization_id, opened_at, id): the case list, newest first;
- referral (to_organization_id, state, due_at) in place of (to_organization_id, state): the
  inbox's referrals waiting for an answer, soonest due first, and the inbox counts;
- referral (to_organization_id, created_at, id) and (from_organization_id, created_at, id): both
  boxes newest first;
- referral (assigned_to, created_at, id): a caseworker's inbox (the referrals assigned to her),
  newest first; with statistics on (to_organization_id, assigned_to) on PostgreSQL, since an
  assignee is always of the receiving organisation and the planner, counting the two as
  independent, otherwise expects a few rows where there are thousands and sorts them all;
- referral (receiver_case_id): the referral a received case was opened from (the case page);
- audit_event (action, object_id, occurred_at): a case history's refused attempts.

Revision ID: 0029_scale_indexes
Revises: 0027_user_time_zone
Create Date: 2026-12-06
"""

from alembic import op

revision = "0029_scale_indexes"
down_revision = "0027_user_time_zone"
branch_labels = None
depends_on = None

INDEXES = [
    ("case_file", "ix_case_file_org_opened", ["organization_id", "opened_at", "id"]),
    ("referral", "ix_referral_to_state_due", ["to_organization_id", "state", "due_at"]),
    ("referral", "ix_referral_to_created", ["to_organization_id", "created_at", "id"]),
    ("referral", "ix_referral_from_created", ["from_organization_id", "created_at", "id"]),
    ("referral", "ix_referral_assigned_created", ["assigned_to", "created_at", "id"]),
    ("referral", "ix_referral_receiver_case", ["receiver_case_id"]),
    ("audit_event", "ix_audit_event_action_object", ["action", "object_id", "occurred_at"]),
]


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    # (to_organization_id, state, due_at) answers everything its prefix did
    op.drop_index("ix_referral_to_state", table_name="referral")
    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS st_referral_receiver_assignee (dependencies) ON to_organization_id, assigned_to FROM referral")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_referral_receiver_assignee")
    op.create_index("ix_referral_to_state", "referral", ["to_organization_id", "state"], unique=False)
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
