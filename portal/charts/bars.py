"""Horizontal bar charts from plain data: coverage by child region against the target, open
files by reason, the contact funnel.

Bars run across and the chart grows downwards, one 22-unit row per item: 30 townships are a
~700-unit-tall chart whose labels stay 12 px on a 360-px phone, where columns would have had to
turn or shrink their names. A label too long for its column is cut with "…" (the data table
under the chart has it whole). Each bar is `<rect class="bar …" data-key data-label data-value>`
(value unrounded: the tests and anyone scraping read it), each target a `<line class="target">`.
"""

import math
from dataclasses import dataclass

from portal.charts.svg import PAD, WIDTH, Canvas, fit, text_width

ROW = 22
BAR = 14
LEGEND = 20
AXIS = 18
VALUE_SIZE = 11
MAX_LABEL = 112  # 9 Chinese characters at 12 px
Heading = tuple[str, str] | None  # a standalone chart's two heading lines


@dataclass
class Bar:
    key: str
    label: str
    value: float | None  # None: nothing to draw (shown as "—")
    shown: str  # the value as text beside the bar
    kind: str = ""  # an extra class: ok / below
    marker: float | None = None  # this row's target, on the bars' scale


@dataclass
class Scale:
    lo: float
    hi: float
    left: float
    right: float

    def x(self, value: float) -> float:
        span = self.hi - self.lo or 1
        share = min(max((value - self.lo) / span, 0.0), 1.0)
        return self.left + share * (self.right - self.left)


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _columns(bars: list[Bar]) -> tuple[float, float]:
    label = min(max((text_width(b.label) for b in bars), default=0) + 6, MAX_LABEL)
    value = max((text_width(b.shown, VALUE_SIZE) for b in bars), default=0) + 6
    return PAD + max(label, 40), value + PAD


def data_value(value: float) -> str:
    """A value for data-value: integers as they are, fractions to six significant digits."""
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def draw_bars(
    canvas: Canvas,
    bars: list[Bar],
    *,
    top: float,
    lo: float,
    hi: float,
    ticks: list[tuple[float, str]] = (),
    common_marker: tuple[float, str] | None = None,
    centered: bool = False,
) -> float:
    """Draw the rows from `top`; returns the y below them (and below the axis, with ticks)."""
    label_width, value_width = _columns(bars)
    scale = Scale(lo, hi, label_width, WIDTH - value_width)
    rows_top = top + (14 if common_marker else 0)
    bottom = rows_top + ROW * len(bars)
    for value, label in ticks:
        x = scale.x(value)
        canvas.line(x, rows_top, x, bottom, class_="grid")
        canvas.text(x, bottom + 13, label, anchor="middle", class_="muted")
    for index, bar in enumerate(bars):
        y = rows_top + index * ROW
        canvas.text(label_width - 6, y + 15, fit(bar.label, label_width - 6), anchor="end")
        end = scale.right
        if bar.value is not None:
            width = scale.x(bar.value) - scale.left
            x = scale.left + ((scale.right - scale.left - width) / 2 if centered else 0)
            canvas.rect(
                x,
                y + (ROW - BAR) / 2,
                width,
                BAR,
                class_=f"bar {bar.kind}".strip(),
                data_key=bar.key,
                data_label=bar.label,
                data_value=data_value(bar.value),
            )
            if not centered:
                end = x + width
        if bar.marker is not None:
            mx = scale.x(bar.marker)
            canvas.line(
                mx,
                y + 2,
                mx,
                y + ROW - 2,
                class_="target",
                data_key=bar.key,
                data_value=data_value(bar.marker),
            )
            if not centered and end > mx - 30:  # the value starts past the marker
                end = max(end, mx)
        canvas.text(min(end + 4, scale.right + 4), y + 15, bar.shown, class_="v")
    if common_marker is not None:
        value, label = common_marker
        mx = scale.x(value)
        canvas.line(mx, top + 14, mx, bottom, class_="target all", data_value=data_value(value))
        anchor = "end" if mx > WIDTH * 0.6 else "start"
        canvas.text(mx + (-3 if anchor == "end" else 3), top + 11, label, anchor=anchor)
    if ticks:
        canvas.line(scale.left, bottom, scale.right, bottom, class_="axis")
        return bottom + AXIS
    return bottom + 4


