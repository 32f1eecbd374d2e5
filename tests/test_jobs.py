"""The job queue: a job's work commits whole or not at all; dead workers are noticed."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.accounts.models import User
from portal.extensions import db
from portal.jobs import queue
from portal.jobs.models import Job
from portal.timeutil import utcnow


@pytest.fixture
def kinds():
    """Register test job kinds for one test."""
    added = []

    def _add(name, run, on_failure=None):
        queue.job_kind(name, on_failure)(run)
        added.append(name)

    yield _add
    for name in added:
        queue.KINDS.pop(name, None)


def _rename(job, progress):
    user = db.session.scalar(select(User).where(User.username == job.payload["username"]))
    user.display_name = job.payload["name"]
    progress(1, 1, force=True)
    if job.payload.get("explode"):
        raise RuntimeError("disk full")
    if job.payload.get("refuse"):
        raise queue.JobError("文件格式不正确。")
    return "已改名"


def _enqueue(payload):
    job = queue.enqueue("rename", payload, region_code="320923001001")
    db.session.commit()
    return job.id


def test_a_job_runs_and_commits_its_work(ctx, kinds):
    kinds("rename", _rename)
    job_id = _enqueue({"username": "fc_grid1", "name": "改后"})
    assert queue.run_one("test") is True
    job = db.session.get(Job, job_id)
    assert (job.state, job.message, job.attempts) == ("succeeded", "已改名", 1)
    assert db.session.scalar(select(User.display_name).where(User.username == "fc_grid1")) == "改后"
    assert queue.run_one("test") is False


def test_a_failing_job_changes_nothing_and_says_why(ctx, kinds):
    failures = []
    kinds("rename", _rename, on_failure=lambda job, message: failures.append(message))
    crash = _enqueue({"username": "fc_grid1", "name": "半途", "explode": True})
    refused = _enqueue({"username": "fc_grid2", "name": "半途", "refuse": True})
    queue.run_one("test")
    queue.run_one("test")
    names = db.session.scalars(
        select(User.display_name).where(User.username.in_(["fc_grid1", "fc_grid2"]))
    )
    assert "半途" not in set(names)
    crashed, refusal = db.session.get(Job, crash), db.session.get(Job, refused)
    assert crashed.state == "failed" and "数据未作任何修改" in crashed.message
    assert "disk full" in crashed.error
    assert refusal.state == "failed" and refusal.message == "文件格式不正确。"
    assert len(failures) == 2


def test_a_job_whose_worker_died_is_failed_and_can_be_retried(ctx, kinds):
    kinds("rename", _rename)
    job_id = _enqueue({"username": "fc_grid1", "name": "重试后"})
    job = queue.claim("dead-worker")
    job.heartbeat_at = utcnow() - timedelta(minutes=10)
    db.session.commit()
    assert queue.reap_stale() == 1
    job = db.session.get(Job, job_id)
    assert job.state == "failed" and "意外中断" in job.message
    queue.retry(job)
    db.session.commit()
    assert queue.run_one("test")
    assert db.session.get(Job, job_id).state == "succeeded"
    assert db.session.get(Job, job_id).attempts == 2


def test_only_failed_jobs_are_retried(ctx, kinds):
    kinds("rename", _rename)
    job = db.session.get(Job, _enqueue({"username": "fc_grid1", "name": "x"}))
    with pytest.raises(queue.JobError):
        queue.retry(job)


def test_unknown_kind_fails_cleanly(ctx):
    job = queue.enqueue("no-such-kind", {}, region_code="320923001001")
    db.session.commit()
    queue.run_one("test")
    assert db.session.get(Job, job.id).state == "failed"


def test_a_job_is_claimed_once(ctx, kinds):
    kinds("rename", _rename)
    job_id = _enqueue({"username": "fc_grid1", "name": "x"})
    assert queue.claim("first", job_id) is not None
    assert queue.claim("second", job_id) is None
    assert queue.claim("second") is None
    with pytest.raises(queue.JobError, match="已由其他处理进程接手"):
        queue.claim_here(job_id, "third")
    job = db.session.get(Job, job_id)
    assert (job.state, job.worker, job.attempts) == ("running", "first", 1)


def test_a_command_claims_its_job_with_the_transaction_that_queues_it(ctx, kinds):
    kinds("rename", _rename)
    job = queue.enqueue("rename", {"username": "fc_grid1", "name": "命令行"}, region_code="320923")
    claim = queue.claim_here(job.id, "cli")
    db.session.commit()
    assert queue.run_one("a-worker") is False  # never seen queued
    done = queue.run_claimed(claim)
    assert (done.state, done.message) == ("succeeded", "已改名")
    assert (done.attempts, done.worker) == (1, "cli")


def _stale(job_id):
    db.session.execute(
        update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(minutes=10))
    )
    db.session.commit()


def test_the_reaper_never_fails_a_job_that_finished(ctx, kinds):
    failures = []
    kinds("rename", _rename, on_failure=lambda job, message: failures.append(message))
    job_id = _enqueue({"username": "fc_grid1", "name": "已完成"})
    assert queue.run_one("test")
    _stale(job_id)
    assert queue.reap_stale() == 0
    job = db.session.get(Job, job_id)
    assert (job.state, job.message, failures) == ("succeeded", "已改名", [])


def test_a_job_taken_from_its_worker_applies_nothing(ctx, kinds):
    """The reaper came first (the worker had stopped answering): its work, if it ever runs,
    is not applied, so the reaper's message stays true."""
    failures = []
    kinds("rename", _rename, on_failure=lambda job, message: failures.append(message))
    job = queue.enqueue("rename", {"username": "fc_grid1", "name": "迟到"}, region_code="320923")
    claim = queue.claim_here(job.id, "slow-worker")
    db.session.commit()
    _stale(job.id)
    assert queue.reap_stale() == 1
    done = queue.run_claimed(claim)
    assert (done.state, done.message, done.error) == ("failed", queue.LOST, "worker lost")
    assert failures == [queue.LOST]
    assert db.session.scalar(select(User.display_name).where(User.username == "fc_grid1")) != "迟到"


