"""Benchmark: what keeping the figures exact (portal/stats/) costs, on PostgreSQL.

    python bench/stats.py [--persons 1000000] [--refreshes 200]

Prepares a demo database (bench/demo_database.py) with persons spread over Yancheng's 2,494
communities and 80 % of them insured (bench/compare.py's generators), then prints:
- the comparison of the whole city (its first: every file opened) and, inside it, the seconds
  of the figures' upkeep (stats.maintain.refresh and the conversions per day,
  stats.activity.refresh_conversions), committed;
- one community's refresh — what a visit or an assignment adds (file counts only), and what an
  edit or a review adds (every count) — median and p95 over `--refreshes` random communities
  (cold: each read for the first time), each in its own transaction, rolled back;
- `stats rebuild` of every maintained year, and `stats verify`'s direct count of the city.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.compare import populate_enrollments, populate_persons  # noqa: E402
from bench.demo_database import demo_database  # noqa: E402

DATABASE = "bench_stats"

RUN = """
import random, statistics, sys, time
from datetime import date
from sqlalchemy import text
from portal import create_app
from portal.extensions import db
from portal.regions.models import Region
from portal.comparisons import operations as ops
from portal.stats import activity, maintain
from portal.years.selection import year_calendar

refreshes = int(sys.argv[1])
app = create_app()
with app.app_context():
    spent = []
    real_refresh = maintain.refresh

    def timed_refresh(*args, **kwargs):
        started = time.perf_counter()
        real_refresh(*args, **kwargs)
        spent.append(time.perf_counter() - started)

    real_conversions = activity.refresh_conversions

    def timed_conversions(*args, **kwargs):
        started = time.perf_counter()
        real_conversions(*args, **kwargs)
        spent.append(time.perf_counter() - started)

    maintain.refresh = timed_refresh
    activity.refresh_conversions = timed_conversions
    year = year_calendar().current_year(date.today())
    region = db.session.get(Region, "320900000000")
    started = time.perf_counter()
    ops.compare(region, year, run_id=0, user_id=None, today=date.today())
    db.session.flush()
    total = time.perf_counter() - started
    db.session.commit()
    maintain.refresh = real_refresh
    activity.refresh_conversions = real_conversions
    print(f"comparison {total:.2f} s, of which the figures' upkeep {sum(spent):.2f} s "
          f"({sum(spent) / (total - sum(spent)):.1%} added)", flush=True)

    connection = db.session.connection()
    db.session.execute(text("ANALYZE community_figures"))
    db.session.commit()
    codes = [row[0] for row in db.session.execute(text(
        "SELECT code FROM region WHERE level = 5 AND code LIKE '3209%' ORDER BY code"))]
    for label, files_only, seed in (("a visit's (files only)", True, 1),
                                    ("an edit's (all counts)", False, 2)):
        random.seed(seed)
        times = []
        for code in random.sample(codes, refreshes):
            connection = db.session.connection()
            started = time.perf_counter()
            maintain.refresh(connection, community=code, files_only=files_only)
            times.append(time.perf_counter() - started)
            db.session.rollback()
        times.sort()
        print(f"one community's refresh, {label}: median "
              f"{statistics.median(times) * 1000:.1f} ms, "
              f"p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms", flush=True)

    started = time.perf_counter()
    years = maintain.rebuild(db.session.connection())
    db.session.commit()
    print(f"stats rebuild ({years}): {time.perf_counter() - started:.2f} s", flush=True)
    started = time.perf_counter()
    differences = maintain.differences(db.session.connection(), prefix="3209", year=year)
    print(f"stats verify of the city for {year}: {time.perf_counter() - started:.2f} s, "
          f"{len(differences)} differences", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--refreshes", type=int, default=200)
    args = parser.parse_args()
    with demo_database(DATABASE) as (url, env):
        connection = psycopg2.connect(url)
        connection.autocommit = True
        with connection.cursor() as cur:
            populate_persons(cur, args.persons)
            populate_enrollments(cur, args.persons, 0.8)
            cur.execute("VACUUM ANALYZE person")
            cur.execute("VACUUM ANALYZE enrollment")
        connection.close()
        print(f"{args.persons:,} persons, 80 % insured", flush=True)
        subprocess.run(
            [sys.executable, "-c", RUN, str(args.refreshes)], env=env, check=True, cwd=REPO
        )


if __name__ == "__main__":
    main()
