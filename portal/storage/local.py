"""The local store: files under the instance directory, 0600 in 0700 folders (one machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from portal.storage import (
    CHUNK_BYTES,
    StoredFileMissing,
    check_key,
    create_private,
    private_dir,
)


class LocalStorage:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of a key. Batches stored before the store existed hold an absolute path
        inside the instance directory: it is still found."""
        candidate = Path(key)
        if candidate.is_absolute():
            resolved = candidate.resolve()
            if not resolved.is_relative_to(self.root.resolve()):
                raise ValueError(f"outside the instance directory: {key!r}")
            return resolved
        return self.root / check_key(key)

    def _target(self, key: str) -> Path:
        path = self.path(key)
        for parent in reversed(path.relative_to(self.root).parents):
            if str(parent) != ".":
                private_dir(self.root / parent)
        return path

    def put(self, key: str, stream: BinaryIO) -> int:
        path = self._target(key)
        part = path.with_name(path.name + ".part")
        try:
            with create_private(part) as out:
                shutil.copyfileobj(stream, out, length=CHUNK_BYTES)
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return path.stat().st_size

    def put_file(self, key: str, path: Path) -> int:
        """Move a finished file in (a rename within the instance directory)."""
        target = self._target(key)
        os.chmod(path, 0o600)
        try:
            os.replace(path, target)
        except OSError:  # another file system: copy, then remove the original
            with open(path, "rb") as stream:
                self.put(key, stream)
            Path(path).unlink(missing_ok=True)
        return target.stat().st_size

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise StoredFileMissing(key)
        yield path

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def older_than(self, prefix: str, cutoff: datetime) -> list[str]:
        """Keys under a folder prefix ("uploads/") last written before cutoff (naive UTC)."""
        folder = self.root / check_key(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        limit = cutoff.timestamp() if cutoff.tzinfo else _naive_utc_timestamp(cutoff)
        return sorted(
            str(p.relative_to(self.root))
            for p in folder.rglob("*")
            if p.is_file() and p.stat().st_mtime < limit
        )

    def location(self, key: str) -> str:
        return str(self.path(key))


def _naive_utc_timestamp(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()
