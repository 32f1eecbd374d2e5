"""Benchmark: a 1 M-row household workbook imported end to end on PostgreSQL, and the comparison.

    python bench/import_household.py [--rows 1000000] [--runs 3] [--url postgresql://…/postgres]
                                     [--keep]

Generates the workbook (cached under /tmp); then, per run, creates a fresh database
`bench_import` on the server, migrates it, loads the shipped Yancheng tree and the demo accounts,
and measures, each in its own process so that peak memory is the process's own:
  1. python-calamine merely reading the file (the floor the issue compares against);
  2. `portal import` of the file as the Yancheng city staff, over the whole city
     (upload checks → validated → staged with COPY → upserted → batch report);
  3. the same import again (everything unchanged);
  4. the comparison over all persons of the city (every one uninsured: no enrollments).
Targets: import < 45 s and < 1 GB, ≤ 3× calamine's read time; comparison < 30 s. A shared
2-core machine varies by 10-20 % from one run to the next (calamine alone read this file in
4.9-7.0 s), so the default is three runs and their medians, and the ratio per run.
Peak memory is given twice: the largest single process (wait4's ru_maxrss) and the largest sum,
sampled every 0.25 s, of the PSS of the whole process tree: the loader and one reader per core
each parse a piece of the sheet (portal/imports/pieces.py, loader.py), so the whole tree is what
the machine must hold.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "bench_import"


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _sample_total(pid: int, peak: list[int], done: threading.Event) -> None:
    """The largest sum seen of the process tree's PSS, in KB."""
    while not done.wait(0.25):
        peak[0] = max(peak[0], sum(_pss_kb(p) for p in _descendants(pid)))


def sh(args: list[str], env: dict) -> tuple[float, int, str, int]:
    """Run a command; (seconds, peak RSS in MB of its largest process, output, peak total MB).

    The peak RSS is that child's or one of its children's (wait4): RUSAGE_CHILDREN would
    report the largest of all the children so far, i.e. calamine's read for every step after
    it. The total is sampled every 0.25 s: the PSS of the whole process tree (pages shared
    copy-on-write counted once)."""
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    start = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=out_file, stderr=err_file, text=True)
    peak, done = [0], threading.Event()
    sampler = threading.Thread(target=_sample_total, args=(child.pid, peak, done))
    sampler.start()
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    stdout, stderr = out_file.read(), err_file.read()
    if child.returncode != 0:
        print(stdout[-2000:], stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(args)}")
    return elapsed, usage.ru_maxrss // 1024, stdout, peak[0] // 1024


def generate(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    from portal.synthetic import person_rows

    communities = [
        line.split(",")[0]
        for line in (REPO / "portal/regions/data/3209/villages.csv").read_text().splitlines()[1:]
    ]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("户籍人口")
    ws.append(["盐城市户籍人口花名册（合成数据）"])
    ws.append(["序号", "姓名", "公民身份号码", "性别", "联系电话", "村（社区）代码", "现住址"])
    for n, row in enumerate(person_rows(rows, communities, seed=7), 1):
        ws.append([n, *row])
    wb.save(path)


CALAMINE_READ = (
    "import sys, python_calamine as c\n"
    "wb = c.CalamineWorkbook.from_path(sys.argv[1])\n"
    "n = sum(1 for _ in wb.get_sheet_by_index(0).iter_rows())\n"
    "print(n)"
)
COMPARISON = (
    "from datetime import date\n"
    "from portal import create_app\n"
    "from portal.extensions import db\n"
    "from portal.regions.models import Region\n"
    "from portal.comparisons.operations import compare\n"
    "app = create_app()\n"
    "with app.app_context():\n"
    "    r = compare(db.session.get(Region, '320900000000'), date.today().year,\n"
    "                run_id=0, user_id=None, today=date.today())\n"
    "    db.session.commit()\n"
    "    print(r)\n"
)
STEPS = ("calamine read only", "import (first)", "import (again)", "comparison")


def one_run(admin, url: str, env: dict, workbook: Path) -> dict[str, tuple[float, int, int]]:
    """A fresh database, then each step in its own process: {step: (seconds, MB, MB)}.

    A CHECKPOINT before each step, so that no step pays for writing out the pages the one
    before it left dirty (the server's checkpoints during a step still count)."""
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cur.execute(f"CREATE DATABASE {DATABASE}")
    portal = str(Path(sys.executable).with_name("portal"))
    sh([portal, "demo", "--no-serve"], env)
    import_args = [portal, "import", str(workbook), "--kind", "household"]
    import_args += ["--region", "320900000000", "--as", "yc_staff"]
    commands = {
        "calamine read only": [sys.executable, "-c", CALAMINE_READ, str(workbook)],
        "import (first)": import_args,
        "import (again)": import_args,
        "comparison": [sys.executable, "-c", COMPARISON],
    }
    figures = {}
    for step in STEPS:
        with admin.cursor() as cur:
            cur.execute("CHECKPOINT")
        seconds, mb, out, total = sh(commands[step], env)
        figures[step] = (seconds, mb, total)
        line = f"{step:<21} {seconds:6.1f} s  peak {mb} MB (all processes {total} MB)"
        if step.startswith("import"):
            line += f"  ({seconds / figures[STEPS[0]][0]:.1f}× calamine)"
        print(f"{line}  {out.strip().splitlines()[-1]}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs on a fresh database each")
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    workbook = Path(f"/tmp/bench-household-{args.rows}.xlsx")
    if not workbook.exists():
        t = time.perf_counter()
        generate(workbook, args.rows)
        print(
            f"generated {workbook} ({workbook.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - t:.0f} s"
        )

    admin = psycopg2.connect(args.url)
    admin.autocommit = True
    url = args.url.rsplit("/", 1)[0] + f"/{DATABASE}"
    env = dict(
        os.environ,
        DATABASE_URL=url,
        JOBS_IN_PROCESS="0",
        PORTAL_INSTANCE_DIR=f"/tmp/bench-instance-{DATABASE}",
    )
    runs = []
    try:
        for n in range(1, args.runs + 1):
            print(f"run {n}:")
            runs.append(one_run(admin, url, env, workbook))
    finally:
        if not args.keep:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.close()
    if len(runs) > 1:
        print(f"median of {len(runs)} runs:")
        for step in STEPS:
            seconds = statistics.median(run[step][0] for run in runs)
            mb = max(run[step][1] for run in runs)
            total = max(run[step][2] for run in runs)
            print(f"{step:<21} {seconds:6.1f} s  peak {mb} MB, all processes {total} MB (largest)")
        ratios = sorted(run["import (first)"][0] / run[STEPS[0]][0] for run in runs)
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        print(f"first import / calamine, per run: {shown} (median {median:.2f}×)")


if __name__ == "__main__":
    main()
