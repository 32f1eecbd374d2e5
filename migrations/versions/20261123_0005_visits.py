"""Assignments and visits: file due dates and follow-ups, the visit table with its review.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'visit',
        sa.Column('id', BigId, nullable=False),
        sa.Column('file_id', BigId, nullable=False),
        sa.Column('person_id', BigId, nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('outcome', sa.String(length=24), nullable=False),
        sa.Column('reason_code', sa.String(length=32), nullable=True),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('follow_up_on', sa.Date(), nullable=True),
        sa.Column('idempotency_key', sa.String(length=36), nullable=False),
        sa.Column('review_state', sa.String(length=16), nullable=True),
        sa.Column('reviewer_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.Column('review_comment', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_visit_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_visit')),
        sa.UniqueConstraint('user_id', 'idempotency_key', name=op.f('uq_visit_user_id')),
    )
    op.create_index('ix_visit_file_at', 'visit', ['file_id', 'at'], unique=False)
    op.create_index('ix_visit_region_review', 'visit', ['region_code', 'review_state'],
                    unique=False)
    op.create_index('ix_visit_user_at', 'visit', ['user_id', 'at'], unique=False)
    with op.batch_alter_table('person_file', schema=None) as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=16),
                              type_=sa.String(length=24), existing_nullable=False)
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('last_visit_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_visitor_id', sa.Integer(), nullable=True))
        batch_op.drop_index('ix_person_file_assignee_id')
        batch_op.create_index('ix_person_file_assignee_state', ['assignee_id', 'state'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('person_file', schema=None) as batch_op:
        batch_op.drop_index('ix_person_file_assignee_state')
        batch_op.create_index('ix_person_file_assignee_id', ['assignee_id'], unique=False)
        batch_op.drop_column('last_visitor_id')
        batch_op.drop_column('last_visit_at')
        batch_op.drop_column('follow_up_on')
        batch_op.drop_column('due_date')
        batch_op.drop_column('assigned_at')
        batch_op.alter_column('state', existing_type=sa.String(length=24),
                              type_=sa.String(length=16), existing_nullable=False)
    op.drop_index('ix_visit_user_at', table_name='visit')
    op.drop_index('ix_visit_region_review', table_name='visit')
    op.drop_index('ix_visit_file_at', table_name='visit')
    op.drop_table('visit')
