"""Reading and validating a big list on every core, inside the batch's one transaction.

Python validates about 100 k rows a second on one core; a million-row register would keep one
core busy while the other idles. So the sheet is parsed once (calamine, in this process), then
`os.fork` starts one reader per core, each reading and validating its own band of Excel rows
into a CSV file. The parsed sheet is shared copy-on-write, not copied. The parent COPYs each
band into the staging table as soon as it is finished, in the batch's transaction; readers never
touch the parent's database connection, so a reader that dies fails the batch and nothing is
applied. Two rows for the same person in different bands are found in SQL once all are staged.

Used only where it pays and is safe (`usable`): PostgreSQL, a list keyed by the ID number, a
sheet whose merged cells do not reach into the data, more than MIN_ROWS rows, a machine with
more than one core, and a process with no other thread (a fork copies only the calling thread).
"""

import csv
import os
import pickle
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from ctypes import c_int64
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import RawArray
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from portal.imports import apply
from portal.imports.reading import Table
from portal.imports.validation import Rejection
from portal.regions.models import Region

MIN_ROWS = 200_000


@dataclass
class Staged:
    """What the readers found: rows read, rows refused while reading, and the cross-band
    duplicates refused after staging (row number, reason; their cells are re-read later)."""

    read: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def alone() -> bool:
    """Whether this process runs no other thread (a fork copies only the calling thread, and a
    lock another thread holds at that moment stays locked in the copy forever)."""
    return threading.active_count() == 1


def usable(connection: Connection, table: Table, stage: tuple | None, min_rows: int) -> bool:
    return (
        stage is not None
        and connection.dialect.name == "postgresql"
        and hasattr(os, "fork")
        and cores() > 1
        and alone()
        and (table.last_row or 0) - table.header_rows[-1] >= min_rows
        and not table.merges_data
    )


def bands(first: int, last: int, count: int) -> list[tuple[int, int]]:
    """`count` contiguous bands of Excel rows covering first..last."""
    size = -(-(last - first + 1) // count)
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


def stage_in_parallel(
    connection: Connection,
    table: Table,
    importer,
    context,
    progress: Callable,
    workers: int | None = None,
) -> Staged:
    """Read, validate and stage every data row of `table` with one forked reader per core."""
    stage_table, fields = importer.parallel_stage
    database_url = connection.engine.url.render_as_string(hide_password=False)
    parts = bands(table.header_rows[-1] + 1, table.last_row, workers or cores())
    counters = RawArray(c_int64, len(parts))
    staged = Staged()
    with tempfile.TemporaryDirectory(prefix="portal-import-") as scratch:
        children: dict[int, tuple[int, Path, Path]] = {}
        for index, (first, last) in enumerate(parts):
            rows_path = Path(scratch) / f"band-{index}.csv"
            result_path = Path(scratch) / f"band-{index}.pickle"
            pid = os.fork()
            if pid == 0:  # the reader: never returns
                _reader(
                    table, importer, context, fields, (first, last), rows_path, result_path,
                    counters, index, database_url,
                )  # fmt: skip
            children[pid] = (index, rows_path, result_path)
        failure = None
        while children:
            # Only our readers are waited for (pid 0: still running).
            finished = [os.waitpid(pid, os.WNOHANG) for pid in children]
            finished = [(pid, status) for pid, status in finished if pid]
            if not finished:
                progress(sum(counters), table.last_row, f"已读取 {sum(counters)} 行")
                time.sleep(0.1)
                continue
            for pid, status in finished:
                _index, rows_path, result_path = children.pop(pid)
                outcome = _outcome(result_path)
                code = os.waitstatus_to_exitcode(status)
                if isinstance(outcome, str) or code != 0:
                    text_ = outcome if isinstance(outcome, str) else f"读取进程异常退出（{code}）"
                    failure = failure or text_
                elif failure is None:
                    with rows_path.open(newline="") as source:
                        apply.copy_into(connection, stage_table, fields, source)
                    staged.read += outcome[0]
                    staged.rejections.extend(outcome[1])
        if failure is not None:
            raise RuntimeError(f"导入的读取进程出错：{failure}")
    staged.duplicates = _cross_band_duplicates(connection, stage_table, importer.duplicate)
    return staged


def _outcome(result_path: Path):
    try:
        with result_path.open("rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return "读取进程没有留下结果"


def _reader(
    table, importer, context, fields, band, rows_path, result_path, counters, index, database_url
) -> None:
    """A forked reader: validate the band into `rows_path`, pickle (read, rejections) or an
    error text into `result_path`, and leave without running the parent's exit handlers."""
    code = 1
    try:
        if context.resolver is not None:
            context.resolver.lookup = _own_lookup(database_url)
        rejections: list[Rejection] = []
        pick = apply.picker(fields)

        def tick(count: int) -> None:
            counters[index] = count

        with rows_path.open("w", newline="") as out:
            write = csv.writer(out).writerow
            rows = importer.validated(table.rows(*band), context, rejections, tick)
            for row_number, row in rows:
                write((row_number, *pick(row)))
        read = counters[index]
        outcome = (read, rejections)
        code = 0
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the batch
        outcome = traceback.format_exc(limit=5)[-2000:]
    try:
        with result_path.open("wb") as f:
            pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        os._exit(code)


def _own_lookup(database_url: str) -> Callable[[str], Region | None]:
    """Region lookups over a connection of the reader's own, opened on first use."""
    engine = None

    def lookup(code: str) -> Region | None:
        nonlocal engine
        if engine is None:
            engine = create_engine(database_url, poolclass=NullPool)
        with Session(engine) as session:
            region = session.get(Region, code)
            if region is not None:
                session.expunge(region)
            return region

    return lookup


def _cross_band_duplicates(connection: Connection, stage_table: str, message: str):
    """Refuse every staged row whose ID number an earlier row of the file already has (rows of
    the same band were refused while reading; these span two bands)."""
    found = connection.execute(
        text(
            f"DELETE FROM {stage_table} s USING (SELECT id_number, MIN(row_number) AS first "
            f"FROM {stage_table} GROUP BY id_number HAVING COUNT(*) > 1) d "
            "WHERE s.id_number = d.id_number AND s.row_number > d.first "
            "RETURNING s.row_number, d.first"
        )
    ).all()
    return [(row_number, message.format(first=first)) for row_number, first in found]
