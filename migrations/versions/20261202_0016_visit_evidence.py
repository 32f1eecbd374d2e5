"""Evidence for closures: the visit_evidence table and the reviewer's waiver reason.

- visit_evidence: one image attached to a visit (or pending on the worker's form: visit_id NULL,
  form_key the form's idempotency key); the image is in the file store (storage_key).
- visit.evidence_waiver: why a supervisor approved a closure without the evidence its outcome
  requires (portal/visits/evidence_rules.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 14:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "visit_evidence",
        sa.Column("id", BigId, nullable=False),
        sa.Column("visit_id", BigId, nullable=True),
        sa.Column("file_id", BigId, nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("form_key", sa.String(length=36), nullable=True),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["app_user.id"],
            name=op.f("fk_visit_evidence_uploaded_by_id_app_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_evidence")),
    )
    op.create_index("ix_visit_evidence_visit", "visit_evidence", ["visit_id"], unique=False)
    op.create_index(
        "ix_visit_evidence_pending", "visit_evidence", ["uploaded_by_id", "form_key"], unique=False
    )
    op.create_index(op.f("ix_visit_evidence_file_id"), "visit_evidence", ["file_id"], unique=False)
    op.create_index(
        op.f("ix_visit_evidence_uploaded_at"), "visit_evidence", ["uploaded_at"], unique=False
    )
    op.add_column("visit", sa.Column("evidence_waiver", sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table("visit") as batch:
        batch.drop_column("evidence_waiver")
    op.drop_index(op.f("ix_visit_evidence_uploaded_at"), table_name="visit_evidence")
    op.drop_index(op.f("ix_visit_evidence_file_id"), table_name="visit_evidence")
    op.drop_index("ix_visit_evidence_pending", table_name="visit_evidence")
    op.drop_index("ix_visit_evidence_visit", table_name="visit_evidence")
    op.drop_table("visit_evidence")
