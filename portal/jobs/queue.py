"""A small job queue in the database.

Why our own table rather than RQ, Huey or Celery: the job's state and progress are shown to users
and must survive restarts (DHIS2 kept theirs in memory and lost them), any web process may enqueue
and any worker may run, and the demo must run with no broker. RQ and Huey need Redis for several
processes; procrastinate is PostgreSQL-only. A table claimed with `FOR UPDATE SKIP LOCKED` on
PostgreSQL (and the single-writer lock on SQLite) is all that is needed.

A job's work runs in one transaction: it commits whole or not at all. Progress and heartbeat are
written on a separate connection so that the page polling them sees them while the job runs. A job
whose worker died (no heartbeat for STALE_AFTER) is marked failed and can be retried.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import event, select, update

from portal.extensions import db
from portal.jobs.models import Job
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)
PROGRESS_EVERY = 0.5  # seconds between progress writes


class JobError(Exception):
    """A failure to show the user as it is (a Chinese message, no traceback)."""


@dataclass(frozen=True)
class JobKind:
    run: Callable  # run(job, progress) -> str | None (a closing message)
    on_failure: Callable | None = None  # on_failure(job, message): in the failing transaction


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, on_failure: Callable | None = None):
    """Register the function that runs jobs of this kind."""

    def decorator(fn):
        KINDS[name] = JobKind(fn, on_failure)
        return fn

    return decorator


def enqueue(kind: str, payload: dict, *, region_code: str, user=None) -> Job:
    """Add a job to the current transaction; it runs once the transaction commits."""
    job = Job(
        kind=kind,
        payload=payload,
        region_code=region_code,
        created_by_id=getattr(user, "id", None),
        state="queued",
    )
    db.session.add(job)
    db.session.flush()
    runner = current_app.extensions.get("job_runner")
    if runner is not None:
        runner.wake_after_commit()
    return job


# In-process progress for jobs run by a thread of the web process (the SQLite demo), where a
# second writer would have to wait for the job's transaction.
_memory_progress: dict[int, tuple[int, int | None, str | None]] = {}


def progress_of(job: Job) -> tuple[int, int | None, str | None]:
    """(done, total, message) as recent as the runner knows it."""
    return _memory_progress.get(job.id, (job.progress_done, job.progress_total, job.message))


class Progress:
    """Callable handed to a job: progress(done, total=None, message=None)."""

    def __init__(self, job_id: int, in_memory: bool, echo: Callable | None = None):
        self.job_id = job_id
        self.in_memory = in_memory
        self.echo = echo  # e.g. the CLI's progress bar
        self._last = 0.0

    def __call__(
        self, done: int, total: int | None = None, message: str | None = None, force: bool = False
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        if self.echo is not None:
            self.echo(done, total, message)
        if self.in_memory:
            _memory_progress[self.job_id] = (done, total, message)
            return
        values = {"progress_done": done, "heartbeat_at": utcnow()}
        if total is not None:
            values["progress_total"] = total
        if message is not None:
            values["message"] = message
        with db.engine.connect() as connection:
            connection.execute(update(Job).where(Job.id == self.job_id).values(**values))
            connection.commit()


def claim(worker: str, job_id: int | None = None) -> Job | None:
    """Take the oldest queued job (skipping ones another worker holds) and mark it running."""
    query = select(Job).where(Job.state == "queued").order_by(Job.id).limit(1)
    if job_id is not None:
        query = query.where(Job.id == job_id)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job = db.session.scalar(query)
    if job is None:
        db.session.rollback()
        return None
    now = utcnow()
    job.state, job.worker, job.started_at, job.heartbeat_at = "running", worker, now, now
    job.attempts += 1
    job.error = None
    db.session.commit()
    return job


def _finish(job_id: int, state: str, message: str | None, error: str | None = None) -> None:
    job = db.session.get(Job, job_id)
    job.state, job.finished_at = state, utcnow()
    if message is not None:
        job.message = message
    job.error = error
    if state == "failed":
        kind = KINDS.get(job.kind)
        if kind and kind.on_failure:
            kind.on_failure(job, message)
    db.session.commit()
    _memory_progress.pop(job_id, None)


def run_one(
    worker: str,
    in_memory_progress: bool = False,
    *,
    job_id: int | None = None,
    echo: Callable | None = None,
) -> bool:
    """Claim and run one job (the oldest, or `job_id`) in the current application context.

    False if none waited."""
    reap_stale()
    job = claim(worker, job_id)
    if job is None:
        return False
    job_id = job.id
    kind = KINDS.get(job.kind)
    try:
        if kind is None:
            raise JobError(f"未知的任务类型：{job.kind}")
        # SQLite has one writer: progress written beside the job's transaction would wait for it.
        in_memory = in_memory_progress or db.engine.dialect.name == "sqlite"
        message = kind.run(job, Progress(job_id, in_memory, echo))
        db.session.commit()
    except JobError as exc:
        db.session.rollback()
        _finish(job_id, "failed", str(exc), str(exc))
    except Exception as exc:  # the job failed; the worker goes on with the next one
        db.session.rollback()
        log.exception("job %s (%s) failed", job_id, getattr(job, "kind", "?"))
        _finish(
            job_id,
            "failed",
            "处理时发生系统错误，数据未作任何修改。可稍后重试。",
            f"{type(exc).__name__}: {exc}",
        )
    else:
        _finish(job_id, "succeeded", message)
    return True


def reap_stale() -> int:
    """Mark running jobs whose worker stopped sending heartbeats as failed."""
    limit = utcnow() - STALE_AFTER
    stale = db.session.scalars(
        select(Job).where(Job.state == "running", Job.heartbeat_at < limit)
    ).all()
    ids = [job.id for job in stale]
    db.session.rollback()
    for job_id in ids:
        _finish(job_id, "failed", "处理进程意外中断，数据未作任何修改。可重试。", "worker lost")
    return len(ids)


def retry(job: Job) -> None:
    """Queue a failed job again (its earlier attempt changed nothing)."""
    if job.state != "failed":
        raise JobError("只有失败的任务可以重试。")
    job.state, job.error, job.finished_at = "queued", None, None
    job.progress_done, job.progress_total = 0, None
    runner = current_app.extensions.get("job_runner")
    if runner is not None:
        runner.wake_after_commit()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class InProcessRunner:
    """Runs jobs on a thread of the web process: the zero-setup default for the demo."""

    def __init__(self, app: Flask):
        self.app = app
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake_after_commit(self) -> None:
        event.listen(db.session(), "after_commit", lambda _session: self.wake(), once=True)

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
                self._thread.start()
        self._event.set()

    def _loop(self) -> None:
        name = f"{worker_name()}:thread"
        while True:
            self._event.wait(timeout=5)
            self._event.clear()
            with self.app.app_context():
                try:
                    while run_one(name, in_memory_progress=True):
                        pass
                except Exception:  # keep the thread alive; the next wake retries
                    log.exception("in-process job runner")
                finally:
                    db.session.remove()


def install(app: Flask) -> None:
    """Run jobs in-process unless a separate worker is configured (production)."""
    if app.config.get("JOBS_IN_PROCESS"):
        app.extensions["job_runner"] = InProcessRunner(app)
