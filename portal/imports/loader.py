"""Opening a big upload in processes of their own, while the importing process checks the file.

calamine parses a million-row sheet in 5-10 s on one core. Before any of it may run in a
process that matters, the sheet's extent must be checked (safety.check_sheet_extent: cells far
apart make calamine allocate a dense grid of billions of cells and abort the process), which
takes 2 s more on one core. So a forked loader parses while the importing process checks, on the
other core: if the check refuses the file, the loader and its readers are killed (a hostile
sheet aborts them at worst, and their address space is capped so that they cannot take the
machine's memory meanwhile).

The loader first cuts the .xlsx's big sheet into one workbook per core (pieces.py) and forks a
reader for each piece but the first: every core parses its piece at the same time. The loader
parses piece 0, finds the list there (header, columns) and hands the header to the readers,
which read their rows with it. Where a sheet cannot be cut (an .xls, a small or unusual sheet),
the loader parses the upload whole and forks the readers after, sharing the parsed sheet
copy-on-write, each reading its band of rows (parallel.plan). Either way the loader reads band 0
itself, and every process stays until the batch is applied, to hand back the original cells of
its rows refused after staging, for the error workbook.

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

from portal.imports import parallel, pieces, reading
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
        self.keyed = RawArray(c_int64, workers)  # per band: 1 once its keys are saved
        self.answered = RawArray(c_int64, workers)  # per band: 1 once its raw rows are saved
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
        info = _read(self, "info")
        if info[0] == "error":
            raise info[2] if isinstance(info[2], reading.ReadError) else reading.ReadError(info[1])
        _, self.headers, self.last_row = info
        count = self.flags[BANDS]
        self.importer.create_stage(connection)
        staged = self._copy_bands(connection, count, progress)
        self._wait(lambda: self.flags[DUPLICATES], progress)
        found = _read(self, "duplicates")
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
        _dump(self, "wanted", wanted)
        self.flags[REQUEST] = 1
        self._wait(lambda: self.flags[ANSWER], None)
        return _read(self, "raw")

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


def _dump(loader: Loader, name: str, value) -> None:
    """Leave a value in the scratch directory for the other processes of the import."""
    with (loader.scratch / f"{name}.pickle").open("wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)


def _load(loader: Loader, workers: int, parent: int) -> None:
    cut = None
    if loader.file_kind == "xlsx":
        cut = pieces.split(loader.path, workers, loader.scratch)
    readers: dict[int, int] = {}  # pid → band
    if cut is not None:
        readers = {
            parallel.fork(lambda i=i: _piece_reader(loader, cut, i)): i
            for i in range(1, len(cut.paths))
        }
    try:
        # The importing process is checking the extent meanwhile (and kills us if it fails).
        path = cut.paths[0] if cut is not None else loader.path
        table = reading.open_table(path, loader.file_kind, loader.list_kind, max_cells=None)
    except reading.ReadError as exc:  # missing columns, unreadable file
        _dump(loader, "plan", None)
        _dump(loader, "info", ("error", exc.message, exc))  # the mapping step reads its details
        loader.flags[INFO] = 1
        return
    unused: dict[int, int] = {}
    if cut is not None and table.sheet_name == cut.sheet_name:  # the list is the cut sheet
        os.unlink(cut.paths[0])
        parts = [cut.band(i, table.header_rows[-1] + 1) for i in range(len(cut.paths))]
        _dump(loader, "plan", table.header_only())
        last_row = cut.last_row
    else:
        parts = parallel.plan(table, loader.min_rows, workers)
        _dump(loader, "plan", None)  # the piece readers, if any, leave
        last_row = table.last_row
        unused, readers = readers, {}
    _dump(loader, "info", ("ok", table.headers, last_row))
    loader.flags[BANDS] = len(parts)
    loader.flags[INFO] = 1
    for pid in unused:  # parsing a piece no one will read: nothing of theirs is shared yet
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not readers:
        readers = {
            parallel.fork(lambda i=i, b=band: _reader(loader, table, b, i)): i
            for i, band in enumerate(parts[1:], 1)
        }
    args = (loader.importer, loader.context, parts[0], loader.scratch, _slots(loader), 0)
    first_band = parallel.read_band(table, *args, loader.database_url)
    if not _keys_saved(loader, readers):
        return  # the importing process fails the batch
    _dump(loader, "duplicates", parallel.duplicates(loader.scratch, first_band, len(parts)))
    loader.flags[DUPLICATES] = 1
    del first_band
    # Stay until the batch is applied: the rows refused after staging are re-read from here.
    if not _requested(loader, parent):
        return
    raw = parallel.raw_rows(table, parts[0], _read(loader, "wanted"))
    for index in sorted(readers.values()):
        _wait_for(loader, readers, index, loader.answered)
        raw.update(_read(loader, f"raw-{index}"))
    _dump(loader, "raw", raw)
    loader.flags[ANSWER] = 1


def _slots(loader: Loader):
    return (loader.counters, loader.chunks, loader.ready)


def _piece_reader(loader: Loader, cut: pieces.Pieces, index: int) -> None:
    """A reader of piece `index`: it parses its piece at once, then reads its rows with the
    header the loader found in piece 0 (or leaves, if the list is not on the cut sheet)."""
    loader_pid = os.getppid()
    try:
        sheet = reading.parse_sheet(cut.paths[index], cut.sheet_name)
        failure = None
    except BaseException:  # noqa: BLE001 - reported once the band is known to be ours
        sheet, failure = None, traceback.format_exc(limit=5)[-2000:]
    cut.paths[index].unlink(missing_ok=True)
    while not loader.flags[INFO]:
        if os.getppid() != loader_pid:
            return
        time.sleep(WAIT)
    header = _read(loader, "plan")
    if header is None:
        return
    if failure is not None:
        parallel.fail_band(loader.scratch, loader.ready, index, failure)
        return
    band = cut.band(index, header.header_rows[-1] + 1)
    _reader(loader, header.over(sheet), band, index)


def _reader(loader: Loader, table, band, index: int) -> None:
    """A reader's life once its table is open: read its band, save its keys, then stay until
    the batch is applied to hand back its rows refused after staging."""
    loader_pid = os.getppid()
    args = (loader.importer, loader.context, band, loader.scratch, _slots(loader), index)
    seen = parallel.read_band(table, *args, loader.database_url)
    parallel.save_keys(loader.scratch, index, seen)
    del seen
    loader.keyed[index] = 1
    if _requested(loader, loader_pid):
        _dump(loader, f"raw-{index}", parallel.raw_rows(table, band, _read(loader, "wanted")))
        loader.answered[index] = 1


def _requested(loader: Loader, parent: int) -> bool:
    """Wait for the importing process to ask for refused rows; False if it is gone."""
    while not loader.flags[REQUEST]:
        if os.getppid() != parent:
            return False
        time.sleep(WAIT)
    return loader.flags[REQUEST] == 1


def _read(loader: Loader, name: str):
    with (loader.scratch / f"{name}.pickle").open("rb") as f:
        return pickle.load(f)


def _keys_saved(loader: Loader, readers: dict[int, int]) -> bool:
    """Wait until every reader has read its band and saved its keys; False if any failed."""
    for index in sorted(readers.values()):
        if not _wait_for(loader, readers, index, loader.keyed, fail=False):
            return False
    return loader.ready[0] == 1 and all(loader.ready[i] == 1 for i in readers.values())


def _wait_for(loader: Loader, readers: dict[int, int], index: int, flag, fail=True) -> bool:
    """Wait until flag[index] is set by the reader of band `index`. A reader that ends before
    has its band failed; then raise (fail) or return False."""
    pid = next(p for p, i in readers.items() if i == index)
    while not flag[index]:
        try:
            ended, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already, by an earlier wait
            ended, status = pid, 0
        if ended:
            if flag[index]:
                break
            if not loader.ready[index]:  # killed before it could say so
                code = os.waitstatus_to_exitcode(status)
                parallel.fail_band(
                    loader.scratch, loader.ready, index, f"读取进程异常退出（{code}）"
                )
            if fail:
                raise RuntimeError(f"读取进程 {index} 异常退出")
            return False
        time.sleep(WAIT)
    return True
