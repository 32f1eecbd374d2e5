"""Benchmark: the dashboards of a city at 100 k and at 10 M persons, and `stats rebuild`, on
PostgreSQL.

    python bench/dashboard.py [--small 100000] [--large 10000000] [--requests 40]

Prepares a fresh database like the demo (bench/demo_database.py), then fills Yancheng (2,494
communities) twice — first `--small` persons, then up to `--large` — with set-based SQL run by
the server (INSERT … SELECT over generate_series: the rows never cross the wire, which is what
COPY would buy; the import's own speed is bench/import_household.py's business):
- persons spread over the communities, 2 % in a government-paid key population, 80 % insured
  (two in ten of them employee insurance, one in ten insured elsewhere), 1 % excluded;
- a file for the current insurance year for every uninsured person, in every state: a third
  unassigned, the rest assigned to the demo's grid worker, half of those visited (one visit
  each), some declined, pending review or enrolled;
- `stats rebuild` (timed: the figures of every maintained year from the base tables);
- a year of daily history: community_activity for every community and day, daily_figures for
  every region of levels 1–4 for 365 days and for the communities as portal/stats/snapshots.py
  keeps them (100 days daily, then weekly).
At each size it times, in one process, `--requests` renders of the city's dashboard (as the
city's staff account) and of Funing county's (as the county's), through the test client (server
time: routing, permission checks, queries, template), and prints median and p95 per page and
the ratio of the large to the small size.

Run it when nothing else runs on the machine.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.demo_database import demo_database  # noqa: E402

DATABASE = "bench_dashboard"
CITY = "320900000000"
COUNTY = "320923000000"

# Persons i in (start, stop]: the same rule at every size, so the larger fill extends the smaller.
PERSONS = """
INSERT INTO person (id_number, name, sex, birth_date, region_code, in_register, in_resident_list,
    key_populations, e_credential, insured_status, insured_scheme, insured_region_code,
    excluded_reason, version, created_at, updated_at)
SELECT '3209' || lpad(i::text, 13, '0') || 'X', '测试' || (i %% 1000),
    CASE WHEN i %% 2 = 0 THEN '2' ELSE '1' END, DATE '1950-01-01' + (i %% 25000),
    (%(communities)s::text[])[1 + i %% %(count)s], TRUE, i %% 7 = 0,
    CASE WHEN i %% 50 = 0 THEN 1 ELSE 0 END, i %% 10 < 6,
    CASE WHEN i %% 10 < 8 THEN 'insured' ELSE 'uninsured' END,
    CASE WHEN i %% 10 < 8 THEN (CASE WHEN i %% 10 < 2 THEN 'employee' ELSE 'resident' END) END,
    CASE WHEN i %% 10 < 8 THEN (CASE WHEN i %% 100 < 10 THEN '310101000000'
        ELSE (%(communities)s::text[])[1 + i %% %(count)s] END) END,
    CASE WHEN i %% 100 = 99 THEN 'deceased' END, 1, now(), now()
FROM generate_series(%(start)s + 1, %(stop)s) AS i
"""

FILES = """
INSERT INTO person_file (person_id, region_code, year, file_number, file_type, reason_code,
    government_paid, filing_flag, state, assignee_id, assigned_at, last_visit_at,
    last_visitor_id, opened_at, closed_at, version)
