"""Scheduled jobs: work that runs once per period (a China-time day or month), whoever runs it.

A job is registered with `@scheduled(name, period)` ('daily' or 'monthly'); its function takes
the first day of the period it runs in (the day itself; the month's first day) and returns a
closing message. The modules holding jobs are listed in JOB_MODULES (imported before each pass).
`run_due()` runs every job whose current period has no successful run yet. It is called by
`portal worker`'s loop (at most once a minute), by the in-process job thread of the SQLite demo
(portal/jobs/queue.py: the demo snapshots without any set-up) and by `portal schedule run`.

Once per period, however many workers: a run is its row in `scheduled_run`, key (name, period).
A pass inserts the row (INSERT … ON CONFLICT DO NOTHING) and runs the job only if its insert
added it; the row, the job's work and the run's end (finished_at) are ONE transaction:
- a second worker's insert of the same key finds the committed row and skips; on PostgreSQL a
  pass first takes a transaction-scoped advisory lock on (name, period) without waiting
  (pg_try_advisory_xact_lock): a worker that cannot have it skips at once instead of waiting
  behind the running job's uncommitted row (SQLite has one writer at a time anyway);
- a worker that dies while running a job leaves nothing (its transaction rolls back, the row
  with it): the next pass of any worker runs the job again;
- a job that raises: its work is rolled back (it ran in a SAVEPOINT) and the row is kept with
  `error` and no finished_at. It is retried by the first pass at least RETRY_AFTER after that
  attempt started (a conditional UPDATE takes the row over: one taker), until it succeeds or its
  period ends. A daily job whose day passed does not retry it: the next day's run catches up
  (the snapshot fills every missed day).
"""

import importlib
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import DateTime, bindparam, func, select, text

from portal.extensions import db
from portal.jobs.models import ScheduledRun
from portal.timeutil import CHINA, utcnow

log = logging.getLogger(__name__)

PERIODS = ("daily", "monthly")
RETRY_AFTER = timedelta(minutes=10)
RUN_EVERY = 60.0  # seconds: how often a worker looks for due jobs
# First key of the PostgreSQL advisory locks of scheduled runs (the job queue uses "job").
LOCK_SPACE = 0x736368  # "sch"
# The modules whose @scheduled jobs exist: imported before a pass (each registers on import).
JOB_MODULES = ["portal.stats.snapshots", "portal.storage.purge", "portal.notices.jobs"]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    period: str  # 'daily' | 'monthly'
    run: Callable[[date], str | None]


JOBS: dict[str, ScheduledJob] = {}


def scheduled(name: str, period: str):
    """Register a function run once per `period` ('daily' | 'monthly', China time)."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")
    if len(name) > 32:
        raise ValueError(f"job name too long: {name!r}")

    def decorator(fn):
        JOBS[name] = ScheduledJob(name, period, fn)
        return fn

    return decorator


def load_jobs() -> dict[str, ScheduledJob]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return JOBS


def period_of(period: str, now: datetime | None = None) -> tuple[str, date]:
    """(period key, the period's first day) at `now` (naive UTC): '2026-12-02' for a day,
    '2026-12' for a month, in China time."""
    local = ((now or utcnow()) + CHINA).date()
    if period == "daily":
        return local.isoformat(), local
    if period == "monthly":
        first = local.replace(day=1)
        return first.strftime("%Y-%m"), first
    raise ValueError(f"unknown period {period!r}")


def _timed(sql: str):
    """A statement whose timestamp parameters are stored the way the ORM stores them."""
    names = [name for name in ("now", "retry_before", "finished") if f":{name}" in sql]
    return text(sql).bindparams(*(bindparam(name, type_=DateTime()) for name in names))


def _lock_key(name: str, key: str) -> int:
    value = zlib.crc32(f"{name}:{key}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value  # a signed int4


def _claim(job: ScheduledJob, key: str, worker: str, now: datetime) -> bool:
    """In a new transaction: make (job, period) this worker's run; False (rolled back) when it
    ran already, runs elsewhere, or failed less than RETRY_AFTER ago."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        locked = session.scalar(
            select(func.pg_try_advisory_xact_lock(LOCK_SPACE, _lock_key(job.name, key)))
        )
        if not locked:
            session.rollback()
            return False
    params = {"name": job.name, "period": key, "worker": worker, "now": now}
    inserted = session.execute(
        _timed(
            "INSERT INTO scheduled_run (name, period, worker, started_at) "
            "VALUES (:name, :period, :worker, :now) ON CONFLICT (name, period) DO NOTHING"
        ),
        params,
    ).rowcount
    if inserted == 1:
        return True
    retaken = session.execute(
        _timed(
            "UPDATE scheduled_run SET worker = :worker, started_at = :now, error = NULL "
            "WHERE name = :name AND period = :period AND finished_at IS NULL "
            "AND error IS NOT NULL AND started_at <= :retry_before"
        ),
        {**params, "retry_before": now - RETRY_AFTER},
    ).rowcount
    if retaken == 1:
        return True
    session.rollback()
    return False


