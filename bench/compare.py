"""Benchmark: the comparison (比对) of a city of 1 M persons on PostgreSQL.

    python bench/compare.py [--persons 1000000] [--runs 3] [--insured 0.0,0.8]

Prepares a fresh database like the demo (bench/demo_database.py), writes the persons straight
into `person` with one INSERT … SELECT over generate_series (spread over Yancheng's 2,494
communities; the import is benchmarked by import_household.py), then for each share of insured
persons writes that share's enrollment records (a tenth of them insured in another province,
vouched by the city, as a county's extract carries them) and times the comparison of the whole
city for the current insurance year, each run in its own process and its own transaction, rolled
back afterwards and vacuumed away, so that every run is the same first comparison (every file
opened anew).
Printed: each run's seconds inside the comparison and the median per share.

Run it when nothing else runs on the machine: medians and ratios of one run are what compare.
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

DATABASE = "bench_compare"

# The comparison as the job runs it; prints its seconds. Rolled back: every run is the first.
RUN = """
import time
from datetime import date
from portal import create_app
from portal.extensions import db
from portal.regions.models import Region
from portal.comparisons import operations as ops
app = create_app()
with app.app_context():
    region = db.session.get(Region, "320900000000")
    try:
        from portal.years.selection import year_calendar
        year = year_calendar().current_year(date.today())
    except ImportError:
        year = date.today().year
    started = time.perf_counter()
    result = ops.compare(region, year, run_id=0, user_id=None, today=date.today())
    db.session.flush()
    seconds = time.perf_counter() - started
    db.session.rollback()
    print(f"{seconds:.2f}", {k: v for k, v in result.items() if isinstance(v, int)})
"""


def populate_persons(cur, persons: int) -> None:
    communities = [
        line.split(",")[0]
        for line in (REPO / "portal/regions/data/3209/villages.csv").read_text().splitlines()[1:]
    ]
    cur.execute(
        "INSERT INTO person (id_number, name, sex, birth_date, region_code, in_register, "
        "in_resident_list, key_populations, e_credential, insured_status, version, created_at, "
        "updated_at) SELECT '320900' || lpad(i::text, 11, '0') || 'X', '测试' || (i %% 1000), "
        "CASE WHEN i %% 2 = 0 THEN '2' ELSE '1' END, DATE '1960-01-01' + (i %% 20000), "
        "(%s::text[])[1 + i %% %s], TRUE, FALSE, CASE WHEN i %% 50 = 0 THEN 1 ELSE 0 END, "
        "FALSE, 'unknown', 1, now(), now() FROM generate_series(1, %s) AS i",
        (communities, len(communities), persons),
    )


def populate_enrollments(cur, persons: int, share: float) -> None:
    """`share` of the persons hold a normal resident record for the year; a tenth of those are
    insured in Shanghai, vouched by the city (the columns exist from migration 0011 on)."""
    cur.execute("TRUNCATE enrollment")
    cur.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'enrollment' AND column_name = 'vouched_prefix'"
    )
    vouched = cur.fetchone() is not None
    cut = int(share * 1000)
    extra_columns = ", vouched_prefix" if vouched else ""
    extra_values = ", CASE WHEN i %% 10 = 0 THEN '3209' END" if vouched else ""
    cur.execute(
        "INSERT INTO enrollment (id_number, region_code, scheme, start_date, end_date, status, "
        f"updated_at{extra_columns}) SELECT '320900' || lpad(i::text, 11, '0') || 'X', "
        "CASE WHEN i %% 10 = 0 THEN '310101000000' ELSE '320902001001' END, 'resident', "
        f"DATE '2020-01-01', NULL, 'normal', now(){extra_values} "
        "FROM generate_series(1, %s) AS i WHERE i %% 1000 < %s",
        (persons, cut),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--insured", default="0.0,0.8", help="shares of insured persons")
    args = parser.parse_args()
    shares = [float(s) for s in args.insured.split(",")]

    with demo_database(DATABASE) as (url, env):
        connection = psycopg2.connect(url)
        connection.autocommit = True
        with connection.cursor() as cur:
            populate_persons(cur, args.persons)
            cur.execute("VACUUM ANALYZE person")
        medians = {}
        for share in shares:
            with connection.cursor() as cur:
                populate_enrollments(cur, args.persons, share)
                cur.execute("VACUUM ANALYZE enrollment")
            seconds = []
            for n in range(1, args.runs + 1):
                with connection.cursor() as cur:
                    # The run before left a million rolled-back row versions behind: each run
                    # starts from a vacuumed table, or every run is slower than the one before.
                    cur.execute("VACUUM person, person_file, person_change")
                    cur.execute("CHECKPOINT")
                out = (
                    subprocess.run(
                        [sys.executable, "-c", RUN],
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                        cwd=REPO,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                seconds.append(float(out.split()[0]))
                print(f"insured {share:.0%} run {n}: {out}", flush=True)
            medians[share] = statistics.median(seconds)
        connection.close()
    for share, median in medians.items():
        print(f"comparison of {args.persons:,} persons, {share:.0%} insured: median {median:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("JOBS_IN_PROCESS", "0")
    main()
