"""Exporting a region's child table to Excel: the page's columns, its order, a 合计 row, audited.

Row 1 is the title (region, insurance year, the time of the figures), row 2 the column headers,
then one row per child and the 合计 row, which is the parent's own figure set (the children sum
exactly to it: portal.stats). Rates are written as percentages with one decimal, as shown.
"""

from pathlib import Path

from portal.audit import operations as audit
from portal.dashboard import table
from portal.dashboard.duplicates import attach_open_cases
from portal.persons.export import new_export_path
from portal.regions.models import Region
from portal.spreadsheets import write_table
from portal.stats.figures import child_figures, region_figures
from portal.targets import service as targets
from portal.timeutil import format_local

SHEET_TITLE = "下级区划参保情况"
TOTAL_LABEL = "合计"


def title_of(region: Region, year: int) -> str:
    return f"{region.name}{year}参保年度下级区划参保情况"


def headers() -> list[str]:
    return [
        "区划",
        "区划代码",
        "排名",
        table.TARGET_LABEL,
        table.PROGRESS_LABEL,
        table.PROGRESS_RANK_LABEL,
        *(c.label for c in table.COLUMNS),
    ]


def _values(row: table.Row) -> list:
    figures = row.figures
    return [table.display(c, figures) if c.rate else c.value(figures) for c in table.COLUMNS]


def sheet_rows(rows: list[table.Row], total: table.Row) -> list[list]:
    """The header row, one row per child, and the 合计 row."""
    body = [
        [
            r.region.name,
            r.region.code,
            r.rank,
            None if r.target is None else r.target_text,
            None if r.progress is None else r.progress_text,
            r.progress_rank,
            *_values(r),
        ]
        for r in rows
    ]
    total_row = [TOTAL_LABEL, total.region.code, None, None, None, None, *_values(total)]
    return [headers(), *body, total_row]


def export_children(actor, region: Region, year: int, sort: table.Sort) -> tuple[Path, str]:
    """Write the region's child table to a new temporary workbook; returns (path, title).

    The caller has loaded the region through dashboard.regions (scope and export right checked);
    it sends the file and deletes it."""
    figures = region_figures(region.code, year)
    children = child_figures(region.code, year)
    attach_open_cases(children, region.code, year, figures)
    rows = table.child_rows(children, sort, targets.targets_of_children(region.code, year))
    title = title_of(region, year)
    heading = f"{title}（数据截至 {format_local(figures.as_of)}）"
    path = new_export_path("dashboard")
    try:
        write_table(
            path,
            SHEET_TITLE,
            [heading],
            sheet_rows(rows, table.Row(region, figures, None)),
            {1: 24, 2: 14},
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    audit.record(
        "export",
        actor=actor,
        target_type="region_figures",
        target_id=region.code,
        target_label=title,
        region_code=region.code,
        detail={"what": "dashboard", "year": year, "rows": len(rows), "sort": sort.key},
    )
    return path, title
