"""person.created_batch_id: the import batch that created a person, instead of a history row.

A first import of a million persons wrote a million "created" rows into person_change (a
quarter of its time); the history now shows the creation from this column. Existing "created"
rows are folded into it and removed, so the history does not show the creation twice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 16:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# What portal/imports/apply.py wrote as the changes of a creation (json.dumps({"created": True})).
CREATED = "CAST(changes AS TEXT) = '{\"created\": true}'"


def upgrade():
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('created_batch_id', sa.Integer(), nullable=True))
    # One join, not a subquery per person (a person is created once: one row each).
    op.execute(
        'UPDATE person SET created_batch_id = c.batch_id FROM person_change c '
        f'WHERE c.person_id = person.id AND {CREATED.replace("changes", "c.changes")}'
    )
    op.execute(f'DELETE FROM person_change WHERE {CREATED}')


def downgrade():
    op.execute(
        'INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, changes) '
        "SELECT p.id, p.region_code, p.created_at, b.user_id, 'import', p.created_batch_id, "
        "'{\"created\": true}' FROM person p LEFT JOIN import_batch b ON b.id = p.created_batch_id "
        'WHERE p.created_batch_id IS NOT NULL'
    )
    with op.batch_alter_table('person') as batch:
        batch.drop_column('created_batch_id')
