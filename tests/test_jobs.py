"""The job queue: a job's work commits whole or not at all; dead workers are noticed."""

from datetime import timedelta

import pytest
from sqlalchemy import select

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