class _Killed(BaseException):
    """Stands for the process dying in the middle of a job (nothing catches it)."""


def test_a_job_that_died_is_failed_with_the_true_message(ctx, kinds):
    failures = []

    def die(job, progress):
        _rename(job, progress)
        db.session.flush()
        raise _Killed

    kinds("die", die, on_failure=lambda job, message: failures.append(message))
    job_id = queue.enqueue("die", {"username": "fc_grid1", "name": "死前"}, region_code="320923").id
    db.session.commit()
    with pytest.raises(_Killed):
        queue.run_one("doomed")
    db.session.rollback()  # what the dead process's connection did
    assert db.session.get(Job, job_id).state == "running"
    assert queue.reap_stale() == 0  # its heartbeat is recent: it may be alive
    _stale(job_id)
    assert queue.reap_stale() == 1
    job = db.session.get(Job, job_id)
    assert (job.state, job.message, failures) == ("failed", queue.LOST, [queue.LOST])
    assert db.session.scalar(select(User.display_name).where(User.username == "fc_grid1")) != "死前"


def test_a_failure_is_recorded_with_the_work_rolled_back_in_one_transaction(ctx, kinds):
    """on_failure's changes and the job's failed state commit together; the work's do not."""

    def mark(job, message):
        user = db.session.scalar(select(User).where(User.username == "fc_grid2"))
        user.display_name = "记录失败"

    kinds("rename", _rename, on_failure=mark)
    job_id = _enqueue({"username": "fc_grid1", "name": "半途", "explode": True})
    queue.run_one("test")
    names = dict(db.session.execute(select(User.username, User.display_name)).all())
    assert names["fc_grid2"] == "记录失败" and names["fc_grid1"] != "半途"
    assert db.session.get(Job, job_id).state == "failed"


def test_commands_do_not_start_the_job_thread(app, tmp_path, monkeypatch):
    """`portal import` and `portal compare` in a process with the in-process runner installed
    (the SQLite demo's configuration) run their job themselves: the runner is never woken."""
    from portal.comparisons.models import ComparisonRun
    from portal.demo_samples import write_samples
    from portal.imports.models import ImportBatch
    from tests.helpers import fetch

    runner = queue.InProcessRunner(app)
    woken = []
    monkeypatch.setattr(runner, "wake", lambda: woken.append(True))
    monkeypatch.setitem(app.extensions, "job_runner", runner)
    household, insured, *_lists = write_samples(tmp_path, people=20)
    cli, where = app.test_cli_runner(), ["--region", "320923000000", "--as", "fn_staff"]
    for path, kind in ((household, "household"), (insured, "insured")):
        result = cli.invoke(args=["import", str(path), "--kind", kind, *where])
        assert result.exit_code == 0, result.output
    result = cli.invoke(args=["compare", *where])
    assert result.exit_code == 0, result.output
    assert woken == [] and not runner.serving and runner._thread is None
    assert not [t for t in threading.enumerate() if t.name == "jobs"]
    batches = fetch(app, select(ImportBatch).order_by(ImportBatch.id))
    (run,) = fetch(app, select(ComparisonRun))
    assert [b.state for b in batches] + [run.state] == ["succeeded"] * 3
    jobs = fetch(app, select(Job).order_by(Job.id))
    assert [(j.state, j.attempts, j.worker) for j in jobs] == [
        ("succeeded", 1, queue.worker_name())
    ] * 3
    assert [j.message for j in jobs] == [b.message for b in batches] + [run.message]
