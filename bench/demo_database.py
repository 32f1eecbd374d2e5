"""A fresh PostgreSQL database prepared like the demo, for the benchmarks; dropped afterwards."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

DEFAULT_ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def demo_database(name: str, admin_url: str = DEFAULT_ADMIN_URL) -> Iterator[tuple[str, dict]]:
    """Create database `name`, run `portal demo --no-serve` on it; yields (url, environment for
    portal processes). The database is dropped on exit, its open connections ended."""
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    env = dict(
        os.environ,
        DATABASE_URL=url,
        JOBS_IN_PROCESS="0",
        PORTAL_INSTANCE_DIR=f"/tmp/bench-instance-{name}",
    )
    try:
        portal = str(Path(sys.executable).with_name("portal"))
        subprocess.run([portal, "demo", "--no-serve"], env=env, check=True, capture_output=True)
        yield url, env
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()
