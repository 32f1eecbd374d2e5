"""The maintained figures: the headline counts per community and insurance year.

- community_figures: (year, region_code) key, one integer column per count
  (portal/stats/counts.py), refreshed_at. Kept exact by every writer
  (portal/stats/maintain.py). Empty after this migration: run `portal stats rebuild`; until
  then a year without rows is counted directly, and the first writer touching it builds it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 08:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'community_figures',
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(), nullable=False),
        sa.Column('persons', sa.Integer(), server_default='0', nullable=False),
        sa.Column('register', sa.Integer(), server_default='0', nullable=False),
        sa.Column('resident_only', sa.Integer(), server_default='0', nullable=False),
        sa.Column('excluded', sa.Integer(), server_default='0', nullable=False),
        sa.Column('insured', sa.Integer(), server_default='0', nullable=False),
        sa.Column('insured_employee', sa.Integer(), server_default='0', nullable=False),
        sa.Column('insured_resident', sa.Integer(), server_default='0', nullable=False),
        sa.Column('insured_local', sa.Integer(), server_default='0', nullable=False),
        sa.Column('insured_elsewhere', sa.Integer(), server_default='0', nullable=False),
        sa.Column('government_paid', sa.Integer(), server_default='0', nullable=False),
        sa.Column('government_paid_insured', sa.Integer(), server_default='0', nullable=False),
        sa.Column('e_credential', sa.Integer(), server_default='0', nullable=False),
        sa.Column('mismatched', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_unassigned', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_assigned', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_following', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_pending_confirmation', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_pending_review', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_enrolled', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_exempt', sa.Integer(), server_default='0', nullable=False),
        sa.Column('files_declined', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_insured_elsewhere', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_other_scheme', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_deceased', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_abroad', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_in_prison', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_away_working', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_lost_contact', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_hardship', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_declined', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_wrong_record', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_other', sa.Integer(), server_default='0', nullable=False),
        sa.Column('open_none', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('year', 'region_code', name=op.f('pk_community_figures')),
    )


def downgrade():
    op.drop_table('community_figures')
