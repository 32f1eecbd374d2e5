"""A notice as ONE picture for a work group chat: title, month, the ranked table with the movers
and the government-paid gaps marked, drawn as a standalone SVG (portal/charts/svg.py) and
rendered to PNG by resvg (portal/charts/png.py; Chinese needs a CJK font on the server,
fonts-noto-cjk)."""

from portal.charts.png import to_png
from portal.charts.svg import PAD, WIDTH, Canvas, fit
from portal.notices import present
from portal.notices.models import RankingNotice
from portal.timeutil import format_local

ROW = 20  # units per table row
RED, GREEN, MUTED = "#b42318", "#1e7a3c", "#616e7c"
UP_FILL, DOWN_FILL, GAP_FILL = "#e5f6ea", "#fde8e7", "#fff4d6"
# (header, x, anchor) of the table's columns, in a 360-unit width.
COLUMNS = (
    ("名次", PAD + 2, None),
    ("区划", 36, None),
    ("参保率", 204, "end"),
    ("升降", 232, "middle"),
    ("目标进度", 298, "end"),
    ("资助缺口", WIDTH - PAD, "end"),
)
NAME_WIDTH = 204 - 36 - 56


def title_of(notice: RankingNotice) -> str:
    return present.title_of(notice)


def _coloured(colour: str, bold: bool = False) -> str:
    return f"fill:{colour}" + (";font-weight:700" if bold else "")


def svg(notice: RankingNotice) -> str:
    """The standalone SVG of the notice (fixed size: what the PNG renders)."""
    view = present.view_of(notice)
    canvas = Canvas(
        f"notice-{notice.id}",
        view.title,
        f"{len(view.rows)} 个下级区划按参保率排名",
        standalone=True,
    )
    y = canvas.heading((view.title, " · ".join(view.lines[:2])))
    totals = view.totals
    y += 4
    canvas.text(
        PAD,
        y + 10,
        fit(
            f"合计 应参保 {totals['must_insure']:,} · 已参保 {totals['insured']:,} · "
            f"参保率 {view.total_coverage}",
            WIDTH - 2 * PAD,
            11,
        ),
        style="font-size:11px",
    )
    y += 18
    gap = totals["gap"]
    if gap > 0:
        canvas.rect(PAD - 2, y - 2, WIDTH - 2 * PAD + 4, 18, fill=GAP_FILL)
        canvas.text(
            PAD,
            y + 11,
            fit(f"⚠ 政府资助参保人群尚有 {gap:,} 人未参保（须 100% 参保）", WIDTH - 2 * PAD),
            style=_coloured(RED, True),
        )
    else:
        canvas.text(PAD, y + 11, "政府资助参保人群已全部参保", style=_coloured(GREEN))
    y += 20
    canvas.text(
        PAD,
        y + 11,
        fit("进步最大：" + present.movers_text(view.movers_up, True), WIDTH - 2 * PAD, 11),
        style=_coloured(GREEN) + ";font-size:11px",
    )
    y += 16
    canvas.text(
        PAD,
        y + 11,
        fit("退步最大：" + present.movers_text(view.movers_down, False), WIDTH - 2 * PAD, 11),
        style=_coloured(RED) + ";font-size:11px",
    )
    y += 22
    for header, x, anchor in COLUMNS:
        canvas.text(x, y + 10, header, anchor=anchor, class_="muted")
    y += 14
    canvas.line(PAD, y, WIDTH - PAD, y, stroke="#9aa5b1")
    for row in view.rows:
        if row.mover:
            canvas.rect(PAD - 2, y + 1, WIDTH - 2 * PAD + 4, ROW - 1,
                        fill=UP_FILL if row.mover == "up" else DOWN_FILL)  # fmt: skip
        base = y + 14
        canvas.text(COLUMNS[0][1], base, row.rank)
        canvas.text(COLUMNS[1][1], base, fit(row.row["name"], NAME_WIDTH))
        canvas.text(COLUMNS[2][1], base, row.coverage, anchor="end")
        colour = GREEN if row.direction == "up" else (RED if row.direction == "down" else MUTED)
        canvas.text(COLUMNS[3][1], base, row.moved, anchor="middle", style=_coloured(colour))
        canvas.text(COLUMNS[4][1], base, row.progress, anchor="end")
        if row.gap > 0:
            canvas.text(COLUMNS[5][1], base, f"{row.gap:,}", anchor="end",
                        style=_coloured(RED, True))  # fmt: skip
        else:
            canvas.text(COLUMNS[5][1], base, "0", anchor="end", style=_coloured(MUTED))
        y += ROW
        canvas.line(PAD, y, WIDTH - PAD, y, stroke="#e4e7eb")
    y += 14
    totals_line = f"本月走访 {totals['visits']:,} 次 · 转化参保 {totals['conversions']:,} 人"
    canvas.text(PAD, y, fit(totals_line, WIDTH - 2 * PAD, 10), class_="muted")
    y += 14
    canvas.text(
        PAD,
        y,
        fit(f"生成于 {format_local(notice.taken_at)} · 一人一档全民参保平台", WIDTH - 2 * PAD, 10),
        class_="muted",
    )
    canvas.height = y + 10
    return canvas.render()


def png(notice: RankingNotice) -> bytes:
    return to_png(svg(notice))


__all__ = ["png", "svg", "title_of"]
