"""Benchmark: both report forms of a city (and the not-enrolled form of a county, with its
streamed detail list) at two sizes, on PostgreSQL.

    python bench/report_forms.py [--small 100000] [--large 10000000] [--repeat 3]

Prepares a fresh database like the demo and fills Yancheng the way bench/dashboard.py does
(its `fill`: persons over the 2,494 communities, 80 % insured, a file for every uninsured
person of the current year), plus duplicate cases for one insured person in 200 (every kind
and state), then `stats rebuild` and the duplicate figures' rebuild. At each size it times, in a
fresh process, portal.reports.service.export_form — compute the form from the maintained
figures, write the workbook, audit — for the city (yc_staff: the second sheet lists per county
the number of detail rows) and for Funing county's not-enrolled form (fn_staff: its uninsured
persons streamed into the detail sheet), and prints the median time, the workbook's size and
the process's peak RSS (constant memory: about the same at both sizes).

Run it when nothing else runs on the machine.
"""

import argparse
import sys
import time
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.dashboard import fill, run  # noqa: E402
from bench.demo_database import demo_database  # noqa: E402

DATABASE = "bench_report_forms"
CITY = "320900000000"
COUNTY = "320923000000"

DUPLICATES = """
INSERT INTO duplicate_case (year, id_number, person_id, region_code, kind, state,
    subsidy_deductions, detected_at, updated_at, version)
SELECT %(year)s, p.id_number, p.id, p.region_code,
    CASE p.id %% 3 WHEN 0 THEN 'employee' WHEN 1 THEN 'resident' ELSE 'cross' END,
    CASE p.id %% 4 WHEN 0 THEN 'open' WHEN 1 THEN 'not_duplicate' ELSE 'resolved' END,
    p.id %% 2, now(), now(), 1
FROM person p
WHERE p.insured_status = 'insured' AND p.id %% 200 = 0 AND p.id > %(after)s
"""

REBUILD = """
import time
from portal import create_app
from portal.duplicates import figures as duplicate_figures
from portal.extensions import db
from portal.stats import maintain
app = create_app()
with app.app_context():
    started = time.perf_counter()
    maintain.rebuild(db.session.connection())
    duplicate_figures.rebuild(db.session.connection())
    db.session.commit()
    print(f"{time.perf_counter() - started:.1f} s")
"""

EXPORT = """
import resource, statistics, sys, time
from sqlalchemy import select
from portal import create_app
from portal.accounts.models import User
from portal.extensions import db
from portal.regions.models import Region
from portal.reports import service
repeat, year = int(sys.argv[1]), int(sys.argv[2])
app = create_app()
cases = (("city", "yc_staff", sys.argv[3], "cleanup_summary"),
         ("city", "yc_staff", sys.argv[3], "not_enrolled"),
         ("county", "fn_staff", sys.argv[4], "not_enrolled"))
for label, username, code, form in cases:
    times = []
    for _ in range(repeat):
        with app.test_request_context():
            actor = db.session.scalar(select(User).where(User.username == username))
            region = db.session.get(Region, code)
            started = time.perf_counter()
            path, name = service.export_form(actor, form, region, year)
            times.append(time.perf_counter() - started)
            size = path.stat().st_size
            path.unlink()
            db.session.rollback()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(label, form, f"{statistics.median(times):.2f}", f"{max(times):.2f}", size // 1024, peak)
"""


def duplicates(cur, year: int, after: int) -> None:
    cur.execute(DUPLICATES, {"year": year, "after": after})
    cur.execute("VACUUM ANALYZE duplicate_case")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with demo_database(DATABASE) as (url, env):
        connection = psycopg2.connect(url)
        connection.autocommit = True
        cur = connection.cursor()
        year = int(
            run(
                env,
                "from datetime import date\nfrom portal import create_app\n"
                "from portal.years.selection import year_calendar\n"
                "with create_app().app_context():\n"
                "    print(year_calendar().current_year(date.today()))",
            )
        )
        cur.execute("SELECT id FROM app_user WHERE username = 'fc_grid1'")
        worker = cur.fetchone()[0]
        done = 0
        for size in (args.small, args.large):
            started = time.perf_counter()
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM person")
            after = cur.fetchone()[0]
            fill(cur, done, size, year, worker)
            duplicates(cur, year, after)
            done = size
            print(f"{size:,} persons written in {time.perf_counter() - started:.0f} s", flush=True)
            print(f"  stats rebuild: {run(env, REBUILD)}", flush=True)
            for line in run(env, EXPORT, str(args.repeat), str(year), CITY, COUNTY).splitlines():
                label, form, median, worst, kilobytes, peak = line.split()
                print(
                    f"  {label} {form}: median {median} s, max {worst} s, {kilobytes} KB, "
                    f"peak RSS {peak} MB",
                    flush=True,
                )
        connection.close()


if __name__ == "__main__":
    main()
