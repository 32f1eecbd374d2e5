"""`portal worker`: runs background jobs (start one or more next to the web processes)."""

import time

import click
from flask.cli import with_appcontext

from portal.extensions import db
from portal.jobs import queue


@click.command("worker")
@click.option("--once", is_flag=True, help="处理完当前排队的任务后退出")
@click.option("--poll", default=1.0, show_default=True, help="空闲时查询新任务的间隔（秒）")
@with_appcontext
def worker_command(once: bool, poll: float) -> None:
    """Run queued jobs until stopped."""
    name = queue.worker_name()
    click.echo(f"任务处理进程 {name} 已启动。")
    while True:
        ran = queue.run_one(name)
        db.session.remove()
        if not ran:
            if once:
                return
            time.sleep(poll)
