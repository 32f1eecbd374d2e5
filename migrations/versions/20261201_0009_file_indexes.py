"""person_file: no unique index on file_number; the assignee index holds assigned files only.

A comparison opening a million files entered each in five indexes. Two of those entries were
waste: the file number is "{year}-{region}-{person id}", unique because (person_id, year) is,
and never looked up; and every new file is unassigned, while the assignee index serves the
lists of files assigned to someone (assignee_id = …, IS NOT NULL). Together they took 4-6 s of
the 23-30 s the comparison's file INSERT took for a million files (bench/import_household.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ASSIGNED = sa.text('assignee_id IS NOT NULL')


def upgrade():
    with op.batch_alter_table('person_file') as batch:
        batch.drop_constraint('uq_person_file_file_number', type_='unique')
        batch.drop_index('ix_person_file_assignee_state')
        batch.create_index(
            'ix_person_file_assignee_state', ['assignee_id', 'state'],
            postgresql_where=ASSIGNED, sqlite_where=ASSIGNED,
        )


def downgrade():
    with op.batch_alter_table('person_file') as batch:
        batch.drop_index('ix_person_file_assignee_state')
        batch.create_index('ix_person_file_assignee_state', ['assignee_id', 'state'])
        batch.create_unique_constraint('uq_person_file_file_number', ['file_number'])
