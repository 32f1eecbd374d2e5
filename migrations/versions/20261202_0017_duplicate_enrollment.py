"""Duplicate enrollment (重复参保): what the extract says for the keep-rules, cases, their figures.

- enrollment: the columns the keep-rules read where the extract gives them (all optional):
  category (在职 / 退休 / 灵活就业 / 学生 / 城乡居民 / 其他), employer (单位或学校), employer_region_code
  (就业地 / 学籍地), payment_status, paid_until, continuous_months (连续参保月数), benefits (享受
  待遇中); and how a decided case handled the record (handled_case_id, handled_action keep /
  terminate / suspend, handled_at, status_before): a record is marked, never deleted.
- duplicate_case: one per person (ID number) and insurance year: kind (employee / resident /
  cross), state (open / not_duplicate / resolved), the recommendation (recommended_id, rule,
  missing fact, subsidy deductions), the proposal and the second user's confirmation (four eyes),
  version (two users deciding at once: one wins).
- duplicate_member: the records of a case, with their insured place (the scope column: every
  region holding a record sees the case) and the proposed and decided action per record.
- duplicate_figures: maintained per (year, region_code) like community_figures.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 11:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
FIGURES = (
    'cases', 'cases_employee', 'cases_resident', 'cases_cross', 'open', 'resolved',
    'not_duplicate', 'subsidy_deductions', 'records',
)


def upgrade():
    with op.batch_alter_table('enrollment') as batch:
        batch.add_column(sa.Column('category', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('employer', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('employer_region_code', sa.String(length=12), nullable=True))
        batch.add_column(sa.Column('payment_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('paid_until', sa.Date(), nullable=True))
        batch.add_column(sa.Column('continuous_months', sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column('benefits', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('handled_case_id', BigId, nullable=True))
        batch.add_column(sa.Column('handled_action', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('handled_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('status_before', sa.String(length=16), nullable=True))
    op.create_table(
        'duplicate_case',
        sa.Column('id', BigId, nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('id_number', sa.String(length=18), nullable=False),
        sa.Column('person_id', BigId, nullable=True),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('rule', sa.String(length=32), nullable=True),
        sa.Column('recommended_id', BigId, nullable=True),
        sa.Column('missing', sa.String(length=32), nullable=True),
        sa.Column('subsidy_deductions', sa.Integer(), server_default='0', nullable=False),
        sa.Column('detected_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('proposal_reason', sa.String(length=500), nullable=True),
        sa.Column('proposed_by_id', sa.Integer(), nullable=True),
        sa.Column('proposed_at', sa.DateTime(), nullable=True),
        sa.Column('proposer_region_code', sa.String(length=12), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decision_comment', sa.String(length=500), nullable=True),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_case')),
        sa.UniqueConstraint('year', 'id_number', name=op.f('uq_duplicate_case_year')),
    )
    with op.batch_alter_table('duplicate_case') as batch:
        batch.create_index('ix_duplicate_case_region_state', ['region_code', 'state'])
    op.create_table(
        'duplicate_member',
        sa.Column('case_id', BigId, nullable=False),
        sa.Column('enrollment_id', BigId, nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('scheme', sa.String(length=16), nullable=False),
        sa.Column('proposed_action', sa.String(length=16), nullable=True),
        sa.Column('action', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('case_id', 'enrollment_id', name=op.f('pk_duplicate_member')),
    )
    with op.batch_alter_table('duplicate_member') as batch:
        batch.create_index('ix_duplicate_member_region', ['region_code', 'case_id'])
        batch.create_index('ix_duplicate_member_enrollment', ['enrollment_id'])
    op.create_table(
        'duplicate_figures',
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default='0', nullable=False) for name in FIGURES),
        sa.PrimaryKeyConstraint('year', 'region_code', name=op.f('pk_duplicate_figures')),
    )


def downgrade():
    op.drop_table('duplicate_figures')
    with op.batch_alter_table('duplicate_member') as batch:
        batch.drop_index('ix_duplicate_member_enrollment')
        batch.drop_index('ix_duplicate_member_region')
    op.drop_table('duplicate_member')
    with op.batch_alter_table('duplicate_case') as batch:
        batch.drop_index('ix_duplicate_case_region_state')
    op.drop_table('duplicate_case')
    with op.batch_alter_table('enrollment') as batch:
        for name in ('status_before', 'handled_at', 'handled_action', 'handled_case_id',
                     'benefits', 'continuous_months', 'paid_until', 'payment_status',
                     'employer_region_code', 'employer', 'category'):
            batch.drop_column(name)
