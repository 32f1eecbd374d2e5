"""`portal compare`: run the comparison of a region from the shell, as a user."""

from datetime import date

import click
from flask.cli import with_appcontext

from portal.cli_support import acting_user, region_by_code
from portal.comparisons import operations as ops
from portal.comparisons.models import ComparisonRun
from portal.extensions import db
from portal.jobs import queue


@click.command("compare")
@click.option("--region", "region_code", required=True, help="比对的区划（12位代码，县级及以上）")
@click.option("--as", "username", required=True, help="以哪个用户的权限运行（记入审计）")
@click.option("--year", type=int, default=None, help="参保年度（默认今年）")
@with_appcontext
def compare_command(region_code: str, username: str, year: int | None) -> None:
    """Compare the household register and resident list of a region with the insured list."""
    actor, region = acting_user(username), region_by_code(region_code)
    try:
        run = ops.start_comparison(actor, region, year or date.today().year)
    except ops.ComparisonRefused as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    run_id, job_id = run.id, run.job_id
    click.echo(f"比对 {region.name} {run.year} 年度……")
    queue.run_one(queue.worker_name(), job_id=job_id)
    run = db.session.get(ComparisonRun, run_id)
    db.session.refresh(run)
    click.echo(run.message or "")
    if run.state != "succeeded":
        raise click.ClickException("比对失败，数据未作任何修改。")
