"""Import batches: one uploaded file, its counts, its error workbook and its job."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
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