SELECT p.id, p.region_code, %(year)s, %(year)s || '-' || p.id, 'uninsured',
    CASE p.id %% 5 WHEN 0 THEN 'away_working' WHEN 1 THEN 'lost_contact' WHEN 2 THEN 'hardship'
        WHEN 3 THEN 'declined' END,
    p.key_populations <> 0, TRUE,
    CASE p.id %% 12 WHEN 0 THEN 'unassigned' WHEN 1 THEN 'unassigned' WHEN 2 THEN 'unassigned'
        WHEN 3 THEN 'unassigned' WHEN 4 THEN 'assigned' WHEN 5 THEN 'assigned'
        WHEN 6 THEN 'following' WHEN 7 THEN 'following' WHEN 8 THEN 'declined'
        WHEN 9 THEN 'pending_review' WHEN 10 THEN 'pending_confirmation' ELSE 'enrolled' END,
    CASE WHEN p.id %% 12 >= 4 THEN %(worker)s END,
    CASE WHEN p.id %% 12 >= 4 THEN now() - interval '20 days' END,
    CASE WHEN p.id %% 12 >= 6 THEN now() - (p.id %% 300) * interval '1 day' END,
    CASE WHEN p.id %% 12 >= 6 THEN %(worker)s END,
    now() - interval '90 days', CASE WHEN p.id %% 12 = 11 THEN now() END, 1
FROM person p
WHERE p.insured_status = 'uninsured' AND p.id > %(after)s
"""

VISITS = """
INSERT INTO visit (file_id, person_id, region_code, user_id, at, method, outcome, reason_code,
    idempotency_key, activated_e_credential)
SELECT f.id, f.person_id, f.region_code, %(worker)s, f.last_visit_at, 'in_person',
    CASE f.state WHEN 'declined' THEN 'declined' WHEN 'pending_review' THEN 'deceased'
        WHEN 'pending_confirmation' THEN 'paid_today' WHEN 'enrolled' THEN 'paid_today'
        ELSE 'will_pay' END,
    f.reason_code, md5(f.id::text), FALSE
FROM person_file f
WHERE f.last_visit_at IS NOT NULL AND f.id > %(after)s
"""

ACTIVITY = """
INSERT INTO community_activity (day, region_code, visits, conversions)
SELECT d::date, r.code, (abs(hashtext(r.code || d::text)) % 40),
    (abs(hashtext(d::text || r.code)) % 8)
FROM region r CROSS JOIN generate_series(current_date - 365, current_date - 1,
    interval '1 day') AS d
WHERE r.level = 5 AND r.code LIKE '3209%'
ON CONFLICT DO NOTHING
"""

# The history: each region's current figures scaled down into the past (coverage rising).
HISTORY = """
INSERT INTO daily_figures (region_code, day, year, persons, excluded, insured, open_files, files,
    government_paid, government_paid_insured, e_credential, visits, conversions, filled,
    taken_at)
SELECT r.code, d::date, %(year)s, COALESCE(s.persons, 0), COALESCE(s.excluded, 0),
    (COALESCE(s.insured, 0) * (0.7 + 0.3 * (365 - (current_date - d::date)) / 365.0))::int,
    COALESCE(s.open_files, 0), COALESCE(s.files, 0), COALESCE(s.gp, 0), COALESCE(s.gpi, 0),
    COALESCE(s.ec, 0), 0, 0, FALSE, now()
FROM region r
CROSS JOIN generate_series(current_date - 365, current_date - 1, interval '1 day') AS d
LEFT JOIN (
    SELECT SUBSTR(region_code, 1, %(length)s) AS prefix, SUM(persons) AS persons,
        SUM(excluded) AS excluded, SUM(insured) AS insured,
        SUM(files_unassigned + files_assigned + files_following + files_pending_confirmation
            + files_pending_review + files_declined) AS open_files,
        SUM(files_unassigned + files_assigned + files_following + files_pending_confirmation
            + files_pending_review + files_declined + files_enrolled + files_exempt) AS files,
        SUM(government_paid) AS gp, SUM(government_paid_insured) AS gpi,
        SUM(e_credential) AS ec
    FROM community_figures WHERE year = %(year)s GROUP BY 1
) s ON s.prefix = SUBSTR(r.code, 1, %(length)s)
WHERE r.level = %(level)s AND r.code LIKE '3209%%'
    AND (%(level)s < 5 OR current_date - d::date <= 100 OR EXTRACT(ISODOW FROM d) = 7)
