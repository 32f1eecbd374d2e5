"""Reading and validating a big list on every core, inside the batch's one transaction.

Python validates about 100 k rows a second on one core; a million-row register would keep one
core busy while the other idles. So one reader per core reads and validates its own band of
Excel rows into files of COPY lines: the loader (loader.py) reads the first band itself, and
each other reader either parsed a piece of the cut sheet on its own (pieces.py) or shares the
parsed sheet copy-on-write. The importing process COPYs each file into the staging table as
soon as it is complete (a band is written as files of CHUNK_LINES lines, so that copying goes on
while the readers read), in the batch's transaction; readers never touch its database
connection, so a reader that dies fails the batch and nothing is applied. Two rows for the same
person in different bands are found by the loader from the bands' keys (`duplicates`).

Bands of one parsed sheet are used only where they pay and are safe: a sheet whose merged cells
do not reach into the data (their values fill down row by row), more than MIN_ROWS rows, a
machine with more than one core (see loader.usable for the rest).
"""

import os
import pickle
import threading
import traceback
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from portal.imports import apply
from portal.imports.reading import Table
from portal.imports.validation import Rejection
from portal.regions.models import Region

MIN_ROWS = 200_000
CHUNK_LINES = 50_000  # rows per file a reader hands over


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


def chunk_path(scratch: Path, index: int, chunk: int) -> Path:
    """The `chunk`-th file of COPY lines of band `index`."""
    return scratch / f"band-{index}-{chunk}.copy"


def outcome_path(scratch: Path, index: int) -> Path:
    return scratch / f"band-{index}.pickle"


def write_chunks(lines: Iterator[str], scratch: Path, index: int, chunks) -> None:
    """Lines into files of CHUNK_LINES lines, each counted in `chunks[index]` once complete."""
    chunk = 0
    while True:
        part = list(islice(lines, CHUNK_LINES))
        if part or not chunk:
            with chunk_path(scratch, index, chunk).open("w", newline="") as out:
                out.writelines(part)
            chunk += 1
            chunks[index] = chunk
        if len(part) < CHUNK_LINES:
            return


def read_band(table, importer, context, band, scratch, shared, index, database_url) -> dict:
    """Validate one band into files of COPY lines; leave (rows read, rejections) or an error
    text in its outcome file, then flag it in `ready` (1 done, 2 failed). Never raises. Returns
    the band's keys (ID number → row number of its valid rows), for `duplicates`.
    `shared`: (rows read so far, complete files, ready), one slot per band."""
    counters, chunks, ready = shared
    failed = False
    seen: dict = {}
    try:
        if context.resolver is not None:
            context.resolver.lookup = _own_lookup(database_url)
        rejections: list[Rejection] = []

        def tick(count: int) -> None:
            counters[index] = count

        lines = importer.lines(table, band, context, rejections, tick, seen)
        write_chunks(lines, scratch, index, chunks)
        outcome = (counters[index], rejections)
    except BaseException:  # noqa: BLE001 - reported to the importing process
        outcome, failed = traceback.format_exc(limit=5)[-2000:], True
    try:
        with outcome_path(scratch, index).open("wb") as f:
            pickle.dump(outcome, f, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        ready[index] = 2 if failed else 1
    return seen


def fork(child: Callable[[], None]) -> int:
    """A forked process running `child`; it leaves without running any exit handler."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def keys_path(scratch: Path, index: int) -> Path:
    return scratch / f"band-{index}.keys"


def save_keys(scratch: Path, index: int, seen: dict) -> None:
    """Leave a band's keys for `duplicates` (once the band is flagged: the importing process
    can COPY it meanwhile)."""
    with keys_path(scratch, index).open("wb") as f:
        pickle.dump(seen, f, protocol=pickle.HIGHEST_PROTOCOL)


def raw_rows(table: Table, band: tuple[int, int | None], wanted: set[int]) -> dict[int, list]:
    """The original cells of the rows of `band` numbered in `wanted`."""
    return {s.row_number: s.raw for s in table.rows(*band) if s.row_number in wanted}


def duplicates(scratch: Path, first_band: dict, count: int) -> list[tuple[int, int]]:
    """(row number, row number of the same person's first row) for every valid row whose key
    an earlier band already had: rows of one band were refused while reading, these span two.
    `first_band`: the keys of band 0; the other bands' keys are in their files."""
    seen = first_band
    found = []
    for index in range(1, count):
        with keys_path(scratch, index).open("rb") as f:
            keys = pickle.load(f)
        found += [(keys[key], seen[key]) for key in keys.keys() & seen.keys()]
        if index < count - 1:
            keys.update(seen)  # an earlier band's row stays the first
            seen = keys
    return found


def fail_band(scratch: Path, ready, index: int, message: str) -> None:
    """Record that the reader of band `index` failed without leaving its outcome."""
    with outcome_path(scratch, index).open("wb") as f:
        pickle.dump(message, f)
    ready[index] = 2


def outcome(scratch: Path, index: int):
    """(rows read, rejections) of a finished band, or the error text of a failed one."""
    try:
        with outcome_path(scratch, index).open("rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return "读取进程没有留下结果"


def copy_chunk(connection: Connection, importer, path: Path) -> None:
    stage = importer.parallel_stage
    with path.open(newline="") as source:
        apply.copy_into(connection, stage.table, stage.fields, source, text_format=True)
    path.unlink()


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
