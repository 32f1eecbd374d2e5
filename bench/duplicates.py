"""Benchmark: duplicate-enrollment detection over 10 M enrollment records on PostgreSQL.

    python bench/duplicates.py [--records 10000000] [--duplicates 0.01] [--touched 100000]
                               [--runs 3]

Prepares a fresh database like the demo (bench/demo_database.py), then writes the records
straight into `enrollment` with INSERT … SELECT over generate_series: one normal record per
person (resident insurance in one of Yancheng's counties, some employee), and for `duplicates`
of the records a second normal record of the same person overlapping it (another county, or
the other scheme, with the keep-rules' facts on some of them); the persons of the duplicated
records are on the register (their community decides the resident rule).

Timed, each run in its own process and transaction, rolled back (and vacuumed) afterwards:
1. full detection of the current insurance year (every case new: the first detection);
2. after a full detection of both years an import looks at is committed, the incremental
   detection an insured import of `touched` rows runs (detect.after_import over a staging
   table of that many ID numbers, half of them the duplicated persons' second records): both
   years it looks at. Twice: the import changed none of the records it names (a re-sent
   extract: the usual case), and it changed every one of them (each of their cases is
   re-evaluated: the worst case).
Printed: each run's seconds and the medians. Targets: full < 2 min (aim < 60 s), incremental
< 10 s. Run it when nothing else runs on the machine.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.demo_database import demo_database  # noqa: E402

DATABASE = "bench_duplicates"
COUNTIES = ["320902", "320903", "320904", "320921", "320922", "320923", "320924", "320925"]

COMMON = """
import sys, time
from datetime import date
from portal import create_app
from portal.extensions import db
from portal.duplicates import detect
from portal.years.selection import year_calendar
app = create_app()
"""
# Full detection, rolled back unless `commit` is given: prints its seconds and counts.
FULL = (
    COMMON
    + """
with app.app_context():
    year = year_calendar().current_year(date.today())
    if sys.argv[-1] == "commit":  # every year an import's detection looks at, on file
        started = time.perf_counter()
        for each in detect._today_years(detect.app_calendar(), date.today()):
            result = detect.detect(db.session.connection(), each)
        seconds = time.perf_counter() - started
        db.session.commit()
        print(f"{seconds:.2f}", result.message)
        sys.exit(0)
    started = time.perf_counter()
    result = detect.detect(db.session.connection(), year)
    seconds = time.perf_counter() - started
    db.session.rollback()
    print(f"{seconds:.2f}", result.message)
"""
)
# The incremental detection of an insured import of N rows (the staging table filled
# server-side), rolled back.
INCREMENTAL = (
    COMMON
    + """
