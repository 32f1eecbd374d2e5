"""Person rows leave half of each page free, so that the comparison's status update is HOT.

The comparison (比对) rewrites the insured status of every person whose status changed — on the
first run of a year, everyone. With full pages each new row version lands on another page and
all three indexes of person (id, id_number, region_code) get a new entry: about 18 s for a
million persons. With room on the page the update is heap-only (HOT, none of the updated
columns is indexed): about 2.5 s. Takes effect for rows written from now on; rewrite an existing
large table at a quiet time (VACUUM FULL person) to give its old pages the room too.

PostgreSQL only; SQLite has no fillfactor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00

"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

FILLFACTOR = 50


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE person SET (fillfactor = {FILLFACTOR})')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE person RESET (fillfactor)')
