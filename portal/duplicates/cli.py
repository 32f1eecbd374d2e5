"""`portal duplicates detect`: duplicate-enrollment detection from the shell."""

import click
from flask.cli import AppGroup

from portal.cli_support import region_by_code
from portal.duplicates import detect
from portal.extensions import db

duplicates_cli = AppGroup(
    "duplicates", help="重复参保：检测同一人同一参保年度内重叠的正常参保记录。"
)


@duplicates_cli.command("detect")
@click.option("--year", type=int, default=None, help="参保年度（默认当前征缴期对应年度）")
@click.option("--region", "region_code", default=None, help="只检测与该区划（12位代码）有关的人员")
def detect_command(year: int | None, region_code: str | None) -> None:
    """Detect (and refresh) the duplicate-enrollment cases of a year, in full or for a region."""
    from portal.years.selection import current_year

    year = year or current_year()
    prefix = region_by_code(region_code).prefix if region_code else None
    result = detect.detect_region(db.session.connection(), year, prefix=prefix)
    db.session.commit()
    click.echo(result.message)
