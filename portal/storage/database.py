"""The database store: files as 1 MB chunks in stored_file_chunk, in the caller's transaction.

A file is written and read one chunk at a time (a statement each), so neither side ever holds
more than a chunk in memory; readers get a private temporary copy on this machine's disk.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, insert, select

from portal.extensions import db
from portal.storage import (
    CHUNK_BYTES,
    StoredFileMissing,
    check_key,
    private_temp_path,
    scratch_dir,
)
from portal.storage.models import StoredFile, StoredFileChunk
from portal.timeutil import utcnow


class DatabaseStorage:
    def put(self, key: str, stream: BinaryIO) -> int:
        check_key(key)
        self.delete(key)
        session = db.session
        session.execute(insert(StoredFile).values(key=key, size=0, created_at=utcnow()))
        size = seq = 0
        while True:
            data = stream.read(CHUNK_BYTES)
            if not data:
                break
            session.execute(insert(StoredFileChunk).values(file_key=key, seq=seq, data=data))
            size += len(data)
            seq += 1
        session.execute(
            StoredFile.__table__.update().where(StoredFile.key == key).values(size=size)
        )
        return size

    def put_file(self, key: str, path: Path) -> int:
        try:
            with open(path, "rb") as stream:
                return self.put(key, stream)
        finally:
            Path(path).unlink(missing_ok=True)

    def _chunks(self, key: str) -> Iterator[bytes]:
        count = db.session.scalar(
            select(db.func.count())
            .select_from(StoredFileChunk)
            .where(StoredFileChunk.file_key == key)
        )
        for seq in range(count or 0):
            yield db.session.scalar(
                select(StoredFileChunk.data).where(
                    StoredFileChunk.file_key == key, StoredFileChunk.seq == seq
                )
            )

    def _copy_into(self, key: str, out: BinaryIO) -> None:
        if not self.exists(key):
            raise StoredFileMissing(key)
        for data in self._chunks(key):
            out.write(data)

    def open(self, key: str) -> BinaryIO:
        """An anonymous private temporary file (gone when closed) holding the file."""
        out = tempfile.TemporaryFile(dir=scratch_dir())  # O_TMPFILE / unlinked at once
        try:
            self._copy_into(key, out)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A private temporary copy (0600, same suffix) for readers that need a path."""
        path = private_temp_path(suffix=Path(key).suffix)
        try:
            with path.open("r+b") as out:
                self._copy_into(key, out)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        found = db.session.scalar(select(StoredFile.key).where(StoredFile.key == key))
        return found is not None

    def delete(self, key: str) -> None:
        db.session.execute(delete(StoredFileChunk).where(StoredFileChunk.file_key == key))
        db.session.execute(delete(StoredFile).where(StoredFile.key == key))

    def older_than(self, prefix: str, cutoff: datetime) -> list[str]:
        like = check_key(prefix.rstrip("/")) + "/%"
        return list(
            db.session.scalars(
                select(StoredFile.key)
                .where(StoredFile.key.like(like), StoredFile.created_at < cutoff)
                .order_by(StoredFile.key)
            )
        )

    def location(self, key: str) -> str:
        return f"数据库文件存储：{key}"