ON CONFLICT DO NOTHING
"""

REBUILD = """
import time
from portal import create_app
from portal.extensions import db
from portal.stats import maintain
app = create_app()
with app.app_context():
    started = time.perf_counter()
    years = maintain.rebuild(db.session.connection())
    db.session.commit()
    print(f"{time.perf_counter() - started:.1f} s (years {years})")
"""

RENDER = """
import statistics, sys, time
from portal import create_app
requests = int(sys.argv[1])
app = create_app({"WTF_CSRF_ENABLED": False})
results = {}
for label, username, path in (("city", "yc_staff", "/dashboard/" + sys.argv[2]),
                              ("county", "fn_staff", "/dashboard/" + sys.argv[3])):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": "Yibao@2026"})
    assert response.status_code == 302, response.status_code
    times = []
    for index in range(requests + 3):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        if index >= 3:  # the first renders warm the caches of the process
            times.append(elapsed)
    times.sort()
    print(label, f"{statistics.median(times) * 1000:.1f}",
          f"{times[min(len(times) - 1, int(len(times) * 0.95))] * 1000:.1f}", len(response.data))
"""


def run(env, script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        check=True,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def fill(cur, start: int, stop: int, year: int, worker: int) -> None:
    communities = [
        line.split(",")[0]
        for line in (REPO / "portal/regions/data/3209/villages.csv").read_text().splitlines()[1:]
    ]
    cur.execute("SELECT COALESCE(MAX(id), 0) FROM person_file")
    after_file = cur.fetchone()[0]
    cur.execute("SELECT COALESCE(MAX(id), 0) FROM person")
    after_person = cur.fetchone()[0]
    cur.execute(
        PERSONS,
        {"communities": communities, "count": len(communities), "start": start, "stop": stop},
    )
    cur.execute(FILES, {"year": year, "worker": worker, "after": after_person})
    cur.execute(VISITS, {"worker": worker, "after": after_file})
    for table in ("person", "person_file", "visit"):
        cur.execute(f"VACUUM ANALYZE {table}")


def history(cur, year: int) -> None:
    cur.execute("TRUNCATE daily_figures, community_activity")
    cur.execute(ACTIVITY)
    for level, length in ((1, 2), (2, 4), (3, 6), (4, 9), (5, 12)):
        cur.execute(HISTORY, {"year": year, "level": level, "length": length})
    cur.execute("VACUUM ANALYZE daily_figures")
    cur.execute("VACUUM ANALYZE community_activity")
    cur.execute("SELECT COUNT(*) FROM daily_figures")
    return cur.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=40)
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
        # The demo's own persons stay: they are a few hundred.
        figures = {}
        done = 0
        for size in (args.small, args.large):
            started = time.perf_counter()
            fill(cur, done, size, year, worker)
            done = size
            print(f"{size:,} persons written in {time.perf_counter() - started:.0f} s", flush=True)
            rebuild = run(env, REBUILD)
            print(f"  stats rebuild: {rebuild}", flush=True)
            started = time.perf_counter()
            rows = history(cur, year)
            print(
                f"  a year of history: {rows:,} daily_figures rows in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            for line in run(env, RENDER, str(args.requests), CITY, COUNTY).splitlines():
                label, median, p95, size_bytes = line.split()
                figures[(size, label)] = (float(median), float(p95))
                print(
                    f"  {label} dashboard: median {median} ms, p95 {p95} ms "
                    f"({int(size_bytes) // 1024} KB)",
                    flush=True,
                )
        for label in ("city", "county"):
            small, large = figures[(args.small, label)], figures[(args.large, label)]
            print(
                f"{label}: p95 at {args.large:,} ÷ p95 at {args.small:,} = "
                f"{large[1] / small[1]:.2f}; median ratio {large[0] / small[0]:.2f}"
            )
        connection.close()


if __name__ == "__main__":
    main()
