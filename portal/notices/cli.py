"""`portal notices issue`: the monthly ranking notices by hand (the scheduled job's work, or a
month it missed, or the month under way on demand)."""

import click
from flask.cli import AppGroup

from portal.cli_support import region_by_code
from portal.extensions import db
from portal.notices import service
from portal.timeutil import local_today

notices_cli = AppGroup("notices", help="月度通报（比学赶超）：按月对下级区划排名。")


@notices_cli.command("issue")
@click.option("--region", "region_code", default=None, help="只发布该区划及其下级的通报")
@click.option("--month", "month_text", default=None, help="月份，如 2026-11（默认上个月）")
def issue_command(region_code: str | None, month_text: str | None) -> None:
    """Issue the notices of a month: an ended month's final notices (those missing), or the
    current month's notices on demand."""
    month = service.parse_month(month_text) if month_text else None
    if month_text and month is None:
        raise click.ClickException(f"月份“{month_text}”格式不正确，请写成 2026-11")
    month = month or service.previous_month(service.first_of(local_today()))
    region = region_by_code(region_code) if region_code else None
    try:
        issued = service.issue_month(month, region=region)
    except service.NoticeError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    kind = "正式" if service.ended(month, local_today()) else "临时"
    click.echo(f"已发布 {service.month_label(month)}{kind}通报 {issued.notices} 份。")
    for reason in issued.skipped:
        click.echo(reason)