from sqlalchemy import text
from portal.imports import enrollments
touched = int(sys.argv[-2])
changed = sys.argv[-1] == "changed"
with app.app_context():
    connection = db.session.connection()
    enrollments.create_stage(connection)
    connection.execute(text(
        f"INSERT INTO {enrollments.STAGE} (row_number, id_number, scheme, region_code, "
        "start_date, status) SELECT row_number() OVER (), id_number, scheme, region_code, "
        "start_date, status FROM ((SELECT * FROM enrollment ORDER BY id DESC LIMIT :half) "
        "UNION ALL (SELECT * FROM enrollment WHERE id % 37 = 0 ORDER BY id LIMIT :half)) e"),
        {"half": touched // 2})
    if changed:  # the import changed every record it touched: each of their cases re-evaluated
        connection.execute(text(
            f"UPDATE enrollment SET updated_at = now() WHERE id IN (SELECT e.id FROM "
            f"{enrollments.STAGE} s JOIN enrollment e ON e.id_number = s.id_number "
            "AND e.region_code = s.region_code AND e.scheme = s.scheme "
            "AND e.start_date = s.start_date)"))
    started = time.perf_counter()
    results = detect.after_import(connection, stage=enrollments.STAGE, today=date.today())
    seconds = time.perf_counter() - started
    db.session.rollback()
    print(f"{seconds:.2f}", " ".join(r.message for r in results))
"""
)


def populate(cur, records: int, share: float) -> None:
    """`records` enrollment records, `share` of them a person's second, overlapping record."""
    duplicates = int(records * share)
    persons = records - duplicates
    every = max(persons // max(duplicates, 1), 1)
    counties = "ARRAY[" + ", ".join(f"'{c}000000'" for c in COUNTIES) + "]"
    person_id = "'3209' || lpad(i::text, 13, '0') || 'X'"
    cur.execute("TRUNCATE enrollment")
    # One record per person: resident insurance from 2021, every fifth one employee.
    cur.execute(
        "INSERT INTO enrollment (id_number, region_code, scheme, start_date, end_date, status, "
        f"updated_at) SELECT {person_id}, ({counties})[1 + i %% 8], "
        "CASE WHEN i %% 5 = 0 THEN 'employee' ELSE 'resident' END, DATE '2021-01-01', NULL, "
        "'normal', now() FROM generate_series(1, %s) AS i",
        (persons,),
    )
    # The duplicates: a second record of every `every`-th person, in the next county; half of
    # them in the other scheme, some with the keep-rules' facts.
    cur.execute(
        "INSERT INTO enrollment (id_number, region_code, scheme, start_date, end_date, status, "
        "updated_at, category, employer_region_code, continuous_months, benefits) "
        f"SELECT {person_id}, ({counties})[1 + (i + 1) %% 8], "
        "CASE WHEN i %% 2 = 0 THEN 'employee' ELSE 'resident' END, DATE '2024-07-01', NULL, "
        "'normal', now(), "
        "CASE WHEN i %% 7 = 0 THEN 'flexible' WHEN i %% 11 = 0 THEN 'student' END, "
        f"CASE WHEN i %% 3 = 0 THEN ({counties})[1 + (i + 1) %% 8] END, "
        "CASE WHEN i %% 4 = 0 THEN 24 END, CASE WHEN i %% 7 = 0 THEN TRUE END "
        "FROM generate_series(%s, %s, %s) AS i LIMIT %s",
        (every, persons, every, duplicates),
    )
    # The duplicated persons are on the register, living in a community of their first county.
    cur.execute(
        "INSERT INTO person (id_number, name, sex, birth_date, region_code, in_register, "
        "in_resident_list, key_populations, e_credential, insured_status, version, created_at, "
        f"updated_at) SELECT {person_id}, '测试', '1', DATE '1980-01-01', "
        f"substr(({counties})[1 + i %% 8], 1, 6) || '001001', TRUE, FALSE, 0, FALSE, 'unknown', "
        "1, now(), now() FROM generate_series(%s, %s, %s) AS i LIMIT %s",
        (every, persons, every, duplicates),
    )


def timed(env, script: str, *args: str) -> tuple[float, str]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()
    last = out.splitlines()[-1]
    return float(last.split()[0]), last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--duplicates", type=float, default=0.01)
    parser.add_argument("--touched", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with demo_database(DATABASE) as (url, env):
        connection = psycopg2.connect(url)
        connection.autocommit = True

        def vacuum() -> None:
            with connection.cursor() as cur:
                cur.execute("VACUUM duplicate_case, duplicate_member, duplicate_figures")
                cur.execute("CHECKPOINT")

        with connection.cursor() as cur:
            populate(cur, args.records, args.duplicates)
            cur.execute("VACUUM ANALYZE enrollment")
            cur.execute("VACUUM ANALYZE person")
        full = []
        for n in range(1, args.runs + 1):
            vacuum()
            seconds, line = timed(env, FULL, "rollback")
            full.append(seconds)
            print(f"full detection run {n}: {line}", flush=True)
        timed(env, FULL, "commit")  # the cases of both years on file, as after a detection
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE duplicate_case")
            cur.execute("VACUUM ANALYZE duplicate_member")
        incremental = []
        for n in range(1, args.runs + 1):
            vacuum()
            seconds, line = timed(env, INCREMENTAL, str(args.touched), "unchanged")
            incremental.append(seconds)
            print(f"incremental detection run {n}: {line}", flush=True)
        changed = []
        for n in range(1, args.runs + 1):
            vacuum()
            seconds, line = timed(env, INCREMENTAL, str(args.touched), "changed")
            changed.append(seconds)
            print(f"incremental detection, every touched record changed, run {n}: {line}")
        connection.close()
    print(
        f"full detection over {args.records:,} records ({args.duplicates:.0%} duplicates): "
        f"median {statistics.median(full):.1f} s"
    )
    print(
        f"incremental detection after {args.touched:,} imported rows: "
        f"median {statistics.median(incremental):.1f} s (records unchanged), "
        f"{statistics.median(changed):.1f} s (every touched record changed)"
    )


if __name__ == "__main__":
    os.environ.setdefault("JOBS_IN_PROCESS", "0")
    main()
