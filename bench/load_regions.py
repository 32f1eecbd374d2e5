"""Benchmark: load the whole national region tree, then reload it (which must change nothing).

    python bench/load_regions.py [DATABASE_URL] [--source DIR] [--keep]

DATABASE_URL (or env BENCH_DATABASE_URL) names a PostgreSQL server; the benchmark creates a fresh
database `bench_regions` there and drops it at the end. `sqlite` (or sqlite:///path) runs it on
a SQLite file instead (a temporary one when no path is given) with foreign keys on.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import URL, make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from portal.extensions import db  # noqa: E402
from portal.regions.cli import format_report  # noqa: E402
from portal.regions.loader import load_regions  # noqa: E402
from portal.regions.models import Region  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_SOURCE = REPO.parent / "shared/data/regions"
BENCH_DATABASE = "bench_regions"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    if args.url == "sqlite" or args.url.startswith("sqlite:"):
        return bench_sqlite(args)
    return bench_postgresql(args)


def bench_postgresql(args) -> int:
    server = make_url(args.url)
    if server.drivername in ("postgresql", "postgres"):
        # SQLAlchemy 2.1 defaults postgresql:// to psycopg 3; the project ships psycopg2.
        server = server.set(drivername="postgresql+psycopg2")
    admin = _admin_connection(server)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            cursor.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        engine = create_engine(server.set(database=BENCH_DATABASE))
        try:
            with engine.connect() as connection:
                version = connection.exec_driver_sql("SHOW server_version").scalar()
            print(f"PostgreSQL {version}, database {BENCH_DATABASE}")
            status = run(engine, args.source)
        finally:
            engine.dispose()
        if not args.keep:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE {BENCH_DATABASE}")
        return status
    finally:
        admin.close()


def _admin_connection(server: URL):
    connection = psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        dbname=server.database or "postgres",
    )
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return connection


def bench_sqlite(args) -> int:
    url = make_url("sqlite://" if args.url == "sqlite" else args.url)
    temporary = None
    if not url.database:
        temporary = tempfile.NamedTemporaryFile(suffix=".db", delete=False)
        temporary.close()
        url = url.set(database=temporary.name)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    import sqlite3

    print(f"SQLite {sqlite3.sqlite_version}, file {url.database}")
    try:
        return run(engine, args.source)
    finally:
        engine.dispose()
        if temporary is not None and not args.keep:
            os.unlink(temporary.name)


def run(engine, source: Path) -> int:
    if not source.is_dir():
        print(f"no national data at {source}", file=sys.stderr)
        return 2
    with engine.begin() as connection:
        db.metadata.create_all(connection, tables=[Region.__table__])

    first, first_wall = _timed_load(engine, source)
    print(format_report(first))
    print(
        f"first load: {first.elapsed_seconds:.2f} s in the loader, {first_wall:.2f} s with commit"
    )

    again, again_wall = _timed_load(engine, source)
    print(
        f"reload: {again.elapsed_seconds:.2f} s in the loader, {again_wall:.2f} s with commit;"
        f" inserted {again.inserted}, updated {again.updated}, unchanged {again.unchanged}"
    )

    with engine.connect() as connection:
        per_level = dict(
            connection.execute(
                select(Region.level, func.count()).group_by(Region.level).order_by(Region.level)
            ).all()
        )
    print(
        "rows per level: "
        + ", ".join(f"{level}: {n}" for level, n in per_level.items())
        + f"; total {sum(per_level.values())}"
    )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS of this process: {peak_kib / 1024:.0f} MiB")

    if again.inserted or again.updated:
        print("FAIL: the reload changed rows", file=sys.stderr)
        return 1
    return 0


def _timed_load(engine, source: Path):
    started = time.perf_counter()
    with engine.begin() as connection:
        report = load_regions(connection, source)
    return report, time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
