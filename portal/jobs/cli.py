"""`portal worker`: runs background jobs and the scheduled ones (start one or more next to the web
processes); `portal schedule run / list`: the scheduled jobs by hand."""

import time

import click
from flask.cli import AppGroup, with_appcontext

from portal.extensions import db
from portal.jobs import queue, schedule
from portal.timeutil import format_local


@click.command("worker")
@click.option("--once", is_flag=True, help="处理完当前排队的任务后退出")
@click.option("--poll", default=1.0, show_default=True, help="空闲时查询新任务的间隔（秒）")
@click.option("--no-schedule", is_flag=True, help="不运行定时任务（每日快照等）")
@with_appcontext
def worker_command(once: bool, poll: float, no_schedule: bool) -> None:
    """Run queued jobs until stopped, and the scheduled jobs when due (at most once a minute)."""
    name = queue.worker_name()
    click.echo(f"任务处理进程 {name} 已启动。")
    ticker = None if no_schedule else schedule.Ticker(name)
    while True:
        if ticker is not None:
            for line in ticker.tick(time.monotonic()):
                click.echo(f"定时任务 {line}")
            db.session.remove()
        ran = queue.run_one(name)
        db.session.remove()
        if not ran:
            if once:
                return
            time.sleep(poll)


schedule_cli = AppGroup("schedule", help="定时任务：每日统计快照等，由 portal worker 按时运行。")


@schedule_cli.command("run")
def schedule_run_command() -> None:
    """Run the scheduled jobs that are due now (those not run yet in their period)."""
    ran = schedule.run_due()
    for line in ran:
        click.echo(f"定时任务 {line}")
    if not ran:
        click.echo("没有到期的定时任务（本周期均已运行，或正由其他进程运行）。")


@schedule_cli.command("list")
@click.option("--limit", default=20, show_default=True, help="显示最近多少次运行")
def schedule_list_command(limit: int) -> None:
    """The registered scheduled jobs and their latest runs."""
    jobs = schedule.load_jobs()
    for job in sorted(jobs.values(), key=lambda j: j.name):
        label = "每日" if job.period == "daily" else "每月"
        click.echo(f"{job.name}（{label}）")
    runs = schedule.last_runs(limit)
    if runs:
        click.echo("最近运行：")
    for run in runs:
        if run.finished_at is not None:
            state = f"完成于 {format_local(run.finished_at)}"
        elif run.error:
            state = f"失败：{run.error}"
        else:
            state = "运行中"
        click.echo(
            f"  {run.name} {run.period} 开始于 {format_local(run.started_at)} "
            f"[{run.worker}] {state}"
        )
    db.session.rollback()
