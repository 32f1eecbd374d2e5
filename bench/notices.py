"""Benchmark: a month's ranking notices (通报) for a whole province, on PostgreSQL.

    python bench/notices.py [--province 32] [--runs 3]

Prepares a fresh database like the demo (bench/demo_database.py), loads the real region tree of
the province from ../shared/data/regions (Jiangsu: 13 cities, ~95 counties and ~1,250
townships: ~1,400 regions with children, ~21 k communities), then, set-based:
- maintained figures (`community_figures`) of the insurance year for every community
  (persons, excluded, insured, government-paid and insured: a varied coverage, small gaps);
- visits and conversions (`community_activity`) for every community and day of the month;
- targets (a rate) for every county and township;
- last month's final notices (issued by the service, as the job would have);
- the month-end snapshot (`daily_figures` of the month's last day for every region).
It then times `issue_month` for the month as the job issues it in the first minutes of the next
month — from the snapshot (the job's normal path) and from the live figures (the job ran before
the snapshot committed) — `--runs` times each (the month's notices deleted between runs), and
prints the median and every run, the notices written and their total JSON size.

Run it when nothing else runs on the machine.
"""

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.demo_database import demo_database  # noqa: E402

DATABASE = "bench_notices"
SOURCE = REPO.parent / "shared/data/regions"
YEAR = 2027
MONTH = "2026-11-01"  # ranked; the job runs at 2026-12-01 00:05 China (2026-11-30 16:05 UTC)
PREVIOUS = "2026-10-01"

FIGURES = """
INSERT INTO community_figures (year, region_code, refreshed_at, persons, excluded, insured,
    government_paid, government_paid_insured)
SELECT %(year)s, r.code, now(), 400 + h %% 600, 5 + h %% 20,
    ((400 + h %% 600 - 5 - h %% 20) * (80 + h %% 20) / 100),
    8 + h %% 12, 8 + h %% 12 - (CASE WHEN h %% 9 = 0 THEN 1 + h %% 3 ELSE 0 END)
FROM (SELECT code, abs(hashtext(code)) AS h FROM region WHERE level = 5 AND code LIKE %(like)s) r
ON CONFLICT DO NOTHING
"""

ACTIVITY = """
INSERT INTO community_activity (day, region_code, visits, conversions)
SELECT d::date, r.code, abs(hashtext(r.code || d::text)) %% 12,
    abs(hashtext(d::text || r.code)) %% 3
FROM region r CROSS JOIN generate_series(DATE %(first)s, DATE %(first)s + 29, interval '1 day') d
WHERE r.level = 5 AND r.code LIKE %(like)s
ON CONFLICT DO NOTHING
"""

TARGETS = """
INSERT INTO region_target (year, region_code, kind, value, updated_at)
SELECT %(year)s, code, 'rate', 9000 + abs(hashtext(code)) %% 900, now()
FROM region WHERE level IN (3, 4) AND code LIKE %(like)s
ON CONFLICT DO NOTHING
"""

# The month-end snapshot: every community from its figures, every region above as the sums.
SNAPSHOT_COMMUNITIES = """
INSERT INTO daily_figures (region_code, day, year, persons, excluded, insured, open_files, files,
    government_paid, government_paid_insured, e_credential, visits, conversions, filled,
    taken_at)
SELECT region_code, DATE '2026-11-30', year, persons, excluded, insured, 0, 0, government_paid,
    government_paid_insured, 0, 0, 0, FALSE, TIMESTAMP '2026-11-30 16:00:30'
FROM community_figures WHERE year = %(year)s AND region_code LIKE %(like)s
ON CONFLICT DO NOTHING
"""

SNAPSHOT_LEVEL = """
INSERT INTO daily_figures (region_code, day, year, persons, excluded, insured, open_files, files,
    government_paid, government_paid_insured, e_credential, visits, conversions, filled,
    taken_at)
SELECT p.code, DATE '2026-11-30', %(year)s, COALESCE(SUM(d.persons), 0),
    COALESCE(SUM(d.excluded), 0), COALESCE(SUM(d.insured), 0), 0, 0,
    COALESCE(SUM(d.government_paid), 0), COALESCE(SUM(d.government_paid_insured), 0), 0, 0, 0,
    FALSE, TIMESTAMP '2026-11-30 16:00:30'
FROM region p LEFT JOIN region c ON c.parent_code = p.code
LEFT JOIN daily_figures d ON d.region_code = c.code AND d.day = DATE '2026-11-30'
WHERE p.level = %(level)s AND p.code LIKE %(like)s GROUP BY p.code
ON CONFLICT DO NOTHING
"""

