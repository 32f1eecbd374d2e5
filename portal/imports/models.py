"""Import batches: one uploaded file, its counts, its error workbook and its job."""

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class ImportBatch(db.Model):
    """One list imported by one user into one region; applied whole or not at all."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # The importing user's grant region the batch is scoped to.
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Lists of records about persons (insured, lapsed): how many distinct persons of the
    # importing region's population the accepted records matched (None for other kinds).
    matched: Mapped[int | None] = mapped_column(Integer)
    error_file: Mapped[str | None] = mapped_column(String(500))
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class ColumnMapping(db.Model):
    """Which column holds each field, as a user chose it for one header row (the mapping step).

    Applied to the next file of the same list kind with the same header row (its signature:
    columns.header_signature) imported by a user of the region or below it (mappings.py)."""

    __tablename__ = "column_mapping"
    __table_args__ = (UniqueConstraint("list_kind", "signature", "region_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_kind: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(64))
    # field → 0-based column, e.g. {"id_number": 2, "name": 1, "region": 5}
    mapping: Mapped[dict] = mapped_column(JSON)
    # The region of the user who saved it: it serves that region and every region below.
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
