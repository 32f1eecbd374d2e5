"""Opening a big upload in a process of its own, while the importing process checks the file.

calamine parses a million-row sheet in about 6 s on one core. Before any of it may run in a
process that matters, the sheet's extent must be checked (safety.check_sheet_extent: cells far
apart make calamine allocate a dense grid of billions of cells and abort the process), which
takes 2 s more on one core. So a forked loader parses while the importing process checks, on the
other core: if the check refuses the file, the loader is killed (a hostile sheet aborts the
loader at worst, and its address space is capped so that it cannot take the machine's memory
meanwhile). The loader then finds the list (header, columns), reads the first band of rows and
forks a reader for each other band (parallel.py), and stays until the batch is applied, to hand
back the original cells of rows refused after staging, for the error workbook.

The importing process keeps its database connection and transaction to itself: the loader and
the readers only write files in a scratch directory and flags in shared memory.

Used where it pays and is safe (`usable`): PostgreSQL, a list keyed by the ID number alone, an
.xlsx or .xls big enough to hold MIN_ROWS rows, more than one core, and a process with no other
thread (a fork copies only the calling thread).
"""

import os
import pickle
import resource
import signal
import tempfile
import time
import traceback
from ctypes import c_int64
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import RawArray
from pathlib import Path

from sqlalchemy import Connection, text

from portal.imports import parallel, reading
from portal.imports.safety import UnsafeFile, check_sheet_extent
from portal.imports.validation import Rejection

MIN_BYTES_PER_ROW = 16  # a register row takes about 60 bytes of .xlsx: smaller files cannot hold
# MIN_ROWS rows
GIB = 1 << 30
INFO, BANDS, DUPLICATES, REQUEST, ANSWER = range(5)  # slots of the loader's flags
WAIT = 0.02  # seconds between looks at the flags


@dataclass
class Staged:
    """What the readers found: rows read, rows refused while reading, and the cross-band
    duplicates refused after staging (row number, reason)."""

    read: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)


def usable(connection: Connection, path: Path, file_kind: str, importer, min_rows: int) -> bool:
    return (
        importer.parallel_stage is not None
        and connection.dialect.name == "postgresql"
        and file_kind in ("xlsx", "xls")
        and hasattr(os, "fork")
        and parallel.cores() > 1
        and parallel.alone()
        and path.stat().st_size >= min_rows * MIN_BYTES_PER_ROW
    )


class Loader:
    """The loader process, seen from the importing process (a context manager)."""

    def __init__(
        self, connection: Connection, path: Path, file_kind: str, list_kind, importer, context,
        min_rows: int,
    ):  # fmt: skip
        self.path, self.file_kind, self.list_kind = path, file_kind, list_kind
        self.importer, self.context, self.min_rows = importer, context, min_rows
        # Readers that look up a refused region code open a connection of their own.
        self.database_url = connection.engine.url.render_as_string(hide_password=False)
        self.headers: tuple[str, ...] = ()
        self.last_row: int | None = None
        self.pid: int | None = None  # the loader, until it is reaped
        self.group: int | None = None  # the loader's process group: it and its readers

    def __enter__(self) -> "Loader":
        workers = parallel.cores()
        self._scratch = tempfile.TemporaryDirectory(prefix="portal-import-")
        self.scratch = Path(self._scratch.name)
        self.flags = RawArray(c_int64, 5)
        self.ready = RawArray(c_int64, workers)  # per band: 1 done, 2 failed
        self.counters = RawArray(c_int64, workers)  # per band: rows read so far
        self.chunks = RawArray(c_int64, workers)  # per band: files of rows complete so far
        pid = os.fork()
        if pid == 0:  # the loader: never returns
            _loader_main(self, workers, os.getppid())
        self.pid = self.group = pid
        try:
            os.setpgid(pid, pid)  # the loader leads a group holding its readers
        except OSError:
            pass  # it did so itself already
        return self

    def __exit__(self, *exc) -> None:
        """Stop the loader and any reader left (all are done unless the batch failed)."""
        try:
            os.killpg(self.group, signal.SIGKILL)
        except OSError:
            if self.pid is not None:
                os.kill(self.pid, signal.SIGKILL)
        if self.pid is not None:
            os.waitpid(self.pid, 0)
            self.pid = None
        self._scratch.cleanup()

    def stage(self, connection: Connection, progress) -> Staged:
        """Check the file while the loader parses it, then COPY the readers' files of rows into
        the staging table as they are complete. A refused file raises reading.ReadError."""
        if self.file_kind == "xlsx":
            try:
                check_sheet_extent(self.path)
            except UnsafeFile as exc:
                raise reading.ReadError(exc.message) from exc
        self._wait(lambda: self.flags[INFO], progress)
        info = self._load("info")
        if info[0] == "error":
            raise reading.ReadError(info[1])
        _, self.headers, self.last_row = info
        count = self.flags[BANDS]
        self.importer.create_stage(connection)
        staged = self._copy_bands(connection, count, progress)
        self._wait(lambda: self.flags[DUPLICATES], progress)
        found = self._load("duplicates")
        if found:
            stage_table = self.importer.parallel_stage.table
            connection.execute(
                text(f"DELETE FROM {stage_table} WHERE row_number = ANY(:rows)"),
                {"rows": [row_number for row_number, _ in found]},
            )
            message = self.importer.duplicate
            staged.duplicates = [(n, message.format(first=first)) for n, first in found]
        return staged

    def _copy_bands(self, connection: Connection, count: int, progress) -> Staged:
        """COPY each file of rows as soon as its reader completes it, until every band is read."""
        staged = Staged()
        copied = [0] * count  # files copied, per band
        unfinished = set(range(count))

        def news() -> bool:
            return any(self.ready[i] or self.chunks[i] > copied[i] for i in unfinished)

        while unfinished:
            self._wait(news, progress)
            for index in sorted(unfinished):
                finished = self.ready[index]  # read first: the band's count of files is then final
                while copied[index] < self.chunks[index]:
                    path = parallel.chunk_path(self.scratch, index, copied[index])
                    parallel.copy_chunk(connection, self.importer, path)
                    copied[index] += 1
                if finished:
                    result = parallel.outcome(self.scratch, index)
                    if finished != 1 or isinstance(result, str):
                        raise RuntimeError(f"导入的读取进程出错：{result}")
                    staged.read += result[0]
                    staged.rejections.extend(result[1])
                    unfinished.discard(index)
        return staged

    def raw_rows(self, wanted: set[int]) -> dict[int, list]:
        """The original cells of the rows numbered in `wanted`."""
        with (self.scratch / "wanted.pickle").open("wb") as f:
            pickle.dump(wanted, f)
        self.flags[REQUEST] = 1
        self._wait(lambda: self.flags[ANSWER], None)
        return self._load("raw")

    def _wait(self, done, progress) -> None:
        """Wait until done(); fail if the loader ended before."""
        while not done():
            if self.pid is None:
                raise RuntimeError("导入的读取进程出错：读取进程已经结束")
            ended, status = os.waitpid(self.pid, os.WNOHANG)
            if ended:
                self.pid = None
                if done():
                    return
                raise RuntimeError(f"导入的读取进程出错：{self._loader_error(status)}")
            if progress is not None and self.flags[INFO] == 1:
                read = sum(self.counters)
                progress(read, self.last_row, f"已读取 {read} 行")
            time.sleep(WAIT)

    def _load(self, name: str):
        with (self.scratch / f"{name}.pickle").open("rb") as f:
            return pickle.load(f)

    def _loader_error(self, status: int) -> str:
        try:
            return (self.scratch / "loader.error").read_text()
        except OSError:
            return f"读取进程异常退出（{os.waitstatus_to_exitcode(status)}）"


