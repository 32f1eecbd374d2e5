"""Engine set-up that differs by database."""

import os
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import Connection, DateTime, bindparam, event, text

from portal.extensions import db


def _sqlite_connect(dbapi_connection, _record):
    # Let SQLAlchemy, not the driver, manage transactions (savepoints work), and enforce FKs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection):
    # IMMEDIATE takes the write lock at once, so concurrent writers wait (busy_timeout) instead
    # of failing with "database is locked" when a read transaction tries to upgrade.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _private_sqlite_file(database: str | None) -> None:
    """Create the SQLite database file owner-only (0600) before SQLite creates it with the
    umask's mode; its -wal and -shm files take the same mode from it."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        path.chmod(0o600)


def configure_engines(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _private_sqlite_file(engine.url.database)
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)


BULK_WORK_MEM = "64MB"


def raise_work_mem(connection: Connection) -> tuple[str, str] | None:
    """On PostgreSQL, let the next statements sort and hash a million rows in memory rather than
    in batches on disk, and plan them without JIT compilation (for this transaction only);
    returns the settings to restore afterwards.

    JIT: the comparison's statements over a million rows carry dozens of CASE expressions, which
    the server's JIT spent 2.2 s of a 2.9 s statement compiling (EXPLAIN ANALYZE, bench/compare.py);
    the expressions run once per row and gain less than that."""
    if connection.dialect.name != "postgresql":
        return None
    settings = text("SELECT current_setting('work_mem'), current_setting('jit')")
    work_mem, jit = connection.execute(settings).one()
    connection.execute(text(f"SET LOCAL work_mem = '{BULK_WORK_MEM}'"))
    connection.execute(text("SET LOCAL jit = off"))
    return work_mem, jit


def restore_work_mem(connection: Connection, previous: tuple[str, str] | None) -> None:
    if previous is not None:
        connection.execute(
            text("SELECT set_config('work_mem', :work_mem, true), set_config('jit', :jit, true)"),
            {"work_mem": previous[0], "jit": previous[1]},
        )


@contextmanager
def probing(connection: Connection):
    """On PostgreSQL, plan the statements inside as index probes of a few (thousand) keys into a
    big table: nested loops over the index, never a scan of the whole table. The planner prices
    100 k random probes above a sequential scan of 10 M rows; with the index cached they take a
    fraction of it (bench/duplicates.py: 6 s → well under 1 s per statement). For this
    transaction only, and restored afterwards."""
    if connection.dialect.name != "postgresql":
        yield
        return
    names = ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")
    before = connection.execute(
        text("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))
    ).one()
    for name in names:
        connection.execute(text(f"SET LOCAL {name} = off"))
    try:
        yield
    finally:
        for name, value in zip(names, before, strict=True):
            connection.execute(
                text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
            )


def timed(sql: str):
    """A statement whose :now parameter is a timestamp stored the way the ORM stores it."""
    return text(sql).bindparams(bindparam("now", type_=DateTime()))


def code_list(codes) -> str:
    """SQL literals of our own code lists (states, reasons: constants, never user input), for
    `column IN (...)` in set-based statements; sorted, so the statement text is stable."""
    return ", ".join(f"'{code}'" for code in sorted(codes))
