"""Targets, daily trends, activity per day, scheduled runs, the contact funnel.

- region_target: the target a level sets for each child region per insurance year: kind 'rate'
  (value in basis points, 0–10000 = 0–100 %) or 'count' (value in persons insured). Audited.
- daily_figures: one row per (region, day) of the trend figures, for every region at levels
  1–4 (kept for every year) and for communities (daily for the last 100 days, then the week's
  last day only: portal/stats/snapshots.py thins them). `filled` marks a day the snapshot job
  missed and filled in later. The key leads with region_code: a trend is one range scan.
- community_activity: visits and conversions per (day, community), maintained by the writers in
  their own transaction; the snapshot copies a finished day into daily_figures.
- scheduled_run: one row per (job name, period): the worker that inserts it runs the job; a
  second worker finds it and skips. Used by the daily snapshot and the monthly notices.
- community_figures: files_visited / files_agreed for the contact funnel.
- visit.activated_e_credential: the visit helped activate the person's e-credential.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 10:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TREND_COUNTS = (
    'persons', 'excluded', 'insured', 'open_files', 'files', 'government_paid',
    'government_paid_insured', 'e_credential', 'visits', 'conversions',
)


def upgrade():
    op.create_table(
        'region_target',
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('year', 'region_code', name=op.f('pk_region_target')),
    )
    op.create_table(
        'daily_figures',
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default='0', nullable=False)
          for name in TREND_COUNTS),
        sa.Column('filled', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('taken_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('region_code', 'day', name=op.f('pk_daily_figures')),
    )
    op.create_table(
        'community_activity',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('visits', sa.Integer(), server_default='0', nullable=False),
        sa.Column('conversions', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('day', 'region_code', name=op.f('pk_community_activity')),
    )
    op.create_table(
        'scheduled_run',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('worker', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('name', 'period', name=op.f('pk_scheduled_run')),
    )
    with op.batch_alter_table('community_figures') as batch:
        batch.add_column(sa.Column('files_visited', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('files_agreed', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('visit') as batch:
        batch.add_column(sa.Column('activated_e_credential', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))


def downgrade():
    with op.batch_alter_table('visit') as batch:
        batch.drop_column('activated_e_credential')
    with op.batch_alter_table('community_figures') as batch:
        batch.drop_column('files_agreed')
        batch.drop_column('files_visited')
    op.drop_table('scheduled_run')
    op.drop_table('community_activity')
    op.drop_table('daily_figures')
    op.drop_table('region_target')
