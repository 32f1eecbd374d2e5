"""`portal compare`: run the comparison of a region from the shell, as a user."""

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
@click.option("--year", type=int, default=None, help="参保年度（默认当前征缴期对应年度）")
@click.option(
    "--force",
    is_flag=True,
    default=False,
    help="比对前检查发现异常（无参保记录、参保率过低或骤降、乡镇无人参保）时仍然运行",
)
@with_appcontext
def compare_command(region_code: str, username: str, year: int | None, force: bool) -> None:
    """Compare the household register and resident list of a region with the insured list."""
    actor, region = acting_user(username), region_by_code(region_code)
    try:
        run = ops.start_comparison(actor, region, year, force=force)
    except ops.ComparisonRefused as exc:
        raise click.ClickException(str(exc)) from exc
    claim = queue.claim_here(run.job_id)  # with the run: no job thread or worker races for it
    db.session.commit()
    run_id = run.id
    click.echo(f"比对 {region.name} {run.year} 年度……")
    queue.run_claimed(claim)
    run = db.session.get(ComparisonRun, run_id)
    db.session.refresh(run)
    for check in run.checks or []:
        click.echo(f"  ! {check['message']}")
    click.echo(run.message or "")
    if run.state == "refused":
        raise click.ClickException("比对前检查未通过，未运行。核实后如确需运行，请加 --force。")
    if run.state != "succeeded":
        raise click.ClickException("比对失败，数据未作任何修改。")
