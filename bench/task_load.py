"""Benchmark: the grid worker's task list and visit submission under 50 concurrent users.

    pip install -e '.[serve]'
    python bench/task_load.py [--persons 1000000] [--files 50000] [--users 50] [--seconds 60]
                              [--workers N] [--threads 1] [--url postgresql://…/postgres]

Creates a fresh PostgreSQL database `bench_tasks`, prepares it like the demo, then by SQL:
`--persons` persons over every community of Yancheng, `--files` open uninsured files in Fucheng
street (阜城街道) spread over its communities, and `--users` grid workers there, each holding the
communities' files round-robin (several workers share a community). It starts gunicorn
(`--workers` sync processes, one per core as gunicorn.conf.py ships; `--threads 2` tries
gthread) on the database, signs every worker in (argon2: before the clock starts), then runs one
client thread per worker, each in a loop — open "我的任务", open the first file, record a
visit ("同意参保，将缴费": the file stays on the list) — for `--seconds`. Prints p50/p95/p99 of
the server time (`Server-Timing` header, what the target is about) and of the client-side
latency per request kind (it includes the wait for a free worker: the users never pause).
Target: task list and visit submission each < 50 ms server time at p95.
"""

import argparse
import html
import http.client
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from demo_database import DEFAULT_ADMIN_URL, demo_database

REPO = Path(__file__).resolve().parents[1]
DATABASE = "bench_tasks"
TOWNSHIP = "320923001"  # 阜城街道
PASSWORD = "Yibao@2026"

FILL = """
CREATE TEMPORARY TABLE community AS
SELECT code, row_number() OVER (ORDER BY code) - 1 AS k FROM region WHERE level = 5
AND code LIKE '3209%%';
INSERT INTO person (id_number, name, sex, birth_date, phone, region_code, in_register,
    in_resident_list, key_populations, e_credential, insured_status, version, created_at,
    updated_at)
SELECT '320923' || lpad(n::text, 11, '0') || 'X', '测试' || n, '1', date '1980-01-01',
    '138' || lpad(n::text, 8, '0'), c.code, true, false, 0, false, 'insured', 1, now(), now()
FROM generate_series(1, %(persons)s) AS n
JOIN community c ON c.k = n %% (SELECT count(*) FROM community);
CREATE TEMPORARY TABLE township_community AS
SELECT code, row_number() OVER (ORDER BY code) - 1 AS k FROM region
WHERE level = 5 AND code LIKE %(township_like)s;
INSERT INTO app_user (username, display_name, password_hash, region_code, active,
    must_change_password, failed_logins, created_at)
SELECT 'bench_grid' || u, '压测网格员' || u,
    (SELECT password_hash FROM app_user WHERE username = 'fc_grid1'), t.code, true, false, 0,
    now()
FROM generate_series(0, %(users)s - 1) AS u
JOIN township_community t ON t.k = u %% (SELECT count(*) FROM township_community);
INSERT INTO role_grant (user_id, role, region_code, granted_at)
SELECT id, 'grid_worker', region_code, now() FROM app_user WHERE username LIKE 'bench_grid%%';
-- Each community's files go round-robin to the workers holding that community.
CREATE TEMPORARY TABLE holder AS
SELECT g.user_id, g.region_code,
    row_number() OVER (PARTITION BY g.region_code ORDER BY g.user_id) - 1 AS k,
    count(*) OVER (PARTITION BY g.region_code) AS n
FROM role_grant g JOIN app_user u ON u.id = g.user_id WHERE u.username LIKE 'bench_grid%%';
-- The files' persons: re-home the first --files persons into the communities with a worker.
CREATE TEMPORARY TABLE worked AS
SELECT region_code AS code, row_number() OVER (ORDER BY region_code) - 1 AS k
FROM (SELECT DISTINCT region_code FROM holder) c;
UPDATE person SET region_code = w.code, insured_status = 'uninsured',
    key_populations = CASE WHEN person.id %% 10 = 0 THEN 1 ELSE 0 END
FROM worked w
WHERE person.id <= %(files)s AND w.k = person.id %% (SELECT count(*) FROM worked);
INSERT INTO person_file (person_id, region_code, year, file_number, file_type, filing_flag,
    government_paid, state, assignee_id, assigned_at, due_date, opened_at, version)
SELECT p.id, p.region_code, extract(year from now())::int, 'B-' || p.id, 'uninsured', true,
    (p.key_populations & 127) <> 0, 'assigned', h.user_id, now(),
    CASE WHEN p.id %% 7 = 0 THEN current_date - 3 END, now(), 1
FROM person p
JOIN (SELECT id, row_number() OVER (PARTITION BY region_code ORDER BY id) - 1 AS r
      FROM person WHERE id <= %(files)s) numbered ON numbered.id = p.id
JOIN holder h ON h.region_code = p.region_code AND h.k = numbered.r %% h.n;
ANALYZE;
"""

HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
ATTRIBUTE = re.compile(r'(name|value)="([^"]*)"')
FILE_LINK = re.compile(r'href="(/tasks/\d+)"')
SERVER_TIME = re.compile(r"app;dur=([0-9.]+)")


class Client:
    """One browser: a keep-alive connection and a cookie jar of one session cookie."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        latency = (time.perf_counter() - started) * 1000
        for value in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        timing = SERVER_TIME.search(response.headers.get("Server-Timing", ""))
        server = float(timing.group(1)) if timing else float("nan")
        return response.status, response.headers.get("Location", ""), text, server, latency


def hidden_fields(page: str) -> dict[str, str]:
    fields = {}
    for tag in HIDDEN.findall(page):
        attributes = dict(ATTRIBUTE.findall(tag))
        if "name" in attributes:
            fields[attributes["name"]] = html.unescape(attributes.get("value", ""))
    return fields


def sign_in(port, username, clients, errors):
    """A signed-in client for `username` (argon2 makes signing in deliberately costly: it is
    done for every user before the measured window starts)."""
    client = Client(port)
    status, _, page, _, _ = client.request("GET", "/login")
    status, _, _, _, _ = client.request(
        "POST", "/login", {**hidden_fields(page), "username": username, "password": PASSWORD}
    )
    if status != 302:
        errors.append(f"{username}: login {status}")
        return
    clients[username] = client


def worker_loop(client, username, deadline, samples, errors):
    while time.perf_counter() < deadline:
        status, _, page, server, latency = client.request("GET", "/tasks/")
        samples["task list"].append((server, latency))
        links = FILE_LINK.findall(page)
        if status != 200 or not links:
            errors.append(f"{username}: task list {status}, {len(links)} files")
            return
        status, _, page, server, latency = client.request("GET", links[0])
        samples["file page"].append((server, latency))
        form = hidden_fields(page)
        form.update(method="in_person", outcome="will_pay", note="压测")
        form["idempotency_key"] = str(uuid.uuid4())
        status, location, _, server, latency = client.request("POST", links[0] + "/visit", form)
        samples["visit"].append((server, latency))
        if status != 302:
            errors.append(f"{username}: visit {status}")
            return


def run_threads(target, arguments: list[tuple]) -> None:
    threads = [threading.Thread(target=target, args=a) for a in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def percentile(values: list[float], p: float) -> float:
    values = sorted(v for v in values if v == v)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def report(samples, seconds):
    print(f"{'request':<10} {'count':>6} {'req/s':>6}   server ms p50/p95/p99   client ms p50/p95")
    for kind, values in samples.items():
        server = [s for s, _ in values]
        client = [c for _, c in values]
        print(
            f"{kind:<10} {len(values):>6} {len(values) / seconds:>6.1f}   "
            f"{percentile(server, 50):6.1f} {percentile(server, 95):6.1f} "
            f"{percentile(server, 99):6.1f}     {percentile(client, 50):6.1f} "
            f"{percentile(client, 95):6.1f}"
        )
    everything = [s for values in samples.values() for s, _ in values]
    print(f"all: {len(everything)} requests, server mean {statistics.fmean(everything):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="default: as gunicorn.conf.py"
    )
    parser.add_argument("--threads", type=int, default=1, help="1: sync workers (as shipped)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    with demo_database(DATABASE, args.url) as (url, env):
        fill(url, args)
        with gunicorn(env, args.workers, args.threads, args.port):
            samples, errors, clients = defaultdict(list), [], {}
            usernames = [f"bench_grid{u}" for u in range(args.users)]
            run_threads(sign_in, [(args.port, name, clients, errors) for name in usernames])
            deadline = time.perf_counter() + args.seconds
            run_threads(
                worker_loop,
                [(clients[n], n, deadline, samples, errors) for n in usernames if n in clients],
            )
    print(
        f"{args.users} users, {args.seconds} s, "
        f"gunicorn {args.workers} workers × {args.threads} threads"
    )
    report(samples, args.seconds)
    if errors:
        print(f"{len(errors)} errors, first: {errors[:3]}")


def fill(url: str, args) -> None:
    started = time.perf_counter()
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cur:
        cur.execute(
            FILL,
            {
                "persons": args.persons,
                "files": args.files,
                "users": args.users,
                "township_like": TOWNSHIP + "%",
            },
        )
        cur.execute("SELECT count(*) FROM person")
        persons = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM person_file WHERE state = 'assigned'")
        files = cur.fetchone()[0]
    # Steady state before measuring: without this, autovacuum works through the fresh million
    # rows during the run and takes a core from the server.
    connection.autocommit = True
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    connection.close()
    print(
        f"filled {persons:,} persons, {files:,} open files in {TOWNSHIP} "
        f"({time.perf_counter() - started:.0f} s)"
    )


@contextmanager
def gunicorn(env: dict, workers: int, threads: int, port: int):
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=REPO,
        env=env,
    )
    try:
        wait_until_up(port)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_up(port: int) -> None:
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/login")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


if __name__ == "__main__":
    main()
