"""Columns by meaning: the mappings users chose for header rows the portal could not map.

- column_mapping: list kind, the header row's signature, the mapping (field → column) as JSON,
  the region of the user who saved it (it serves that region and the regions below), who saved
  it and when.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'column_mapping',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('list_kind', sa.String(length=32), nullable=False),
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['created_by'], ['app_user.id'], name=op.f('fk_column_mapping_created_by_app_user')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_column_mapping')),
        sa.UniqueConstraint(
            'list_kind', 'signature', 'region_code', name=op.f('uq_column_mapping_list_kind')
        ),
    )
    op.create_index(
        op.f('ix_column_mapping_region_code'), 'column_mapping', ['region_code'], unique=False
    )


def downgrade():
    op.drop_index(op.f('ix_column_mapping_region_code'), table_name='column_mapping')
    op.drop_table('column_mapping')
