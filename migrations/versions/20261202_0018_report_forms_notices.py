"""Report forms, their submission level by level, and the monthly ranking notice.

- community_figures: `lapsed` (must-insure persons flagged 断缴人员) and, per key population,
  the uninsured must-insure persons (uninsured_<code>): the not-enrolled form's columns,
  maintained like the rest (portal/stats/counts.py).
- report_period, report_submission, report_event: portal/reports/models.py.
- ranking_notice: portal/notices/models.py.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 14:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
KEY_CODES = (
    'extreme_poverty', 'minimum_allowance', 'lifted_poverty', 'monitored', 'orphan',
    'severe_disability', 'veteran', 'student', 'newborn', 'flexible_worker', 'migrant_worker',
    'land_lost_farmer', 'released_prisoner', 'lapsed_payer',
)
NEW_COUNTS = ('lapsed', *(f'uninsured_{code}' for code in KEY_CODES))


def upgrade():
    with op.batch_alter_table('community_figures') as batch:
        for name in NEW_COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'report_period',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('county_due', sa.Date(), nullable=True),
        sa.Column('city_due', sa.Date(), nullable=True),
        sa.Column('province_due', sa.Date(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('region_code', 'year', 'code'),
    )
    op.create_table(
        'report_submission',
        sa.Column('id', BigId, nullable=False),
        sa.Column('period_id', sa.Integer(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('snapshot', sa.JSON(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=False),
        sa.Column('submitted_by_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
        sa.Column('comment', sa.String(length=500), nullable=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.ForeignKeyConstraint(['period_id'], ['report_period.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('period_id', 'region_code'),
    )
    op.create_table(
        'report_event',
        sa.Column('id', BigId, nullable=False),
        sa.Column('submission_id', BigId, nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('comment', sa.String(length=500), nullable=True),
        sa.Column('snapshot', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['submission_id'], ['report_submission.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_report_event_submission', 'report_event', ['submission_id', 'at'])
    op.create_table(
        'ranking_notice',
        sa.Column('id', BigId, nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('final', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('taken_at', sa.DateTime(), nullable=False),
        sa.Column('taken_by_id', sa.Integer(), nullable=True),
        sa.Column('rows', sa.JSON(), nullable=False),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ranking_notice_region_month', 'ranking_notice', ['region_code', 'month'])


def downgrade():
    op.drop_index('ix_ranking_notice_region_month', table_name='ranking_notice')
    op.drop_table('ranking_notice')
    op.drop_index('ix_report_event_submission', table_name='report_event')
    op.drop_table('report_event')
    op.drop_table('report_submission')
    op.drop_table('report_period')
    with op.batch_alter_table('community_figures') as batch:
        for name in reversed(NEW_COUNTS):
            batch.drop_column(name)
