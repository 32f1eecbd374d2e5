"""The job queue under real concurrency, on SQLite and PostgreSQL: two claimers, a reaper beside a
live job, a worker process that really dies, a command waiting for another worker.

These tests commit for real (each worker has its own connection), so they run outside the
per-test transaction and remove what they created afterwards.
"""

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from portal.accounts.models import User
from portal.extensions import db
from portal.jobs import queue
from portal.jobs.models import Job
from tests.jobs_helpers import rename

pytestmark = pytest.mark.no_db

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def jobs(app):
    """enqueue(kind, payload) -> committed job id; every job made is deleted afterwards, and
    fc_grid1's display name is put back."""
    made, added = [], []
    with app.app_context():
        name = db.session.scalar(select(User.display_name).where(User.username == "fc_grid1"))

    def _enqueue(kind, payload=None):
        with app.app_context():
            job = queue.enqueue(kind, payload or {}, region_code="320923001001")
            db.session.commit()
            made.append(job.id)
            return job.id

    def _kind(kind, run, on_failure=None):
        queue.job_kind(kind, on_failure)(run)
        added.append(kind)

    _enqueue.kind = _kind
    yield _enqueue
    for kind in added:
        queue.KINDS.pop(kind, None)
    with app.app_context():
        db.session.execute(delete(Job).where(Job.id.in_(made)))
        db.session.execute(
            update(User).where(User.username == "fc_grid1").values(display_name=name)
        )
        db.session.commit()


def _job(app, job_id) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def _name(app) -> str:
    with app.app_context():
        return db.session.scalar(select(User.display_name).where(User.username == "fc_grid1"))


def _threads(*targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("given_id", [False, True], ids=["oldest", "by-id"])
def test_two_claimers_racing_for_one_job_exactly_one_wins(app, jobs, given_id):
    def claimer(name, job_id, start, won):
        def claim():
            with app.app_context():
                start.wait()
                won[name] = queue.claim(name, job_id if given_id else None) is not None
                db.session.remove()

        return claim

    for _round in range(8):
        job_id, start, won = jobs("race"), threading.Barrier(2), {}
        _threads(*(claimer(name, job_id, start, won) for name in ("a", "b")))
        assert sorted(won.values()) == [False, True]
        job = _job(app, job_id)
        winner = next(name for name, w in won.items() if w)
        assert (job.state, job.worker, job.attempts) == ("running", winner, 1)
        with app.app_context():  # out of the next round's way
            db.session.execute(update(Job).where(Job.id == job_id).values(state="succeeded"))
            db.session.commit()


def test_the_reaper_never_fails_a_live_job_even_with_a_stale_heartbeat(app, jobs, monkeypatch):
    """The job's transaction is open (its worker alive but silent): on PostgreSQL the reaper
    cannot take the job's advisory lock, on SQLite it waits for the write lock and then finds the
    job finished. Either way the job ends succeeded and nothing is marked failed."""
    started, release, failures, reaped = threading.Event(), threading.Event(), [], []

    def slow(job, progress):
        rename(job, progress)
        started.set()
        assert release.wait(30)
        return "完成"

    jobs.kind("slow", slow, on_failure=lambda job, message: failures.append(message))
    job_id = jobs("slow", {"name": "活着"})

    def work():
        with app.app_context():
            queue.run_one("live", job_id=job_id)
            db.session.remove()

    def reap():
        assert started.wait(30)
        monkeypatch.setattr(queue, "STALE_AFTER", timedelta(seconds=-60))  # every job is stale
        with app.app_context():
            reaped.append(queue.reap_stale())
            db.session.remove()

    def let_go():
        assert started.wait(30)
        time.sleep(0.5)  # the reaper is at work (PostgreSQL) or waiting for the lock (SQLite)
        release.set()

    _threads(work, reap, let_go)
    job = _job(app, job_id)
    assert (job.state, job.message, job.attempts) == ("succeeded", "完成", 1)
    assert (reaped, failures) == ([0], [])
    assert _name(app) == "活着"


CHILD = """
import os, sys
from portal import create_app
from portal.extensions import db
from portal.jobs import queue
from tests.jobs_helpers import rename

app = create_app(
    {"TESTING": True, "JOBS_IN_PROCESS": False, "SQLALCHEMY_DATABASE_URI": sys.argv[1],
     "SECRET_KEY": "child"}
)

@queue.job_kind("die")
def die(job, progress):
    rename(job, progress)
    progress(1, 2, "写了一半", force=True)
    os._exit(9)  # the process dies in the middle of the job's transaction

with app.app_context():
    queue.run_one("doomed", job_id=int(sys.argv[2]))
"""


def test_a_worker_that_really_died_leaves_nothing_and_its_job_says_so(app, jobs, monkeypatch):
    failures = []
    jobs.kind("die", lambda job, progress: None, on_failure=lambda j, m: failures.append(m))
    job_id = jobs("die", {"name": "死前"})
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(job_id)], cwd=ROOT, capture_output=True, timeout=60
    )
    assert child.returncode == 9, child.stderr.decode()
    job = _job(app, job_id)
    assert (job.state, job.worker) == ("running", "doomed")
    with app.app_context():
        assert queue.reap_stale() == 0  # its heartbeat is recent: it may be alive
    monkeypatch.setattr(queue, "STALE_AFTER", timedelta(seconds=-60))
    for _attempt in range(50):  # PostgreSQL ends the dead client's session within moments
        with app.app_context():
            if queue.reap_stale():
                break
        time.sleep(0.1)
    job = _job(app, job_id)
    assert (job.state, job.message, job.error) == ("failed", queue.LOST, "worker lost")
    assert failures == [queue.LOST]
    assert _name(app) != "死前"


def test_running_a_job_another_worker_holds_waits_for_it_and_says_so(app, jobs, is_postgres):
    """What `portal import` would do had a worker taken its job: wait, then read the outcome."""
    started, release = threading.Event(), threading.Event()

    def slow(job, progress):
        rename(job, progress)
        started.set()
        assert release.wait(30)
        return "别人完成"

    jobs.kind("held", slow)
    job_id = jobs("held", {"name": "别人"})
    said, ran = [], []

    def other():
        with app.app_context():
            queue.run_one("other", job_id=job_id)
            db.session.remove()

    def command():
        assert started.wait(30)
        threading.Timer(0.7, release.set).start()
        with app.app_context():
            ran.append(queue.run_one("cli", job_id=job_id, say=said.append))
            db.session.remove()

    _threads(other, command)
    assert ran == [False]
    job = _job(app, job_id)
    assert (job.state, job.message) == ("succeeded", "别人完成")
    assert (job.worker, job.attempts) == ("other", 1)
    if is_postgres:  # SQLite: the command's first look waits for the other's write lock
        assert said == [f"任务 {job_id} 已由处理进程 other 接手，正在等待其完成……"]
