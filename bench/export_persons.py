"""Benchmark: exporting 100 k persons to xlsx in constant memory (PostgreSQL).

    python bench/export_persons.py [--rows 100000] [--url postgresql://…/postgres]

Creates a fresh database `bench_export`, migrates it with the demo accounts, fills it with
synthetic persons and uninsured files by SQL, then exports the whole city as the city staff
through the same function the page uses (masked), and prints the time, rows/s and how much the
process's peak memory grew. Target: < 20 s for 100 k rows, memory flat in the row count.
"""

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from demo_database import DEFAULT_ADMIN_URL, demo_database

REPO = Path(__file__).resolve().parents[1]
DATABASE = "bench_export"

FILL = """
INSERT INTO person (id_number, name, sex, birth_date, phone, region_code, in_register,
    key_populations, e_credential, insured_status, version, created_at, updated_at)
SELECT '320923' || lpad(n::text, 11, '0') || 'X', '测试' || n, '1', date '1980-01-01',
    '138' || lpad(n::text, 8, '0'), '320923001001', true, n %% 64, false, 'uninsured', 1,
    now(), now()
FROM generate_series(1, %(rows)s) AS n;
INSERT INTO person_file (person_id, region_code, year, file_number, file_type, filing_flag,
    government_paid, state, opened_at, version)
SELECT id, region_code, extract(year from now())::int, 'B-' || id, 'uninsured', true,
    (key_populations & 127) <> 0, 'unassigned', now(), 1 FROM person;
"""

EXPORT = """
import resource, time
from flask_login import login_user
from sqlalchemy import select
from portal import create_app
from portal.accounts.models import User
from portal.extensions import db
from portal.persons.export import export_persons
from portal.persons.queries import PersonFilters
app = create_app()
with app.test_request_context():
    actor = db.session.scalar(select(User).where(User.username == "yc_staff"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    start = time.perf_counter()
    path, rows, masked = export_persons(actor, PersonFilters())
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{rows} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), masked={masked}, "
          f"{path.stat().st_size / 1e6:.1f} MB; peak RSS {before} MB before, {after} MB after")
    path.unlink()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    with demo_database(DATABASE, args.url) as (url, env):
        connection = psycopg2.connect(url)
        with connection, connection.cursor() as cur:
            cur.execute(FILL, {"rows": args.rows})
        connection.close()
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", EXPORT], env=env, check=True, capture_output=True, text=True
        )
        print(done.stdout.strip())
        print(
            f"(process total {time.perf_counter() - start:.1f} s, "
            f"children peak {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024} MB)"
        )


if __name__ == "__main__":
    main()