def _finish(job: ScheduledJob, key: str, error: str | None) -> None:
    db.session.execute(
        _timed(
            "UPDATE scheduled_run SET finished_at = :finished, error = :error "
            "WHERE name = :name AND period = :period"
        ),
        {
            "name": job.name,
            "period": key,
            "finished": None if error else utcnow(),
            "error": error[:500] if error else None,
        },
    )


def run_job(job: ScheduledJob, key: str, day: date, worker: str, now: datetime) -> str | None:
    """Claim and run one job for one period; returns its outcome, or None when it did not run
    here. The claim, the work and the outcome commit together (module docstring)."""
    db.session.rollback()  # a transaction of our own
    if not _claim(job, key, worker, now):
        return None
    try:
        with db.session.begin_nested():
            message = job.run(day)
        _finish(job, key, None)
        outcome = message or "完成"
    except Exception as exc:  # recorded; retried after RETRY_AFTER
        log.exception("scheduled job %s (%s) failed", job.name, key)
        outcome = f"失败：{type(exc).__name__}: {exc}"
        _finish(job, key, f"{type(exc).__name__}: {exc}")
    try:
        db.session.commit()
    except Exception:  # nothing was applied, the row neither: the next pass runs it
        db.session.rollback()
        log.exception("scheduled job %s (%s): its transaction failed", job.name, key)
        return "失败：事务未能提交"
    return outcome


def run_due(now: datetime | None = None, *, worker: str | None = None) -> list[str]:
    """Run every scheduled job due at `now` (naive UTC) that no worker has run or is running;
    returns "name period: outcome" for each job run here."""
    from portal.jobs.queue import worker_name

    now = now or utcnow()
    worker = worker or worker_name()
    ran = []
    for job in sorted(load_jobs().values(), key=lambda j: j.name):
        key, day = period_of(job.period, now)
        outcome = run_job(job, key, day, worker, now)
        if outcome is not None:
            ran.append(f"{job.name} {key}: {outcome}")
    db.session.rollback()
    return ran


def last_runs(limit: int = 20) -> list[ScheduledRun]:
    """The latest runs, newest first."""
    return list(
        db.session.scalars(
            select(ScheduledRun).order_by(ScheduledRun.started_at.desc()).limit(limit)
        )
    )


class Ticker:
    """Calls run_due at most every RUN_EVERY seconds (a worker's loop; the demo's job thread);
    never raises."""

    def __init__(self, worker: str | None = None, every: float = RUN_EVERY):
        self.worker = worker
        self.every = every
        self._next = 0.0

    def tick(self, clock: float) -> list[str]:
        if clock < self._next:
            return []
        self._next = clock + self.every
        try:
            return run_due(worker=self.worker)
        except Exception:  # a broken pass must not stop the worker; the next one retries
            db.session.rollback()
            log.exception("scheduled jobs")
            return []


__all__ = [
    "JOBS",
    "JOB_MODULES",
    "RETRY_AFTER",
    "ScheduledJob",
    "Ticker",
    "last_runs",
    "period_of",
    "run_due",
    "scheduled",
]
