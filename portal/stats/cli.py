"""`portal stats rebuild / verify`: the maintained figures from the base tables, and a check."""

import click
from flask.cli import AppGroup

from portal.cli_support import region_by_code
from portal.duplicates import figures as duplicate_figures
from portal.extensions import db
from portal.stats import activity, maintain

stats_cli = AppGroup("stats", help="统计汇总：按社区和参保年度维护的统计数据的重算与核对。")


def _prefix(region_code: str | None) -> str | None:
    return None if region_code is None else region_by_code(region_code).prefix


@stats_cli.command("rebuild")
@click.option("--region", "region_code", default=None, help="只重算该区划（12位代码）以下的社区")
@click.option("--year", type=int, default=None, help="只重算该参保年度（默认所有已维护年度）")
def rebuild_command(region_code: str | None, year: int | None) -> None:
    """Recompute the maintained figures (and the visits and conversions per day, which belong
    to no year, and the duplicate-enrollment figures of every year having cases) from the base
    tables."""
    connection = db.session.connection()
    prefix = _prefix(region_code)
    years = maintain.rebuild(connection, prefix=prefix, year=year)
    activity.rebuild(connection, prefix=prefix)
    duplicate_years = duplicate_figures.rebuild(connection, year=year, prefix=prefix or "")
    db.session.commit()
    duplicates = "、".join(str(y) for y in duplicate_years)
    click.echo(
        f"已重算统计数据：{'、'.join(str(y) for y in years)} 年度，及每日走访和转化数"
        + (f"；重复参保统计：{duplicates} 年度。" if duplicates else "。")
    )


@stats_cli.command("verify")
@click.option("--region", "region_code", default=None, help="只核对该区划（12位代码）以下的社区")
@click.option("--year", type=int, default=None, help="只核对该参保年度（默认所有已维护年度）")
def verify_command(region_code: str | None, year: int | None) -> None:
    """Compare every maintained row with a direct count; exit code 1 when any differs."""
    connection = db.session.connection()
    prefix = _prefix(region_code) or ""
    years = [year] if year is not None else maintain.built_years(connection)
    found = 0
    for each in years:
        for code, diff in maintain.differences(connection, prefix=prefix, year=each).items():
            found += 1
            detail = "；".join(f"{k} 存储 {a}，实际 {b}" for k, (a, b) in diff.items())
            click.echo(f"{each} 年度 社区 {code} 不一致：{detail}")
    labels = {"visits": "走访", "conversions": "转化"}
    for (day, code), diff in activity.differences(connection, prefix=prefix).items():
        found += 1
        detail = "；".join(f"{labels[k]} 存储 {a}，实际 {b}" for k, (a, b) in diff.items())
        click.echo(f"{day.isoformat()} 社区 {code} 走访转化数不一致：{detail}")
    duplicate_years = [year] if year is not None else duplicate_figures.years(connection)
    for each in duplicate_years:
        for code, diff in duplicate_figures.differences(connection, each, prefix).items():
            found += 1
            detail = "；".join(f"{k} 存储 {a}，实际 {b}" for k, (a, b) in diff.items())
            click.echo(f"{each} 年度 区划 {code} 重复参保统计不一致：{detail}")
    db.session.rollback()
    if found:
        click.echo(f"共 {found} 处统计数据与实际不一致，请运行 portal stats rebuild。")
        raise SystemExit(1)
    click.echo(f"统计数据核对无误（{'、'.join(str(y) for y in years) or '无已维护年度'}）。")


@stats_cli.command("snapshot")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="只记录该日（YYYY-MM-DD，已结束的一天）；默认记录上次快照以来每个已结束的日子",
)
def snapshot_command(day) -> None:
    """Write the daily trend figures (what the daily scheduled job does)."""
    from portal.stats.snapshots import take_snapshots
    from portal.timeutil import local_today

    today = local_today()
    if day is not None and day.date() >= today:
        raise click.BadParameter("只能记录已结束的日子。", param_hint="--day")
    days = take_snapshots(db.session.connection(), today, day=day.date() if day else None)
    db.session.commit()
    if days:
        click.echo(f"已记录 {len(days)} 天的统计快照：{days[0]} 至 {days[-1]}。")
    else:
        click.echo("无需记录：这些日子的快照已存在。")
