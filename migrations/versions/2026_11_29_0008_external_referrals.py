"""external referrals: a provider outside the network instead of a receiving organisation

Revision ID: 0008_external_referrals
Revises: 0012_followups
Create Date: 2026-11-29 06:41:50.383304

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_external_referrals'
down_revision = '0012_followups'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_provider', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('external_sector', sa.String(length=16), nullable=True))
        batch_op.alter_column('to_organization_id', existing_type=sa.Uuid(as_uuid=False), nullable=True)
        batch_op.create_check_constraint(
            'ck_referral_one_receiver', '(to_organization_id IS NULL) <> (external_sector IS NULL)'
        )

    with op.batch_alter_table('referral_transition', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('referral_transition', schema=None) as batch_op:
        batch_op.drop_column('note')

    # external referrals cannot exist without the columns that name their provider
    op.execute("DELETE FROM referral WHERE to_organization_id IS NULL")
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_constraint('ck_referral_one_receiver', type_='check')
        batch_op.alter_column('to_organization_id', existing_type=sa.Uuid(as_uuid=False), nullable=False)
        batch_op.drop_column('external_sector')
        batch_op.drop_column('external_provider')
