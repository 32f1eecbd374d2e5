"""Scheduled jobs (portal/jobs/schedule.py): once per period however many workers run, a failed
run retried after RETRY_AFTER, the period keys in China time, the daily snapshot registered and
run by the demo's in-process job thread without any set-up."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, select, text

from portal import create_app
from portal.demo import seed_accounts
from portal.extensions import db
from portal.jobs import schedule
from portal.jobs.models import ScheduledRun
from portal.regions.cli import load_shipped_demo_regions
from portal.stats import snapshots  # noqa: F401  (registers the daily snapshot)

# 2026-12-01 17:30 UTC is 2026-12-02 01:30 in China: the day's period has begun.
NOW = datetime(2026, 12, 1, 17, 30)


@pytest.fixture
def jobs(monkeypatch):
    """Only the jobs a test registers (the real ones are not run)."""
    registry: dict[str, schedule.ScheduledJob] = {}
    monkeypatch.setattr(schedule, "JOBS", registry)
    monkeypatch.setattr(schedule, "JOB_MODULES", [])

    def _register(name, period, run):
        schedule.scheduled(name, period)(run)
        return registry[name]

    return _register


def _runs(name: str) -> list[ScheduledRun]:
    return list(
        db.session.scalars(
            select(ScheduledRun).where(ScheduledRun.name == name).order_by(ScheduledRun.period)
        )
    )


def test_period_keys_are_china_time():
    assert schedule.period_of("daily", NOW) == ("2026-12-02", NOW.date() + timedelta(days=1))
    assert schedule.period_of("daily", datetime(2026, 12, 1, 15, 59)) == (
        "2026-12-01",
        datetime(2026, 12, 1).date(),
    )
    key, first = schedule.period_of("monthly", datetime(2026, 11, 30, 16, 0))
    assert (key, first.isoformat()) == ("2026-12", "2026-12-01")
    with pytest.raises(ValueError):
        schedule.scheduled("x", "hourly")


def test_a_daily_job_runs_once_a_day(ctx, jobs):
    calls = []
    jobs("t_daily", "daily", lambda day: calls.append(day) or "好")
    assert schedule.run_due(NOW, worker="w1") == ["t_daily 2026-12-02: 好"]
    assert schedule.run_due(NOW + timedelta(hours=3), worker="w2") == []
    assert schedule.run_due(NOW + timedelta(days=1), worker="w2") == ["t_daily 2026-12-03: 好"]
    assert [d.isoformat() for d in calls] == ["2026-12-02", "2026-12-03"]
    runs = _runs("t_daily")
    assert [(r.period, r.worker, r.error) for r in runs] == [
        ("2026-12-02", "w1", None),
        ("2026-12-03", "w2", None),
    ]
    assert all(r.finished_at is not None for r in runs)


def test_a_monthly_job_runs_once_a_month_on_the_months_first_day(ctx, jobs):
    calls = []
    jobs("t_monthly", "monthly", calls.append)
    for days in (0, 5, 29):
        schedule.run_due(NOW + timedelta(days=days))
    assert [d.isoformat() for d in calls] == ["2026-12-01"]
    schedule.run_due(NOW + timedelta(days=31))  # 2027-01-02 in China
    assert [d.isoformat() for d in calls] == ["2026-12-01", "2027-01-01"]
    assert [r.period for r in _runs("t_monthly")] == ["2026-12", "2027-01"]


def test_a_failed_run_leaves_nothing_and_is_retried_after_retry_after(ctx, jobs):
    attempts = []

    def flaky(day):
        attempts.append(day)
        db.session.execute(
            text(
                "INSERT INTO community_activity (day, region_code, visits, conversions) "
                "VALUES ('2026-12-01', '320923001001', 1, 0)"
            )
        )
        if len(attempts) < 3:
            raise RuntimeError("boom")
        return "终于成功"

    jobs("t_flaky", "daily", flaky)
    assert schedule.run_due(NOW, worker="w1") == ["t_flaky 2026-12-02: 失败：RuntimeError: boom"]
    (run,) = _runs("t_flaky")
    assert (run.finished_at, run.error) == (None, "RuntimeError: boom")
    # Its work was rolled back.
    assert db.session.execute(text("SELECT COUNT(*) FROM community_activity")).scalar() == 0
    # Not again before RETRY_AFTER, by anyone.
    assert schedule.run_due(NOW + timedelta(minutes=5), worker="w2") == []
    assert len(attempts) == 1
    later = NOW + schedule.RETRY_AFTER
    assert schedule.run_due(later, worker="w2") == ["t_flaky 2026-12-02: 失败：RuntimeError: boom"]
    assert schedule.run_due(later + schedule.RETRY_AFTER, worker="w3") == [
        "t_flaky 2026-12-02: 终于成功"
    ]
    assert schedule.run_due(later + 3 * schedule.RETRY_AFTER, worker="w1") == []
    (run,) = _runs("t_flaky")
    assert (run.worker, run.error) == ("w3", None) and run.finished_at is not None
    assert len(attempts) == 3
    assert db.session.execute(text("SELECT COUNT(*) FROM community_activity")).scalar() == 1


def test_the_daily_snapshot_is_registered(ctx):
    jobs = schedule.load_jobs()
    assert jobs["daily_snapshot"].period == "daily"
    assert jobs["files_purge"].period == "daily"  # portal/storage/purge.py


# --- under real concurrency: committed, one connection per worker ---------------------------


@pytest.mark.no_db
def test_two_workers_run_a_job_once_per_period(app, jobs):
    calls, lock = [], threading.Lock()

    def slow(day):
        with lock:
            calls.append(day)
        time.sleep(0.3)  # the other worker arrives while this one runs
        return "好"

    jobs("t_race", "daily", slow)
    ran: dict[str, list[str]] = {}

    def worker(name, now, start):
        def run():
            with app.app_context():
                start.wait()
                ran[name] = schedule.run_due(now, worker=name)
                db.session.remove()

        return run

    try:
        for day in range(4):
            now, start = NOW + timedelta(days=day), threading.Barrier(2)
            threads = [threading.Thread(target=worker(n, now, start)) for n in ("a", "b")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert sorted(len(lines) for lines in ran.values()) == [0, 1], ran
        assert len(calls) == 4
        with app.app_context():
            runs = _runs("t_race")
            assert len(runs) == 4 and all(r.finished_at and not r.error for r in runs)
    finally:
        with app.app_context():
            db.session.execute(delete(ScheduledRun).where(ScheduledRun.name == "t_race"))
            db.session.commit()


@pytest.mark.no_db
def test_two_workers_take_the_daily_snapshot_once(app):
    ran: dict[str, list[str]] = {}
    start = threading.Barrier(2)

    def worker(name):
        def run():
            with app.app_context():
                start.wait()
                ran[name] = schedule.run_due(NOW, worker=name)
                db.session.remove()

        return run

    threads = [threading.Thread(target=worker(n)) for n in ("a", "b")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        lines = [line for lines in ran.values() for line in lines]
        lines = [line for line in lines if line.startswith("daily_snapshot ")]  # not files_purge
        assert lines == ["daily_snapshot 2026-12-02: 已记录 1 天的统计快照。"], ran
        with app.app_context():
            rows = db.session.execute(
                text("SELECT day, COUNT(*) FROM daily_figures GROUP BY day")
            ).all()
            regions = db.session.execute(text("SELECT COUNT(*) FROM region WHERE level < 5"))
            assert [(str(day), n) for day, n in rows] == [("2026-12-01", regions.scalar())]
    finally:
        with app.app_context():
            db.session.execute(text("DELETE FROM daily_figures"))
            db.session.execute(text("DELETE FROM ranking_notice"))  # the monthly notices' run
            db.session.execute(delete(ScheduledRun))
            db.session.commit()


@pytest.mark.no_db
def test_the_demo_job_thread_takes_the_snapshot_without_set_up(tmp_path):
    """A web process of the SQLite demo (JOBS_IN_PROCESS): its first request starts the job
    thread, which runs the due scheduled jobs at once."""
    app = create_app(
        {
            "TESTING": True,
            "JOBS_IN_PROCESS": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.db'}",
            "INSTANCE_DIR": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret",
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
    runner = app.extensions["job_runner"]
    try:
        assert app.test_client().get("/login").status_code == 200
        deadline = time.monotonic() + 30
        with app.app_context():
            while time.monotonic() < deadline:
                runs = _runs("daily_snapshot")
                db.session.rollback()
                if runs and runs[0].finished_at:
                    break
                time.sleep(0.2)
            assert runs and runs[0].finished_at and runs[0].worker.endswith(":thread")
            province = db.session.execute(
                text("SELECT COUNT(*) FROM daily_figures WHERE region_code = '320000000000'")
            ).scalar()
            assert province == 1
    finally:
        runner.stop(timeout=30)
        with app.app_context():
            db.engine.dispose()


def test_the_commands_run_and_list_the_scheduled_jobs(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["schedule", "run"])
    assert result.exit_code == 0, result.output
    assert "daily_snapshot" in result.output and "已记录 1 天的统计快照" in result.output
    result = runner.invoke(args=["schedule", "run"])
    assert "没有到期的定时任务" in result.output
    result = runner.invoke(args=["schedule", "list"])
    assert result.exit_code == 0 and "daily_snapshot（每日）" in result.output
    assert "完成于" in result.output
    result = runner.invoke(args=["stats", "snapshot", "--day", "2026-01-05"])
    assert result.exit_code == 0, result.output
    assert "已记录 1 天的统计快照：2026-01-05 至 2026-01-05" in result.output
    result = runner.invoke(args=["stats", "snapshot", "--day", "2026-01-05"])
    assert "无需记录" in result.output
    result = runner.invoke(args=["stats", "snapshot", "--day", "2999-01-01"])
    assert result.exit_code != 0 and "只能记录已结束的日子" in result.output