def _legend(canvas: Canvas, y: float, items: list[tuple[str, str]]) -> None:
    """Swatches and their words on one line: (css class of the swatch, label)."""
    x = float(PAD)
    for kind, label in items:
        if kind == "target":
            canvas.line(x + 5, y + 2, x + 5, y + 14, class_="target")
        else:
            canvas.rect(x, y + 3, 10, 10, class_=kind)
        canvas.text(x + 14, y + 12, label, class_="muted")
        x += 14 + text_width(label, 10) + 12


def _message(canvas: Canvas, y: float, words: str) -> str:
    canvas.text(WIDTH / 2, y + 30, words, anchor="middle", class_="muted")
    canvas.height = y + 50
    return canvas.render()


# --- coverage by child region against the target ----------------------------------------------


@dataclass
class CoverageRow:
    code: str
    name: str
    coverage: float | None  # None: nobody to insure
    target: float | None = None  # the target as a coverage fraction (a count target converted)


def _rate_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    step = 0.05 if hi - lo <= 0.25 else 0.1 if hi - lo <= 0.6 else 0.2
    count = int(round((hi - lo) / step))
    return [(lo + i * step, f"{(lo + i * step) * 100:.0f}%") for i in range(count + 1)]


def coverage_scale(rows: list[CoverageRow]) -> tuple[float, float]:
    """The axis: 0–100 %, or from a round 10 % below everything when all values are ≥ 60 %
    (coverage sits in the nineties: from zero, 95 % and 99 % look alike)."""
    values = [v for r in rows for v in (r.coverage, r.target) if v is not None]
    hi = max([1.0, *values])
    lowest = min(values, default=0.0)
    lo = math.floor((lowest - 0.05) * 10) / 10 if lowest >= 0.6 else 0.0
    return max(lo, 0.0), hi


def coverage_chart(
    rows: list[CoverageRow],
    *,
    ident: str,
    title: str,
    desc: str,
    heading: Heading = None,
    standalone: bool = False,
) -> str:
    lo, hi = coverage_scale(rows)
    if lo > 0:
        desc += f"横轴从 {lo * 100:.0f}% 起。"
    canvas = Canvas(ident, title, desc, standalone=standalone)
    top = canvas.heading(heading)
    targets = {r.target for r in rows}
    common = None
    if len(targets) == 1 and None not in targets:
        common = (rows[0].target, f"目标 {percent(rows[0].target)}")
    bars = []
    for r in rows:
        kind = ""
        if r.target is not None and r.coverage is not None:
            kind = "ok" if r.coverage >= r.target else "below"
        marker = r.target if common is None else None
        bars.append(Bar(r.code, r.name, r.coverage, percent(r.coverage), kind, marker))
    if not bars:
        return _message(canvas, top, "没有下级区划")
    if None in targets and len(targets) == 1:
        canvas.text(PAD, top + 12, "下级区划尚未设定目标", class_="muted")
    else:
        _legend(
            canvas, top, [("bar ok", "已达目标"), ("bar below", "未达目标"), ("target", "目标")]
        )
    canvas.height = draw_bars(
        canvas,
        bars,
        top=top + LEGEND,
        lo=lo,
        hi=hi,
        ticks=_rate_ticks(lo, hi),
        common_marker=common,
    )
    return canvas.render()


# --- open files by reason ---------------------------------------------------------------------


def count_chart(
    items: list[tuple[str, str, int]],
    *,
    ident: str,
    title: str,
    desc: str,
    empty: str,
    of_total: int | None = None,
    centered: bool = False,
    heading: Heading = None,
    standalone: bool = False,
) -> str:
    """Bars of counts (key, label, count) from zero to the largest; each shown as "n（p%）" of
    `of_total` when given. Used by the reasons chart (sorted, zeros left out) and the funnel
    (in stage order, centered)."""
    canvas = Canvas(ident, title, desc, standalone=standalone)
    top = canvas.heading(heading)
    largest = max((n for _, _, n in items), default=0)
    if largest == 0:
        return _message(canvas, top, empty)

    def shown(n: int) -> str:
        return f"{n}（{percent(n / of_total)}）" if of_total else str(n)

    bars = [Bar(key, label, n, shown(n)) for key, label, n in items]
    canvas.height = draw_bars(canvas, bars, top=top + 4, lo=0, hi=largest, centered=centered)
    return canvas.render()


__all__ = ["Bar", "CoverageRow", "count_chart", "coverage_chart", "coverage_scale"]
