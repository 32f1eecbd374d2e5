"""person_file.government_paid: the grid worker's task list orders by it without reading persons.

A copy of "the person is in a government-paid key population" (person.key_populations & 127),
kept in step by every writer of key_populations (portal/persons/government_paid.py). Backfilled
here in one statement.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The government-paid groups' bits when this migration was written (persons/codes.py).
GOVERNMENT_PAID_MASK = 127


def upgrade():
    with op.batch_alter_table('person_file') as batch:
        batch.add_column(
            sa.Column('government_paid', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        'UPDATE person_file SET government_paid = TRUE WHERE person_id IN '
        f'(SELECT id FROM person WHERE (key_populations & {GOVERNMENT_PAID_MASK}) <> 0)'
    )


def downgrade():
    with op.batch_alter_table('person_file') as batch:
        batch.drop_column('government_paid')
