"""The database store's tables (portal/storage/database.py)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class StoredFile(db.Model):
    """One stored file: its key (uploads/batch-12.xlsx), size and when it was written."""

    __tablename__ = "stored_file"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class StoredFileChunk(db.Model):
    """1 MB of a stored file, in order (seq from 0)."""

    __tablename__ = "stored_file_chunk"

    file_key: Mapped[str] = mapped_column(
        String(300), ForeignKey("stored_file.key", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
