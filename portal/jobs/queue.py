"""A small job queue in the database.

Why our own table rather than RQ, Huey or Celery: the job's state and progress are shown to users
and must survive restarts (DHIS2 kept theirs in memory and lost them), any web process may enqueue
and any worker may run, and the demo must run with no broker. RQ and Huey need Redis for several
processes; procrastinate is PostgreSQL-only. A table claimed with `FOR UPDATE SKIP LOCKED` on
PostgreSQL (and the single-writer lock on SQLite) is all that is needed.

Who runs a job
- `portal worker` processes claim queued jobs (the production set-up on PostgreSQL).
- With JOBS_IN_PROCESS (the SQLite demo), a thread of the *web* process runs them. The runner is
  armed by the first request the application serves (gunicorn, `portal demo`, `flask run`) and
  its thread is started by the commit of a request that enqueued or retried a job. A command
  (`portal import`, `portal compare`, any CLI run) serves no request, so it never starts the
  thread: it used to, and the thread then raced the command for the job the command was about
  to run itself.
- Scheduled jobs (portal/jobs/schedule.py: the daily snapshot…) run from the same loops: a
  worker's, and the in-process thread's, which therefore starts with the first request served
  and wakes every few seconds (a pass at most once a minute).
- `portal import` / `portal compare` run their own job: they claim it in the transaction that
  enqueues it (`claim_here`), so no worker or thread ever sees it queued, then run it
  (`run_claimed`).

Claimed exactly once
A claim is a conditional update, `SET state = 'running' … WHERE id = ? AND state = 'queued'`,
that counts only when it changed the row (on PostgreSQL the candidate is picked with
`FOR UPDATE SKIP LOCKED`; SQLite's transactions begin IMMEDIATE, one writer at a time). The claim
is (job id, worker, attempt): `attempts` grows with every claim, so a retried job's new claim is
never mistaken for the old one. `run_one(job_id=…)` that finds the job held by another worker
waits for it and says so.

Nothing reported that did not happen
A job's work, its final state (`succeeded`, or `failed` with on_failure's changes to the batch
or run) are one transaction. The work runs in a SAVEPOINT of it: a failing job's work is rolled
back and its failure recorded in the same transaction. The job's transaction first checks that
the claim is still its own, and its final update is conditional on the claim; had the job been
taken from it, the work is rolled back.

A job is alive while its transaction is open. On PostgreSQL that transaction holds an advisory
lock on the job's id (`pg_advisory_xact_lock`; a row lock on the job would block the heartbeats,
written on a connection of their own); on SQLite it holds the database's write lock from its
first statement (it begins by writing the job's heartbeat). The reaper (`reap_stale`) looks at
running jobs whose heartbeat is older than STALE_AFTER and marks one failed ("处理进程意外中断，数据
未作任何修改", true: its transaction never committed) only if it holds that lock too — on SQLite
the reaper's own transaction holds the write lock, so no job transaction is open — and only by a
conditional update on the same claim, with on_failure in the same transaction. A job that
committed is no longer running, so the reaper cannot touch it; a job whose worker is alive holds
its lock, whatever its heartbeat says.

Heartbeats and progress: on PostgreSQL they are written on a separate connection (with a short
lock_timeout, and never the job row's lock in the job's transaction before its last statement) so
that the pages polling them see them. On SQLite a second connection could not write while the
job's transaction holds the write lock: progress stays in memory (`progress_of`, for the web
process's thread) and the write lock stands in for the heartbeat.

A job kind must not commit or roll back the session itself.
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
from sqlalchemy import and_, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError

from portal.extensions import db
from portal.jobs.models import Job
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)
PROGRESS_EVERY = 0.5  # seconds between progress writes
WAIT_EVERY = 0.5  # seconds between looks at a job another worker runs
# First key of the PostgreSQL advisory locks that a job's transaction holds (the second: its id).
LOCK_SPACE = 0x6A6F62  # "job"

LOST = "处理进程意外中断，数据未作任何修改。可重试。"
SYSTEM_ERROR = "处理时发生系统错误，数据未作任何修改。可稍后重试。"


class JobError(Exception):
    """A failure to show the user as it is (a Chinese message, no traceback)."""


class _ClaimLost(Exception):
    """The job was taken from this worker (reaped) before its work committed."""


@dataclass(frozen=True)
class JobKind:
    run: Callable  # run(job, progress) -> str | None (a closing message)
    on_failure: Callable | None = None  # on_failure(job, message): in the failing transaction


@dataclass(frozen=True)
class Claim:
    """One worker's hold on one job: the job's state may change only while it still matches."""

    job_id: int
    worker: str
    attempt: int

    def held(self):
        return and_(
            Job.id == self.job_id,
            Job.state == "running",
            Job.worker == self.worker,
            Job.attempts == self.attempt,
        )


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
    _wake_runner()
    return job


def _wake_runner() -> None:
    runner = current_app.extensions.get("job_runner")
    if runner is not None:
        runner.wake_after_commit()


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


# In-process progress for jobs run by a thread of the web process (the SQLite demo), where a
# second writer would have to wait for the job's transaction.
_memory_progress: dict[int, tuple[int, int | None, str | None]] = {}


def progress_of(job: Job) -> tuple[int, int | None, str | None]:
    """(done, total, message) as recent as the runner knows it."""
    return _memory_progress.get(job.id, (job.progress_done, job.progress_total, job.message))


class Progress:
    """Callable handed to a job: progress(done, total=None, message=None); also the heartbeat."""

    def __init__(self, claim: Claim, in_memory: bool, echo: Callable | None = None):
        self.claim = claim
        self.job_id = claim.job_id
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
        try:
            with db.engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    # Never wait long on the job's row: a missed heartbeat costs nothing (the
                    # job's advisory lock, not its heartbeat, says it is alive).
                    connection.execute(text("SET LOCAL lock_timeout = '2s'"))
                connection.execute(update(Job).where(self.claim.held()).values(**values))
                connection.commit()
        except DBAPIError:
            log.warning("job %s: progress not written", self.job_id, exc_info=True)


def _take(job_id: int, worker: str) -> Claim | None:
    """Claim a queued job in the current transaction: None if it was not queued any more."""
    now = utcnow()
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(
            state="running",
            worker=worker,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            attempts=Job.attempts + 1,
            error=None,
        )
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        return None
    attempt = db.session.scalar(select(Job.attempts).where(Job.id == job_id))
    return Claim(job_id, worker, attempt)


def _claim(worker: str, job_id: int | None = None) -> Claim | None:
    """Take the oldest queued job (or `job_id`) and commit the claim; None if none is queued."""
    while True:
        query = select(Job.id).where(Job.state == "queued").order_by(Job.id).limit(1)
        if job_id is not None:
            query = query.where(Job.id == job_id)
        if _postgres():
            # A given job is waited for if another worker is claiming it right now.
            query = query.with_for_update(skip_locked=job_id is None)
        found = db.session.scalar(query)
        if found is None:
            db.session.rollback()
            return None
        claim = _take(found, worker)
        db.session.commit()
        if claim is not None:
            return claim
        # Another worker took it between our look and our update: look again.


def claim(worker: str, job_id: int | None = None) -> Job | None:
    """Take the oldest queued job (skipping ones another worker holds) and mark it running."""
    taken = _claim(worker, job_id)
    return None if taken is None else db.session.get(Job, taken.job_id)


def claim_here(job_id: int, worker: str | None = None) -> Claim:
    """Claim a job enqueued in the current transaction for this process, before that transaction
    commits: no worker or job thread ever sees it queued. For commands that run their own job."""
    taken = _take(job_id, worker or worker_name())
    if taken is None:
        raise JobError("该任务已由其他处理进程接手。")
    return taken


def _open_work(claim: Claim) -> Job | None:
    """Begin the job's transaction, holding the job's liveness lock; None if the claim was lost."""
    if _postgres():
        db.session.execute(select(func.pg_advisory_xact_lock(LOCK_SPACE, claim.job_id)))
    else:
        # The write makes this transaction SQLite's one writer, whatever its BEGIN said.
        db.session.execute(
            update(Job)
            .where(claim.held())
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    job = db.session.get(Job, claim.job_id, populate_existing=True)
    if job is None or (job.state, job.worker, job.attempts) != (
        "running",
        claim.worker,
        claim.attempt,
    ):
        return None
    return job


def _settle(
    claim: Claim, state: str, message: str | None, error: str | None = None, *extra
) -> bool:
    """Set the job's final state if the claim still holds (in the current transaction)."""
    values = {"state": state, "finished_at": utcnow(), "error": error}
    if message is not None:
        values["message"] = message[:500]
    result = db.session.execute(
        update(Job)
        .where(claim.held(), *extra)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _record_failure(claim: Claim, message: str, error: str, *extra) -> bool:
    """Mark the job failed and let its kind mark its batch or run, if the claim still holds."""
    if not _settle(claim, "failed", message, error, *extra):
        return False
    job = db.session.get(Job, claim.job_id, populate_existing=True)
    kind = KINDS.get(job.kind)
    if kind and kind.on_failure:
        kind.on_failure(job, message)
    db.session.flush()
    return True


def _run(claim: Claim, in_memory_progress: bool, echo: Callable | None) -> None:
    """Run a claimed job: its work and its final state in one transaction."""
    job_id = claim.job_id
    try:
        job = _open_work(claim)
        if job is None:
            raise _ClaimLost
        kind_name = job.kind
        kind = KINDS.get(kind_name)
        # SQLite has one writer: progress written beside the job's transaction would wait for it.
        in_memory = in_memory_progress or not _postgres()
        failure = None
        try:
            with db.session.begin_nested():
                if kind is None:
                    raise JobError(f"未知的任务类型：{kind_name}")
                message = kind.run(job, Progress(claim, in_memory, echo))
        except JobError as exc:
            failure = (str(exc), str(exc))
        except Exception as exc:  # the job failed; the worker goes on with the next one
            log.exception("job %s (%s) failed", job_id, kind_name)
            failure = (SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")
        if failure is None:
            if not _settle(claim, "succeeded", message):
                raise _ClaimLost
        elif not _record_failure(claim, *failure):
            raise _ClaimLost
        db.session.commit()
    except _ClaimLost:
        db.session.rollback()
        log.warning("job %s was taken from %s before it finished; nothing applied", job_id, claim)
    except Exception as exc:  # the job's transaction could not commit: nothing was applied
        db.session.rollback()
        log.exception("job %s: its transaction failed", job_id)
        _record_failure(claim, SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")
        db.session.commit()
    finally:
        _memory_progress.pop(job_id, None)


def run_claimed(claim: Claim, *, echo: Callable | None = None) -> Job | None:
    """Run a job this process claimed (`claim_here`, committed); returns the job as it ended."""
    _run(claim, False, echo)
    return db.session.get(Job, claim.job_id, populate_existing=True)


def run_one(
    worker: str,
    in_memory_progress: bool = False,
    *,
    job_id: int | None = None,
    echo: Callable | None = None,
    say: Callable[[str], None] | None = None,
) -> bool:
    """Claim and run one job (the oldest, or `job_id`) in the current application context.

    False if none waited. A `job_id` that another worker is running is waited for (`say` is told
    so, once); then False: it did not run here."""
    told = False
    while True:
        reap_stale()
        taken = _claim(worker, job_id)
        if taken is not None:
            _run(taken, in_memory_progress, echo)
            return True
        if job_id is None:
            return False
        holder = _running_holder(job_id)
        if holder is None:
            return False
        if not told:
            (say or log.info)(f"任务 {job_id} 已由处理进程 {holder} 接手，正在等待其完成……")
            told = True
        time.sleep(WAIT_EVERY)


def _running_holder(job_id: int) -> str | None:
    """The worker running this job, or None when it is not running."""
    while True:
        try:
            row = db.session.execute(select(Job.state, Job.worker).where(Job.id == job_id)).first()
            db.session.rollback()
        except OperationalError as exc:
            # SQLite: the job's transaction holds the write lock longer than busy_timeout.
            db.session.rollback()
            if "locked" not in str(exc):
                raise
            continue
        if row is None or row.state != "running":
            return None
        return row.worker or "?"


def reap_stale() -> int:
    """Mark running jobs whose worker died as failed (see the module's docstring)."""
    limit = utcnow() - STALE_AFTER
    try:
        candidates = db.session.execute(
            select(Job.id, Job.worker, Job.attempts)
            .where(Job.state == "running", Job.heartbeat_at < limit)
            .order_by(Job.id)
        ).all()
        postgres = _postgres()
        reaped = 0
        for job_id, worker, attempt in candidates:
            if postgres and not db.session.scalar(
                select(func.pg_try_advisory_xact_lock(LOCK_SPACE, job_id))
            ):
                continue  # its transaction is open: its worker is alive
            claim = Claim(job_id, worker, attempt)
            if _record_failure(claim, LOST, "worker lost", Job.heartbeat_at < limit):
                log.warning("job %s: worker %s lost, marked failed", job_id, worker)
                reaped += 1
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return reaped


def retry(job: Job) -> None:
    """Queue a failed job again (its earlier attempt changed nothing)."""
    if job.state != "failed":
        raise JobError("只有失败的任务可以重试。")
    job.state, job.error, job.finished_at = "queued", None, None
    job.progress_done, job.progress_total = 0, None
    _wake_runner()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class InProcessRunner:
    """Runs jobs on a thread of the web process: the zero-setup default for the demo.

    Armed by the first request the application serves; never by a command (module docstring)."""

    def __init__(self, app: Flask):
        self.app = app
        self.serving = False
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False

    def serve(self) -> None:
        """This process serves requests: from now on, committed jobs wake the thread. The thread
        starts now: it also runs the scheduled jobs (portal/jobs/schedule.py) once a minute."""
        self.serving = True
        self.wake()

    def wake_after_commit(self) -> None:
        if self.serving:
            event.listen(db.session(), "after_commit", lambda _session: self.wake(), once=True)

    def wake(self) -> None:
        if not self.serving:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
                self._thread.start()
        self._event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Let the thread finish its job and end (tests; a server's shutdown)."""
        self._stopping = True
        self._event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        from portal.jobs.schedule import Ticker

        name = f"{worker_name()}:thread"
        ticker = Ticker(name)
        while not self._stopping:
            self._event.wait(timeout=5)
            self._event.clear()
            with self.app.app_context():
                try:
                    if self.app.config.get("SCHEDULE_IN_PROCESS", True):
                        ticker.tick(time.monotonic())
                    while not self._stopping and run_one(name, in_memory_progress=True):
                        pass
                except Exception:  # keep the thread alive; the next wake retries
                    log.exception("in-process job runner")
                finally:
                    db.session.remove()


def install(app: Flask) -> None:
    """Run jobs in-process unless a separate worker is configured (production): in the process
    that serves requests only."""
    if not app.config.get("JOBS_IN_PROCESS"):
        return
    runner = InProcessRunner(app)
    app.extensions["job_runner"] = runner

    @app.before_request
    def _serving_requests() -> None:
        if not runner.serving:
            runner.serve()