def _loader_main(loader: Loader, workers: int, parent: int) -> None:
    """The loader process: it leaves without running any of the importing process's exit
    handlers, and never touches its database connection."""
    code = 1
    try:
        os.setpgid(0, 0)
        _cap_address_space(loader.path)
        _load(loader, workers, parent)
        code = 0
    except BaseException:  # noqa: BLE001 - reported to the importing process
        try:
            (loader.scratch / "loader.error").write_text(traceback.format_exc(limit=5)[-2000:])
        finally:
            os._exit(1)
    finally:
        os._exit(code)


def _cap_address_space(path: Path) -> None:
    """A sheet the parent's check would refuse cannot make the loader take the machine's
    memory before it is killed: calamine's allocation fails (and aborts the loader) instead."""
    try:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    cap = mapped + 4 * GIB + 32 * path.stat().st_size
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _load(loader: Loader, workers: int, parent: int) -> None:
    def dump(name: str, value) -> None:
        with (loader.scratch / f"{name}.pickle").open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)

    try:
        # The importing process is checking the extent meanwhile (and kills us if it fails).
        table = reading.open_table(loader.path, loader.file_kind, loader.list_kind, max_cells=None)
    except reading.ReadError as exc:  # missing columns, unreadable file
        dump("info", ("error", exc.message))
        loader.flags[INFO] = 1
        return
    parts = parallel.plan(table, loader.min_rows, workers)
    dump("info", ("ok", table.headers, table.last_row))
    loader.flags[BANDS] = len(parts)
    loader.flags[INFO] = 1
    args = (loader.importer, loader.context)
    shared = (loader.scratch, (loader.counters, loader.chunks, loader.ready))
    url = loader.database_url
    readers = {
        parallel.fork_reader(table, *args, band, *shared, index, url): index
        for index, band in enumerate(parts[1:], 1)
    }
    first_band = parallel.read_band(table, *args, parts[0], *shared, 0, url)
    failed = False
    for pid, index in readers.items():
        _, status = os.waitpid(pid, 0)
        if not loader.ready[index]:  # killed before it could say so
            parallel.fail_band(loader.scratch, loader.ready, index, status)
        failed = failed or loader.ready[index] != 1 or status != 0
    if loader.ready[0] != 1 or failed:
        return  # the importing process fails the batch
    dump("duplicates", parallel.duplicates(loader.scratch, first_band, len(parts)))
    loader.flags[DUPLICATES] = 1
    # Stay until the batch is applied: the rows refused after staging are re-read from here.
    while not loader.flags[REQUEST]:
        if os.getppid() != parent:
            return  # the importing process is gone
        time.sleep(WAIT)
    if loader.flags[REQUEST] == 1:
        with (loader.scratch / "wanted.pickle").open("rb") as f:
            wanted = pickle.load(f)
        dump("raw", {s.row_number: s.raw for s in table.rows() if s.row_number in wanted})
        loader.flags[ANSWER] = 1
