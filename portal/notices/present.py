"""How a stored notice reads: the same words and figures on the page, in the Excel sheet and in
the picture (only formatting here; the figures are the notice's own, never recomputed)."""

from dataclasses import dataclass
from datetime import datetime

from portal.notices.models import RankingNotice
from portal.notices.service import month_label
from portal.timeutil import format_local


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def points(value: float | None) -> str:
    """A change of coverage in percentage points: "+1.2", "-0.4", "0.0"."""
    if value is None:
        return "—"
    return f"{value * 100:+.1f}" if round(value * 1000) else "0.0"


def moved_text(row: dict) -> str:
    """ "↑2" / "↓1" / "—" (same place) / "新" (no rank last month) / "" (no rank now)."""
    if row.get("rank") is None:
        return ""
    moved = row.get("moved")
    if moved is None:
        return "新" if row.get("prev_rank") is None else ""
    if moved > 0:
        return f"↑{moved}"
    if moved < 0:
        return f"↓{-moved}"
    return "—"


def title_of(notice: RankingNotice) -> str:
    summary = notice.summary
    kind = "" if notice.final else "（临时）"
    name = summary.get("region_name", notice.region_code)
    return f"{name}{month_label(notice.month)}参保工作通报{kind}"


def status_lines(notice: RankingNotice) -> list[str]:
    """When the figures are from and, for a late or filled notice, says so."""
    summary = notice.summary
    lines = [f"{summary['year']} 参保年度 · 下级区划 {summary['children']} 个"]
    as_of = datetime.fromisoformat(summary["as_of"])
    if summary.get("source") == "snapshot":
        lines.append(f"月末数据（{format_local(as_of)} 记录的统计快照）")
        if summary.get("filled"):
            lines.append("注意：月末快照系事后补记，存量数据为补记时的数字")
    else:
        lines.append(f"数据截至 {format_local(as_of)}")
    if notice.final and summary.get("late_days"):
        lines.append(
            f"注意：本通报于 {format_local(notice.taken_at)} 生成，"
            f"晚于月末 {summary['late_days']} 天"
        )
    if not notice.final:
        lines.append(f"临时通报：{format_local(notice.taken_at)} 生成，月末将发布正式通报")
    lines.append(f"走访与转化：{month_label(notice.month)}1日至 {summary['activity_until'][5:]}")
    return lines


@dataclass
class RowView:
    """One ranked child as every output shows it."""

    row: dict
    mover: str  # 'up' | 'down' | '' : among the month's biggest movers

    @property
    def rank(self) -> str:
        return "—" if self.row["rank"] is None else str(self.row["rank"])

    @property
    def prev_rank(self) -> str:
        return "—" if self.row.get("prev_rank") is None else str(self.row["prev_rank"])

    @property
    def moved(self) -> str:
        return moved_text(self.row)

    @property
    def direction(self) -> str:
        moved = self.row.get("moved")
        return "up" if moved and moved > 0 else ("down" if moved and moved < 0 else "")

    @property
    def coverage(self) -> str:
        return pct(self.row["coverage"], 2)

    @property
    def change(self) -> str:
        return points(self.row.get("coverage_change"))

    @property
    def target(self) -> str:
        return self.row.get("target") or "—"

    @property
    def progress(self) -> str:
        return pct(self.row.get("progress"))

    @property
    def progress_rank(self) -> str:
        value = self.row.get("progress_rank")
        return "—" if value is None else str(value)

    @property
    def gap(self) -> int:
        return self.row["gap"]


@dataclass
class NoticeView:
    notice: RankingNotice
    title: str
    lines: list[str]
    rows: list[RowView]
    totals: dict
    movers_up: list[dict]
    movers_down: list[dict]
    gaps: list[dict]

    @property
    def total_coverage(self) -> str:
        return pct(self.totals.get("coverage"), 2)


def view_of(notice: RankingNotice) -> NoticeView:
    summary = notice.summary
    up = {m["code"] for m in summary.get("movers_up", [])}
    down = {m["code"] for m in summary.get("movers_down", [])}
    rows = [
        RowView(r, "up" if r["code"] in up else ("down" if r["code"] in down else ""))
        for r in notice.rows
    ]
    return NoticeView(
        notice=notice,
        title=title_of(notice),
        lines=status_lines(notice),
        rows=rows,
        totals=summary["totals"],
        movers_up=summary.get("movers_up", []),
        movers_down=summary.get("movers_down", []),
        gaps=summary.get("gaps", []),
    )


def movers_text(movers: list[dict], up: bool) -> str:
    if not movers:
        return "无"
    arrow = "上升" if up else "下降"
    return "、".join(
        f"{m['name']}（{arrow} {abs(m['moved'])} 位，第 {m['prev_rank']} → 第 {m['rank']} 名）"
        for m in movers
    )


__all__ = ["NoticeView", "RowView", "movers_text", "pct", "title_of", "view_of"]
