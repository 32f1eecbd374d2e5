"""Reading and validating a big list on every core, inside the batch's one transaction.

Python validates about 100 k rows a second on one core; a million-row register would keep one
core busy while the other idles. So once the sheet is parsed (by the loader process, see
loader.py), one reader per core reads and validates its own band of Excel rows into a CSV file:
the loader reads the first band itself and forks a reader for each other band, which shares the
parsed sheet copy-on-write instead of copying it. The importing process COPYs each band into the
staging table as soon as it is finished, in the batch's transaction; readers never touch its
database connection, so a reader that dies fails the batch and nothing is applied. Two rows for
the same person in different bands are found by the loader from the bands' keys while the last
band is being copied (`duplicates`).

Bands are used only where they pay and are safe: a sheet whose merged cells do not reach into the
data (their values fill down row by row), more than MIN_ROWS rows, a machine with more than one
core (see loader.usable for the rest).
"""

import csv
import os
import pickle
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from portal.imports import apply
from portal.imports.reading import Table
from portal.imports.validation import Rejection
from portal.regions.models import Region

MIN_ROWS = 200_000


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def alone() -> bool:
    """Whether this process runs no other thread (a fork copies only the calling thread, and a
    lock another thread holds at that moment stays locked in the copy forever)."""
    return threading.active_count() == 1


def bands(first: int, last: int, count: int) -> list[tuple[int, int]]:
    """At most `count` contiguous bands of Excel rows covering first..last."""
    size = -(-(last - first + 1) // count)
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


def plan(table: Table, min_rows: int, workers: int) -> list[tuple[int, int]]:
    """The bands of data rows to read, one per reader."""
    first, last = table.header_rows[-1] + 1, table.last_row or 0
    if last < first:
        return [(first, first)]
    many = last - first + 1 >= min_rows and workers > 1 and not table.merges_data
    return bands(first, last, workers if many else 1)


def band_paths(scratch: Path, index: int) -> tuple[Path, Path]:
    """Where band `index` leaves its rows (CSV) and its outcome (pickle)."""
    return scratch / f"band-{index}.csv", scratch / f"band-{index}.pickle"


def read_band(table, importer, context, band, scratch, counters, ready, index, database_url):
    """Validate one band into its CSV file; leave (rows read, rejections) or an error text in
    its outcome file, then flag it in `ready` (1 done, 2 failed). Never raises. Returns the
    band's keys (key → row number of its valid rows), for `duplicates`."""
    rows_path, result_path = band_paths(scratch, index)
    failed = False
    seen: dict[tuple, int] = {}
    try:
        if context.resolver is not None:
            context.resolver.lookup = _own_lookup(database_url)
        rejections: list[Rejection] = []
        pick = apply.picker(importer.parallel_stage[1])

        def tick(count: int) -> None:
            counters[index] = count

        with rows_path.open("w", newline="") as out:
            write = csv.writer(out).writerow
            rows = importer.validated(table.rows(*band), context, rejections, tick, seen)
            for row_number, row in rows:
                write((row_number, *pick(row)))
        outcome = (counters[index], rejections)
    except BaseException:  # noqa: BLE001 - reported to the importing process
        outcome, failed = traceback.format_exc(limit=5)[-2000:], True
    try:
        with result_path.open("wb") as f:
            pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        ready[index] = 2 if failed else 1
    return seen


def fork_reader(table, importer, context, band, scratch, counters, ready, index, url) -> int:
    """A forked process reading one band; it leaves without running any exit handler, after
    leaving the band's keys for `duplicates` (once the band is flagged: the importing process
    can COPY it meanwhile)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            seen = read_band(table, importer, context, band, scratch, counters, ready, index, url)
            with (scratch / f"band-{index}.keys").open("wb") as f:
                pickle.dump(seen, f, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    return pid


def duplicates(scratch: Path, first_band: dict[tuple, int], count: int) -> list[tuple[int, int]]:
    """(row number, row number of the same person's first row) for every valid row whose key
    an earlier band already had: rows of one band were refused while reading, these span two.
    `first_band`: the keys of band 0; the other bands' keys are in their files."""
    seen = first_band
    found = []
    for index in range(1, count):
        with (scratch / f"band-{index}.keys").open("rb") as f:
            keys = pickle.load(f)
        last = index == count - 1
        for key, row_number in keys.items():
            first = seen.get(key)
            if first is not None:
                found.append((row_number, first))
            elif not last:
                seen[key] = row_number
    return found


def fail_band(scratch: Path, ready, index: int, status: int) -> None:
    """Record that the reader of band `index` ended without leaving its outcome."""
    code = os.waitstatus_to_exitcode(status)
    with band_paths(scratch, index)[1].open("wb") as f:
        pickle.dump(f"读取进程异常退出（{code}）", f)
    ready[index] = 2


def outcome(scratch: Path, index: int):
    """(rows read, rejections) of a finished band, or the error text of a failed one."""
    try:
        with band_paths(scratch, index)[1].open("rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return "读取进程没有留下结果"


def copy_band(connection: Connection, importer, scratch: Path, index: int) -> None:
    stage_table, fields = importer.parallel_stage
    rows_path = band_paths(scratch, index)[0]
    with rows_path.open(newline="") as source:
        apply.copy_into(connection, stage_table, fields, source)
    rows_path.unlink()


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
