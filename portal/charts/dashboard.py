"""The dashboard's charts of one region: each chart's SVG and the same numbers as a table.

CHARTS is the fixed table of chart names the routes accept. The data comes from the figures,
targets and trend APIs (portal.stats, portal.targets), which check no scope: the views load the
region through portal.dashboard.regions first. A page that has the figures already passes them
in (`Sources`), so drawing the charts reads only what the page has not: targets and the trend.
"""

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from portal.charts import bars
from portal.charts.bars import CoverageRow, percent
from portal.charts.trend import Point, trend_chart
from portal.persons.codes import REASONS
from portal.regions.models import Region
from portal.stats.figures import Figures, child_figures, region_figures
from portal.stats.trends import trend
from portal.targets.service import progress, target_label, targets_of_children
from portal.timeutil import local_today

NO_REASON_LABEL = "未填写原因"  # as the dashboard's reason list says it (dashboard.table)
REASON_LABELS = [*REASONS, ("none", NO_REASON_LABEL)]


@dataclass
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)


@dataclass
class Chart:
    name: str
    title: str
    svg: str
    table: Table
    desc: str = ""


@dataclass
class Sources:
    """What the charts of one region and year are drawn from, each read once when first used."""

    region: Region
    year: int
    figures: Figures | None = None
    children: list | None = None
    today: date = field(default_factory=local_today)

    def __post_init__(self):
        if self.figures is None:
            self.figures = region_figures(self.region.code, self.year)
        if self.children is None:
            self.children = child_figures(self.region.code, self.year)

    @cached_property
    def targets(self) -> dict:
        return targets_of_children(self.region.code, self.year)

    @cached_property
    def trend(self) -> list:
        return trend(self.region.code, today=self.today)


def _heading(src: Sources, title: str, with_year: bool = True) -> tuple[str, str]:
    """A standalone chart's heading: region and chart; then the year and the day drawn."""
    when = f"{src.year}参保年度 · " if with_year else "近18个月 · "
    return f"{src.region.name}{title}", f"{when}{src.today:%Y-%m-%d} 绘制"


# --- coverage by child region -----------------------------------------------------------------


def _target_rate(target, figures) -> float | None:
    """The target as a coverage fraction: a count target over the region's must-insure."""
    if target is None:
        return None
    if target.kind == "rate":
        return target.rate
    return target.value / figures.must_insure if figures.must_insure else None


def coverage(src: Sources, *, standalone: bool = False) -> Chart:
    title = "下级区划参保率"
    rows, table_rows = [], []
    for child, figures in src.children:
        target = src.targets.get(child.code)
        rate = _target_rate(target, figures)
        rows.append(CoverageRow(child.code, child.name, figures.coverage, rate))
        reached = progress(target, figures)
        label = target_label(target)
        if target is not None and target.kind == "count" and rate is not None:
            label += f"（折合 {percent(rate)}）"
        table_rows.append(
            (
                child.name,
                figures.must_insure,
                figures.insured,
                percent(figures.coverage),
                label,
                "—" if reached is None else ("已达标" if reached >= 1 else "未达标"),
            )
        )
    ranked = [r for r in rows if r.coverage is not None]
    desc = f"{src.region.name}{src.year}参保年度{len(rows)}个下级区划的参保率。"
    if ranked:
        best = max(ranked, key=lambda r: r.coverage)
        worst = min(ranked, key=lambda r: r.coverage)
        desc += f"最高{best.name} {percent(best.coverage)}，"
        desc += f"最低{worst.name} {percent(worst.coverage)}。"
    below = sum(1 for r in rows if r.target is not None and (r.coverage or 0) < r.target)
    if any(r.target is not None for r in rows):
        desc += f"未达目标{below}个。"
    svg = bars.coverage_chart(
        rows,
        ident="chart-coverage",
        title=f"{src.region.name}{title}",
        desc=desc,
        heading=_heading(src, title) if standalone else None,
        standalone=standalone,
    )
    table = Table(
        f"{src.region.name}{title}（{src.year}参保年度）",
        ("区划", "应参保", "已参保", "参保率", "目标", "是否达标"),
        table_rows,
    )
    return Chart("coverage", title, svg, table, desc)


# --- trend ------------------------------------------------------------------------------------


def _month_ends(points: list) -> list:
    """The last point of each month, and the last point."""
    out = []
    for before, after in zip(points, [*points[1:], None], strict=True):
        if after is None or (after.day.year, after.day.month) != (
            before.day.year,
            before.day.month,
        ):
            out.append(before)
    return out


