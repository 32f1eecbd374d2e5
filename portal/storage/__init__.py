"""Where uploads, error workbooks and (later) visit evidence live: one small interface, two stores.

Every file holding personal data goes through `store()`: `put` / `put_file` (move a finished
file in), `open` (a readable binary file), `local_copy` (a path, for readers that need one:
calamine, the parallel loader), `delete`, `older_than` (for `portal files purge`) and `exists`.
Keys are relative paths such as ``uploads/batch-12.xlsx`` or ``exports/import-12-errors.xlsx``.

The two stores (FILE_STORAGE):

- ``local`` (the embedded default, with SQLite): the files under the instance directory, as
  before (``instance/uploads``, ``instance/exports``), owner-only: 0600 files in 0700 folders.
- ``database`` (the default with PostgreSQL): the files in the database itself, in 1 MB chunks
  (tables stored_file and stored_file_chunk, migration 0015).

Why the database rather than an S3-compatible object store (MinIO). Where several machines serve,
every web process and every `portal worker` already reaches one PostgreSQL server: the upload a web
machine receives is read by a worker on another machine, and the error workbook the worker writes
is downloaded through any web machine, with no second service to install, secure, monitor and back
up on a level-3 protected system, no second set of credentials to hand every process, and with
the personal data in one place whose access control, encryption, backups and point-in-time
recovery the office already runs. The files are written in the same transaction as the rows that
name them: an upload is stored if and only if its batch is; a failed job leaves no error workbook
behind; nothing can be orphaned by a crash between the two. The costs are known and bounded: the
files pass through the WAL and the backups (a 40 MB household register, a few MB of error rows;
`portal files purge` deletes them after FILE_RETENTION_DAYS), chunks are stored uncompressed
(xlsx is zip already: the column is STORAGE EXTERNAL) and written and read one chunk at a time,
so a file of hundreds of MB never sits in memory. Readers get a private temporary copy (0600 in a
0700 folder, deleted after use): calamine needs a path anyway. Large objects (lo_*) would save
the chunking but are PostgreSQL only, outside the tables' permissions and left behind by a
deleted row unless vacuumlo runs; chunks in a table behave like every other row, on SQLite too
(which is how the two-machine path is tested here without a server). Should files ever outgrow
the database (evidence photos by the million), an S3 store is one more class with these six
methods.

Files that only live while a request sends them (the person and dashboard exports) are written
to `scratch_dir()` (instance/exports, 0700) and deleted at once; they never need sharing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app

CHUNK_BYTES = 1024 * 1024
DIR_MODE = 0o700
FILE_MODE = 0o600


class StoredFileMissing(FileNotFoundError):
    """The key names no stored file (never stored, or purged after its retention)."""


class Storage(Protocol):
    def put(self, key: str, stream: BinaryIO) -> int: ...
    def put_file(self, key: str, path: Path) -> int: ...
    def open(self, key: str) -> BinaryIO: ...
    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def older_than(self, prefix: str, cutoff: datetime) -> list[str]: ...
    def location(self, key: str) -> str: ...


# --- owner-only files and folders ------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """Create the folder (and its missing parents) owner-only; an existing one is made 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make a file a library wrote owner-only (its folder already is)."""
    path.chmod(FILE_MODE)
    return path


def create_private(path: Path) -> BinaryIO:
    """Open a new file for writing, created 0600 (never readable by others, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode otherwise
    return os.fdopen(fd, "wb")


def scratch_dir(name: str = "tmp") -> Path:
    """A private folder of this machine's instance directory (instance/tmp, instance/exports):
    files written there are moved into the store or deleted after use."""
    return private_dir(Path(current_app.config["INSTANCE_DIR"]) / name)


def private_temp_path(suffix: str = "", name: str = "tmp", prefix: str = "tmp") -> Path:
    """A new empty private file (0600) in scratch_dir(name); the caller deletes it. Writers
    that truncate it (openpyxl, zipfile) keep its mode."""
    fd, path = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=scratch_dir(name))
    os.close(fd)
    return Path(path)


def check_key(key: str) -> str:
    parts = Path(key).parts
    if not key or Path(key).is_absolute() or ".." in parts or key.endswith("/"):
        raise ValueError(f"not a storage key: {key!r}")
    return key


# --- the store of this application ----------------------------------------------------------


def install(app: Flask) -> None:
    """Build the application's store from FILE_STORAGE (auto: database with PostgreSQL)."""
    from portal.storage.database import DatabaseStorage
    from portal.storage.local import LocalStorage

    kind = (app.config.get("FILE_STORAGE") or "auto").lower()
    if kind == "auto":
        postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
        kind = "database" if postgres else "local"
    if kind == "local":
        storage: Storage = LocalStorage(Path(app.config["INSTANCE_DIR"]))
    elif kind == "database":
        storage = DatabaseStorage()
    else:
        raise ValueError(f"FILE_STORAGE must be local, database or auto, not {kind!r}")
    app.extensions["portal_storage"] = storage
    app.config["FILE_STORAGE"] = kind


def store() -> Storage:
    return current_app.extensions["portal_storage"]


def copy_to_private_temp(stream: BinaryIO, suffix: str) -> Path:
    """Write a stream to a new private temporary file of this machine; the caller deletes it."""
    path = private_temp_path(suffix)
    try:
        with path.open("r+b") as out:
            shutil.copyfileobj(stream, out, length=CHUNK_BYTES)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
