"""The trend chart from plain points: coverage (参保率) and open files over 18 months.

Two panels over one time axis — coverage above, open files below — rather than one panel with
two y scales, which invites reading one line against the other's axis. Days the snapshot job
missed and filled in later (`filled`) lie on a light band, so a flat stretch that was
reconstructed is not read as measured; a dashed vertical line marks where the insurance year
changes (its coverage starts again from a new comparison). Gaps over 8 days (before the first
snapshot, thinned history) break the line instead of drawing a straight ramp across them.

There are at most ~550 points; more than one per two units of width are thinned to the last of
each (the line cannot show them) and the path is written with relative steps: an
18-month trend is ~3 KB.
"""

import math
from dataclasses import dataclass
from datetime import date

from portal.charts.svg import PAD, WIDTH, Canvas, relative_path, text_width

LEFT = 42
RIGHT = WIDTH - 10
PANEL = 96  # plot height of each panel
GAP = 30  # between the panels: the lower panel's title line
BREAK_DAYS = 8
THIN = 2  # at most one point per this many units of width


@dataclass
class Point:
    day: date
    coverage: float | None
    open_files: int
    filled: bool = False
    year: int | None = None


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.6, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _months(first: date, last: date) -> list[date]:
    year, month = first.year, first.month
    out = []
    while (year, month) <= (last.year, last.month):
        day = date(year, month, 1)
        if day >= first:
            out.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def trend_chart(
    points: list[Point],
    *,
    ident: str,
    title: str,
    desc: str,
    heading: tuple[str, str] | None = None,
    standalone: bool = False,
) -> str:
    canvas = Canvas(ident, title, desc, standalone=standalone)
    top = canvas.heading(heading)
    if len(points) < 2:
        canvas.text(WIDTH / 2, top + 30, "暂无趋势数据：每日统计从首次运行起积累", anchor="middle")
        canvas.height = top + 50
        return canvas.render()

    first, last = points[0].day, points[-1].day
    span = max((last - first).days, 1)

    def x(day: date) -> float:
        return LEFT + (day - first).days / span * (RIGHT - LEFT)

    # Legend.
    lx = float(PAD)
    for kind, label in (("coverage", "参保率"), ("open", "在办档案"), ("filled", "补记数据")):
        canvas.rect(lx, top + 3, 10, 10, class_=f"swatch {kind}")
        canvas.text(lx + 14, top + 12, label, class_="muted")
        lx += 14 + text_width(label, 10) + 12
    cov_top = top + 24
    open_top = cov_top + PANEL + GAP
    bottom = open_top + PANEL

    # Filled-in days: one band per run, over both panels.
    run: list[Point] = []
    for point in [*points, None]:
        if point is not None and point.filled:
            run.append(point)
            continue
        if run:
            x0, x1 = x(run[0].day) - 0.75, x(run[-1].day) + 0.75
            canvas.rect(
                x0,
                cov_top,
                x1 - x0,
                bottom - cov_top,
                class_="filled",
                data_from=run[0].day.isoformat(),
                data_to=run[-1].day.isoformat(),
            )
            run = []

    # Scales.
    rates = [p.coverage for p in points if p.coverage is not None]
    rate_lo = math.floor(min(rates, default=0) * 20) / 20  # a 5 % step below the lowest
    rate_hi = min(math.ceil(max(rates, default=1) * 20) / 20, 1.0)
    if rate_hi - rate_lo < 0.05:
        rate_lo = max(rate_hi - 0.05, 0.0)
    open_hi = _nice_ceiling(max(p.open_files for p in points))

    def y_rate(value: float) -> float:
        return cov_top + PANEL - (value - rate_lo) / (rate_hi - rate_lo) * PANEL

    def y_open(value: float) -> float:
        return open_top + PANEL - value / open_hi * PANEL

    # Grid, y labels and panel titles.
    for i in range(3):
        value = rate_lo + (rate_hi - rate_lo) * i / 2
        y = y_rate(value)
        canvas.line(LEFT, y, RIGHT, y, class_="grid")
        canvas.text(LEFT - 4, y + 4, f"{value * 100:.1f}%", anchor="end", class_="muted")
        value = open_hi * i / 2
        y = y_open(value)
        canvas.line(LEFT, y, RIGHT, y, class_="grid")
        canvas.text(LEFT - 4, y + 4, f"{value:g}", anchor="end", class_="muted")
    canvas.text(LEFT, open_top - 8, "在办档案（件）", class_="muted")

    # Month ticks under the lower panel: every month a tick, a label every third.
    for index, month in enumerate(reversed(_months(first, last))):
        mx = x(month)
        canvas.line(mx, bottom, mx, bottom + 3, class_="axis")
        if index % 3 == 0:
            label = f"{month.year}年" if month.month == 1 else f"{month.month}月"
            canvas.text(mx, bottom + 14, label, anchor="middle", class_="muted")
    canvas.line(LEFT, bottom, RIGHT, bottom, class_="axis")

    # The insurance year changes.
    for before, after in zip(points, points[1:], strict=False):
        if before.year is not None and after.year is not None and after.year != before.year:
            yx = x(after.day)
            canvas.line(yx, cov_top, yx, bottom, class_="year", data_year=after.year)
            canvas.text(yx + 2, cov_top + 10, f"{after.year}年度", class_="muted")

    # The lines: at most one point per THIN units of width, broken over long gaps.
    coverage: list[tuple[float, float] | None] = []
    opened: list[tuple[float, float] | None] = []
    previous: Point | None = None
    kept_x: float | None = None
    for point in points:
        px = x(point.day)
        if previous is not None and (point.day - previous.day).days > BREAK_DAYS:
            coverage.append(None)
            opened.append(None)
            kept_x = None
        elif kept_x is not None and round(px / THIN) == round(kept_x / THIN):
            coverage.pop()
            opened.pop()
        coverage.append(None if point.coverage is None else (px, y_rate(point.coverage)))
        opened.append((px, y_open(point.open_files)))
        previous, kept_x = point, px
    canvas.add("path", d=relative_path(coverage), class_="line coverage")
    canvas.add("path", d=relative_path(opened), class_="line open")
    canvas.height = bottom + 20
    return canvas.render()


__all__ = ["Point", "trend_chart"]
