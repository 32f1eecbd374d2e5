"""`flask regions load`: load or refresh the region tree from CSV files."""

import unicodedata
from pathlib import Path

import click
from flask.cli import AppGroup

from portal.extensions import db
from portal.regions import codes
from portal.regions.loader import (
    SHIPPED_DATA_DIR,
    LoadReport,
    RegionSourceError,
    check_prefix,
    load_regions,
)

regions_cli = AppGroup("regions", help="行政区划：从统计用区划代码 CSV 载入或更新区划树。")


def _prefix_option(_ctx, _param, value):
    try:
        return check_prefix(value)
    except RegionSourceError as exc:
        raise click.BadParameter(str(exc)) from exc


@regions_cli.command("load")
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    default=SHIPPED_DATA_DIR,
    show_default="随附的盐城市数据",
    help="含 provinces/cities/areas/streets/villages.csv 的目录",
)
@click.option(
    "--under",
    metavar="PREFIX",
    callback=_prefix_option,
    help="只载入该区划（如 3209）及其下级，连同其上级",
)
def load_command(source: Path, under: str | None) -> None:
    """载入区划：新增缺少的，更新名称或上级变化的，不删除数据源中没有的区划。"""
    try:
        report = load_regions(db.session.connection(), source, under)
    except RegionSourceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(format_report(report))


def load_shipped_demo_regions() -> LoadReport:
    """Load the shipped Yancheng tree on the session's connection; the caller commits."""
    return load_regions(db.session.connection(), SHIPPED_DATA_DIR)


def format_report(report: LoadReport) -> str:
    """The report as a small Chinese table."""
    scope = f"（仅 {report.under} 及其上级、下级）" if report.under else ""
    widths = (10, 10, 8, 8, 8, 10)
    rows = [("级别", "读取", "新增", "更新", "未变", "并入上级")]
    for level, counts in report.levels.items():
        rows.append(
            (
                codes.LEVEL_NAMES[level],
                counts.read,
                counts.inserted,
                counts.updated,
                counts.unchanged,
                counts.folded,
            )
        )
    rows.append(
        ("合计", report.read, report.inserted, report.updated, report.unchanged, report.folded)
    )
    lines = [f"区划数据：{report.source}{scope}"]
    for row in rows:
        first, *numbers = row
        lines.append(
            _pad(str(first), widths[0], left=True)
            + "".join(_pad(str(n), w) for n, w in zip(numbers, widths[1:], strict=True))
        )
    if report.folded:
        lines.append("并入上级：补零后与上级代码相同的占位行（如县级的“东莞市”），不单独存储。")
    lines.append(f"用时 {report.elapsed_seconds:.2f} 秒")
    return "\n".join(lines)


def _pad(text: str, width: int, left: bool = False) -> str:
    """Pad to a terminal width, counting CJK characters as two columns."""
    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    fill = " " * max(width - shown, 0)
    return text + fill if left else fill + text