TIMED = """
import json, statistics, sys, time
from datetime import date, datetime
from sqlalchemy import text
from portal import create_app
from portal.extensions import db
from portal.notices import service
from portal.regions.models import Region

province, runs, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = create_app()
with app.app_context():
    region = db.session.get(Region, province.ljust(12, "0"))
    if variant == "previous":
        done = service.issue_month(date(2026, 10, 1), now=datetime(2026, 10, 31, 16, 5),
                                   region=region)
        db.session.commit()
        print(done.notices)
        sys.exit()
    times = []
    for _ in range(runs):
        db.session.execute(text("DELETE FROM ranking_notice WHERE month = '2026-11-01'"))
        db.session.commit()
        started = time.perf_counter()
        done = service.issue_month(date(2026, 11, 1), now=datetime(2026, 11, 30, 16, 5),
                                   region=region)
        db.session.commit()
        times.append(time.perf_counter() - started)
    size = db.session.execute(text(
        "SELECT COALESCE(SUM(LENGTH(CAST(rows AS TEXT)) + LENGTH(CAST(summary AS TEXT))), 0) "
        "FROM ranking_notice WHERE month = '2026-11-01'")).scalar()
    sources = db.session.execute(text(
        "SELECT DISTINCT summary->>'source' FROM ranking_notice WHERE month = '2026-11-01'"
    )).scalars().all()
    print(json.dumps({"times": times, "notices": done.notices, "bytes": size,
                      "sources": sources}))
"""


def run(env, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", TIMED, *args],
        env=env,
        check=True,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    import json

    import psycopg2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province", default="32")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    like = f"{args.province}%"
    portal = str(Path(sys.executable).with_name("portal"))
    with demo_database(DATABASE) as (url, env):
        subprocess.run(
            [portal, "regions", "load", "--source", str(SOURCE), "--under", args.province],
            env=env,
            check=True,
            capture_output=True,
        )
        connection = psycopg2.connect(url)
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute("DELETE FROM ranking_notice")
            cur.execute("DELETE FROM community_figures")
            cur.execute(
                "SELECT level, COUNT(*) FROM region WHERE code LIKE %s GROUP BY level ORDER BY 1",
                (like,),
            )
            levels = dict(cur.fetchall())
            cur.execute(
                "SELECT COUNT(DISTINCT parent_code) FROM region WHERE code LIKE %s AND level > 1",
                (like,),
            )
            parents = cur.fetchone()[0]
            print(f"province {args.province}: regions per level {levels}, {parents} with children")
            cur.execute(FIGURES, {"year": YEAR, "like": like})
            cur.execute(ACTIVITY, {"first": MONTH, "like": like})
            print(f"community_activity rows of the month: {cur.rowcount}")
            cur.execute(TARGETS, {"year": YEAR, "like": like})
            for table in ("community_figures", "community_activity", "region_target"):
                cur.execute(f"VACUUM ANALYZE {table}")
        print(f"last month's notices: {run(env, args.province, '1', 'previous')}")
        results = {}
        with connection.cursor() as cur:
            cur.execute(SNAPSHOT_COMMUNITIES, {"year": YEAR, "like": like})
            for level in (4, 3, 2, 1):
                cur.execute(SNAPSHOT_LEVEL, {"year": YEAR, "level": level, "like": like})
            cur.execute("VACUUM ANALYZE daily_figures")
        results["snapshot"] = json.loads(run(env, args.province, str(args.runs), "month"))
        with connection.cursor() as cur:
            cur.execute("DELETE FROM daily_figures WHERE day = DATE '2026-11-30'")
        results["live"] = json.loads(run(env, args.province, str(args.runs), "month"))
        connection.close()
    for name, result in results.items():
        times = result["times"]
        print(
            f"{name:8s} median {statistics.median(times):.2f} s over {len(times)} runs "
            f"({', '.join(f'{t:.2f}' for t in times)}); {result['notices']} notices, "
            f"{result['bytes'] / 1e6:.1f} MB of JSON, source {result['sources']}"
        )


if __name__ == "__main__":
    main()
