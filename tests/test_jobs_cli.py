"""Commands and the in-process job thread, in the configuration that showed the race: a SQLite
database of its own with JOBS_IN_PROCESS on, as `portal demo` runs.

`portal import` / `portal compare` used to start the job thread on their commit, and about one
run in thirty the thread took the job: the command failed with an empty message, the batch stayed
queued and, once, a batch that had been applied was later marked "数据未作任何修改". Commands now
claim their job with the transaction that queues it and never start the thread; the web process
still runs uploads on it.
"""

import threading
import time

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from portal import create_app
from portal.comparisons.models import ComparisonRun
from portal.demo import DEMO_PASSWORD, seed_accounts
from portal.demo_samples import write_samples
from portal.extensions import db
from portal.imports.models import ImportBatch
from portal.jobs import queue
from portal.jobs.models import Job
from portal.regions.cli import load_shipped_demo_regions
from tests.jobs_helpers import household_workbook

pytestmark = pytest.mark.no_db

ROUNDS = 20


@pytest.fixture
def demo_app(tmp_path):
    """An application over a SQLite file of its own, prepared as `portal demo --no-serve` does."""
    app = create_app(
        {
            "TESTING": True,
            "JOBS_IN_PROCESS": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.db'}",
            "INSTANCE_DIR": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_COST": 64,
        }
    )
    with app.app_context():
        upgrade()
        load_shipped_demo_regions()
        seed_accounts()
        db.session.commit()
        db.session.remove()
    yield app
    app.extensions["job_runner"].stop(timeout=30)
    with app.app_context():
        db.engine.dispose()


def _no_job_thread(app) -> None:
    runner = app.extensions["job_runner"]
    assert not runner.serving and runner._thread is None
    assert not [t for t in threading.enumerate() if t.name == "jobs" and t.is_alive()]


def _latest(app, model):
    with app.app_context():
        row = db.session.scalar(select(model).order_by(model.id.desc()).limit(1))
        job = db.session.get(Job, row.job_id)
        db.session.expunge_all()
        return row, job


def _import(app, path, kind):
    result = app.test_cli_runner().invoke(
        args=["import", str(path), "--kind", kind, "--region", "320923000000", "--as", "fn_staff"]
    )
    batch, job = _latest(app, ImportBatch)
    assert result.exit_code == 0, result.output
    assert (batch.state, job.state, job.attempts) == ("succeeded", "succeeded", 1), batch.message
    assert batch.message and batch.message.startswith("读取"), batch.message
    assert batch.message in result.output
    assert job.message == batch.message and job.worker == queue.worker_name()
    _no_job_thread(app)


def _compare(app):
    result = app.test_cli_runner().invoke(
        args=["compare", "--region", "320923000000", "--as", "fn_staff"]
    )
    run, job = _latest(app, ComparisonRun)
    assert result.exit_code == 0, result.output
    assert (run.state, job.state, job.attempts) == ("succeeded", "succeeded", 1), run.message
    assert run.message and run.message.startswith("比对"), run.message
    assert run.message in result.output
    assert job.message == run.message and job.worker == queue.worker_name()
    _no_job_thread(app)


def test_twenty_command_imports_and_comparisons_in_a_row_each_end_right(demo_app, tmp_path):
    household, insured, *_lists = write_samples(tmp_path / "samples", people=60)
    _import(demo_app, household, "household")
    _import(demo_app, insured, "insured")
    for n in range(ROUNDS):
        if n % 2:
            _import(demo_app, household, "household")
        else:
            _import(demo_app, insured, "insured")
        _compare(demo_app)
    with demo_app.app_context():
        states = dict(db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        assert states == {"succeeded": 2 * ROUNDS + 2}
        batches = db.session.scalars(select(ImportBatch.state)).all()
        runs = db.session.scalars(select(ComparisonRun.state)).all()
        assert (len(batches), set(batches)) == (ROUNDS + 2, {"succeeded"})
        assert (len(runs), set(runs)) == (ROUNDS, {"succeeded"})


def test_the_web_process_still_runs_uploads_on_its_job_thread(demo_app, tmp_path):
    import io

    path = tmp_path / "命令行.xlsx"
    path.write_bytes(household_workbook(3))
    _import(demo_app, path, "household")  # a command first: it arms nothing
    client = demo_app.test_client()
    response = client.post("/login", data={"username": "fn_staff", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    runner = demo_app.extensions["job_runner"]
    assert runner.serving  # the application served a request: this is a web process
    response = client.post(
        "/imports/",
        data={
            "kind": "household",
            "region": "320923000000",
            "file": (io.BytesIO(household_workbook(4, start=10)), "网页.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    deadline = time.monotonic() + 30
    while True:
        batch, job = _latest(demo_app, ImportBatch)
        if batch.state not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (batch.state, batch.filename, batch.created) == ("succeeded", "网页.xlsx", 4)
    assert job.worker.endswith(":thread") and job.attempts == 1
    assert runner._thread is not None and runner._thread.name == "jobs"