def trends(src: Sources, *, standalone: bool = False) -> Chart:
    title = "参保率与在办档案趋势"
    points = [Point(p.day, p.coverage, p.open_files, p.filled, p.year) for p in src.trend]
    desc = f"{src.region.name}近18个月的参保率与在办档案。"
    if len(points) >= 2:
        first, last = points[0], points[-1]
        desc += (
            f"{first.day:%Y-%m-%d}参保率{percent(first.coverage)}、在办档案{first.open_files}件，"
            f"{last.day:%Y-%m-%d}参保率{percent(last.coverage)}、在办档案{last.open_files}件。"
        )
    filled = sum(1 for p in points if p.filled)
    if filled:
        desc += f"其中{filled}天为补记数据。"
    svg = trend_chart(
        points,
        ident="chart-trend",
        title=f"{src.region.name}{title}",
        desc=desc,
        heading=_heading(src, title, with_year=False) if standalone else None,
        standalone=standalone,
    )
    rows = [
        (
            f"{p.day:%Y-%m-%d}",
            f"{p.year}" if p.year else "—",
            p.must_insure,
            p.insured,
            percent(p.coverage),
            p.open_files,
            "实时" if p.live else ("补记" if p.filled else ""),
        )
        for p in _month_ends(src.trend)
    ]
    table = Table(
        f"{src.region.name}{title}（近18个月，每月末及今日）",
        ("日期", "参保年度", "应参保", "已参保", "参保率", "在办档案", "说明"),
        rows,
    )
    return Chart("trend", title, svg, table, desc)


# --- uninsured by reason ----------------------------------------------------------------------


def reasons(src: Sources, *, standalone: bool = False) -> Chart:
    title = "未参保原因"
    counts = src.figures.open_reasons
    total = src.figures.open_files
    items = sorted(
        ((code, label, int(counts.get(code, 0))) for code, label in REASON_LABELS),
        key=lambda item: -item[2],
    )
    shown = [item for item in items if item[2]]
    desc = f"{src.region.name}{src.year}参保年度在办档案{total}件，按未参保原因分。"
    if shown:
        desc += "；".join(f"{label}{n}件" for _, label, n in shown) + "。"
    svg = bars.count_chart(
        shown,
        ident="chart-reasons",
        title=f"{src.region.name}{title}（在办档案）",
        desc=desc,
        empty="没有在办档案",
        of_total=total,
        heading=_heading(src, title) if standalone else None,
        standalone=standalone,
    )
    rows = []
    for code, label in REASON_LABELS:
        n = int(counts.get(code, 0))
        rows.append((label, n, percent(n / total) if total else "—"))
    rows.append(("合计", total, "100.0%" if total else "—"))
    table = Table(
        f"{src.region.name}{title}（{src.year}参保年度在办档案）", ("原因", "档案", "占比"), rows
    )
    return Chart("reasons", title, svg, table, desc)


# --- the contact funnel -----------------------------------------------------------------------

FUNNEL_STAGES = (
    ("files", "本年度档案"),
    ("visited", "已走访"),
    ("agreed", "同意参保"),
    ("enrolled", "已参保"),
)


def funnel_counts(figures) -> list[tuple[str, str, int]]:
    values = {
        "files": figures.total_files,
        "visited": int(figures.funnel.get("visited", 0)),
        "agreed": int(figures.funnel.get("agreed", 0)),
        "enrolled": int(figures.files.get("enrolled", 0)),
    }
    return [(key, label, values[key]) for key, label in FUNNEL_STAGES]


def funnel(src: Sources, *, standalone: bool = False) -> Chart:
    title = "走访转化"
    items = funnel_counts(src.figures)
    total = items[0][2]
    desc = (
        f"{src.region.name}{src.year}参保年度："
        + "，".join(f"{label}{n}件" for _, label, n in items)
        + "。"
    )
    svg = bars.count_chart(
        items,
        ident="chart-funnel",
        title=f"{src.region.name}{title}",
        desc=desc,
        empty="本年度没有档案",
        of_total=total,
        centered=True,
        heading=_heading(src, title) if standalone else None,
        standalone=standalone,
    )
    rows = [(label, n, percent(n / total) if total else "—") for _, label, n in items]
    table = Table(
        f"{src.region.name}{title}（{src.year}参保年度）", ("阶段", "档案", "占档案比例"), rows
    )
    return Chart("funnel", title, svg, table, desc)


# The names the chart routes accept, in page order.
CHARTS = {"coverage": coverage, "trend": trends, "reasons": reasons, "funnel": funnel}


def available(src: Sources) -> list[str]:
    """The charts this region has: the coverage bars need children."""
    return [name for name in CHARTS if name != "coverage" or src.children]


def chart(name: str, src: Sources, *, standalone: bool = False) -> Chart:
    return CHARTS[name](src, standalone=standalone)


def region_charts(src: Sources) -> list[Chart]:
    return [chart(name, src) for name in available(src)]
