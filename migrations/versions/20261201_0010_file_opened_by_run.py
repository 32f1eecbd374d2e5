"""person_file.opened_by_run_id: the comparison that opened a file at a person's first comparison.

That comparison changes every person the same way (insured status unknown → uninsured, a file
opened): a first comparison of a city wrote a million such history rows, 15 s of its 50 s. It
now writes none for them; the file keeps the run, and the history shows the change from it
(persons/queries.history_of). Existing rows stay as they are.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('person_file') as batch:
        batch.add_column(sa.Column('opened_by_run_id', sa.Integer(), nullable=True))


def downgrade():
    # The history rows the runs did not write are written now, so that no change is lost.
    op.execute(
        'INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, changes) '
        "SELECT f.person_id, f.region_code, f.opened_at, r.user_id, 'comparison', "
        'f.opened_by_run_id, \'{"insured_status": ["unknown", "uninsured"], '
        '"file_state": [null, "unassigned"]}\' FROM person_file f '
        'LEFT JOIN comparison_run r ON r.id = f.opened_by_run_id '
        'WHERE f.opened_by_run_id IS NOT NULL'
    )
    with op.batch_alter_table('person_file') as batch:
        batch.drop_column('opened_by_run_id')
