"""Files in the database: uploads, error workbooks and evidence every machine reaches.

- stored_file: a file's key (uploads/batch-12.xlsx), size and when it was written.
- stored_file_chunk: its content in 1 MB chunks, in order; on PostgreSQL stored EXTERNAL (not
  compressed again: workbooks are zip files already).

See portal/storage/__init__.py for why the database rather than an object store.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 12:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stored_file",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_stored_file")),
    )
    op.create_index(op.f("ix_stored_file_created_at"), "stored_file", ["created_at"], unique=False)
    op.create_table(
        "stored_file_chunk",
        sa.Column("file_key", sa.String(length=300), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_key"],
            ["stored_file.key"],
            name=op.f("fk_stored_file_chunk_file_key_stored_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_key", "seq", name=op.f("pk_stored_file_chunk")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE stored_file_chunk ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade():
    op.drop_table("stored_file_chunk")
    op.drop_index(op.f("ix_stored_file_created_at"), table_name="stored_file")
    op.drop_table("stored_file")
