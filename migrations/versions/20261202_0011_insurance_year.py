"""The insurance year, insured records as extracts send them, files that follow their person.

- enrollment.name (the extract's name, for identity mismatches) and vouched_prefix (the
  importing region, for records whose insured place lies outside it: 异地参保);
- person.excluded_reason / excluded_at: out of the population that must be insured;
- person_file.carried_from_year: a file carried into a later insurance year;
- file_move: open files that moved with their person (移入 / 移出);
- comparison_run: carried, returned, excluded, mismatched, moved, the guard's checks, forced,
  coverage per township;
- import_batch.matched: persons matched by a list of records.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('enrollment') as batch:
        batch.add_column(sa.Column('name', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('vouched_prefix', sa.String(length=12), nullable=True))
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('excluded_reason', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('excluded_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('person_file') as batch:
        batch.add_column(sa.Column('carried_from_year', sa.SmallInteger(), nullable=True))
    with op.batch_alter_table('comparison_run') as batch:
        for name in ('carried', 'returned', 'excluded', 'mismatched', 'moved'):
            batch.add_column(sa.Column(name, sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('checks', sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column('forced', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column('townships', sa.JSON(), nullable=True))
    with op.batch_alter_table('import_batch') as batch:
        batch.add_column(sa.Column('matched', sa.Integer(), nullable=True))
    op.create_table(
        'file_move',
        sa.Column('id', BigId, nullable=False),
        sa.Column('file_id', BigId, nullable=False),
        sa.Column('person_id', BigId, nullable=False),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('from_region_code', sa.String(length=12), nullable=False),
        sa.Column('to_region_code', sa.String(length=12), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('cause', sa.String(length=16), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('old_assignee_id', sa.Integer(), nullable=True),
        sa.Column('kept_assignee', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_file_move_to', 'file_move', ['to_region_code', 'year'])
    op.create_index('ix_file_move_from', 'file_move', ['from_region_code', 'year'])
    op.create_index('ix_file_move_person_id', 'file_move', ['person_id'])


def downgrade():
    op.drop_index('ix_file_move_person_id', table_name='file_move')
    op.drop_index('ix_file_move_from', table_name='file_move')
    op.drop_index('ix_file_move_to', table_name='file_move')
    op.drop_table('file_move')
    with op.batch_alter_table('import_batch') as batch:
        batch.drop_column('matched')
    with op.batch_alter_table('comparison_run') as batch:
        for name in ('townships', 'forced', 'checks', 'moved', 'mismatched', 'excluded',
                     'returned', 'carried'):
            batch.drop_column(name)
    with op.batch_alter_table('person_file') as batch:
        batch.drop_column('carried_from_year')
    with op.batch_alter_table('person') as batch:
        batch.drop_column('excluded_at')
        batch.drop_column('excluded_reason')
    with op.batch_alter_table('enrollment') as batch:
        batch.drop_column('vouched_prefix')
        batch.drop_column('name')
