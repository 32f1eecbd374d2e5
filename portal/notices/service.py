"""Issuing the monthly ranking notice (通报, 比学赶超) and reading the notices kept.

A notice of a region for a month ranks its child regions by coverage (参保率 = insured ÷ must be
insured) and by progress to the target the region set them, with each child's rank in the
previous month's final notice of the same region and the places it moved, the biggest movers
up and down, the government-paid gap (the six key populations the government pays for must
reach 100 %) and the month's visits and conversions. It is stored (RankingNotice: `rows`,
`summary`) and read as stored: a notice is history, never recomputed when viewed.

Where the figures come from, month `m` (China time):
- a month that has ended: the daily snapshot of its last day (`daily_figures`, written just
  after midnight; `filled` when the snapshot job caught the day up later, its stock figures
  then being those of the catch-up) when it holds the children's level; otherwise (the notice
  job ran before the snapshot committed) the live figures, as at `taken_at`;
- the current month (on demand): the live figures (`community_figures`), as at `taken_at`;
- visits and conversions: the month's days of `community_activity` (exact whenever read).
`summary` says which (`source`, `as_of`, `filled`) and how late the notice was taken
(`late_days`): a notice taken days after its month says so rather than pretend.

Set-based: a month's notices of a whole level (a province has ~1,400 parents) come from one
grouped query per source and level — children's figures, their targets, their activity, the
previous month's notices — then a ranking per parent in Python over those few rows, and one
INSERT of all the notices. Scope is NOT checked here: views and commands check permissions.
Services flush, never commit.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, DateTime, bindparam, delete, insert, select, text

from portal.extensions import db
from portal.imports.apply import serialize
from portal.notices.models import RankingNotice
from portal.regions.codes import LEVEL_NAMES, PREFIX_LENGTH, subtree_bounds
from portal.regions.models import Region
from portal.stats.snapshots import COMMUNITY_LEVEL, KEEP_DAILY_DAYS
from portal.targets.models import RATE_SCALE, RegionTarget
from portal.targets.service import progress, target_label
from portal.timeutil import CHINA, local_today, utcnow
from portal.years.selection import year_calendar

PARENT_LEVELS = (1, 2, 3, 4)  # province, city, county, township: the levels with children
LATE_AFTER = timedelta(days=1)  # a final notice taken later than this after its month is late
FIGURES = (
    "must_insure",
    "insured",
    "government_paid",
    "government_paid_insured",
    "visits",
    "conversions",
)


class NoticeError(ValueError):
    """A notice that cannot be issued; the message is Chinese, for the user."""


# --- months -----------------------------------------------------------------------------------


NOTICE_LOCK = 7103  # beside imports/apply.py PERSON_LOCK and ENROLLMENT_LOCK


def first_of(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    """The last day of the month beginning `month`."""
    return next_month(month) - timedelta(days=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def parse_month(value) -> date | None:
    """ "2026-11" (or "2026-11-01") → 2026-11-01; None when unreadable."""
    if not value:
        return None
    text_value = str(value).strip()
    try:
        year, month = text_value.split("-")[:2]
        return date(int(year), int(month), 1)
    except ValueError:
        return None


def month_label(month: date) -> str:
    return f"{month.year}年{month.month}月"


def ended(month: date, today: date) -> bool:
    return month_end(month) < today


def notice_year(month: date, today: date) -> int:
    """The insurance year a notice of `month` ranks: the year current at the month's end (or
    today, for the month under way)."""
    return year_calendar().current_year(min(month_end(month), today))


# --- the children's figures, one grouped query per level --------------------------------------


@dataclass
class ChildFigures:
    """One child region's figures as a notice ranks them."""

    code: str
    name: str
    parent_code: str
    must_insure: int = 0
    insured: int = 0
    government_paid: int = 0
    government_paid_insured: int = 0
    visits: int = 0
    conversions: int = 0


@dataclass
class Source:
    """Where a level's stock figures came from."""

    kind: str  # 'snapshot' | 'live'
    as_of: datetime | None = None  # naive UTC
    filled: bool = False


def _bounds_sql(column: str, bounds: tuple[str, str] | None) -> str:
    return f" AND {column} BETWEEN :lo AND :hi" if bounds else ""


def _bounds_params(bounds: tuple[str, str] | None) -> dict:
    return {"lo": bounds[0], "hi": bounds[1]} if bounds else {}


def _children(level: int, bounds, parents: list[str] | None) -> dict[str, ChildFigures]:
    """Every region of `level` + 1 (under `bounds`; of `parents` only when given), keyed by code."""
    query = select(Region.code, Region.name, Region.parent_code).where(Region.level == level + 1)
    if bounds:
        query = query.where(Region.code.between(*bounds))
    if parents is not None:
        query = query.where(Region.parent_code.in_(parents))
    return {
        code: ChildFigures(code, name, parent)
        for code, name, parent in db.session.execute(query.order_by(Region.code))
    }


def _snapshot_exists(level: int, day: date, bounds) -> bool:
    sql = (
        "SELECT 1 FROM daily_figures d JOIN region r ON r.code = d.region_code "
        f"WHERE d.day = :day AND r.level = {int(level) + 1}{_bounds_sql('d.region_code', bounds)} "
        "LIMIT 1"
    )
    statement = text(sql).bindparams(bindparam("day", type_=Date()))
    return db.session.execute(statement, {"day": day, **_bounds_params(bounds)}).first() is not None


def _from_snapshot(level: int, day: date, bounds, children: dict[str, ChildFigures]) -> Source:
    """The children's stock figures of the snapshot of `day` (one query)."""
    sql = (
        "SELECT d.region_code, d.persons - d.excluded AS must_insure, d.insured, "
        "d.government_paid, d.government_paid_insured, d.filled, d.taken_at "
        "FROM daily_figures d JOIN region r ON r.code = d.region_code "
        f"WHERE d.day = :day AND r.level = {int(level) + 1}{_bounds_sql('d.region_code', bounds)}"
    )
    statement = text(sql).bindparams(bindparam("day", type_=Date())).columns(taken_at=DateTime())
    source = Source("snapshot")
    stamps = []
    for row in db.session.execute(statement, {"day": day, **_bounds_params(bounds)}).mappings():
        child = children.get(row["region_code"])
        if child is None:
            continue
        child.must_insure = int(row["must_insure"])
        child.insured = int(row["insured"])
        child.government_paid = int(row["government_paid"])
        child.government_paid_insured = int(row["government_paid_insured"])
        source.filled = source.filled or bool(row["filled"])
        stamps.append(row["taken_at"])
    source.as_of = max(stamps) if stamps else None
    return source


def _from_live(
    level: int, year: int, bounds, children: dict[str, ChildFigures], now: datetime
) -> Source:
    """The children's stock figures now: the maintained community rows of `year`, summed per
    child (one grouped range scan)."""
    length = PREFIX_LENGTH[level + 1]
    sql = (
        f"SELECT SUBSTR(region_code, 1, {length}) AS grp, "
        "SUM(persons) - SUM(excluded) AS must_insure, SUM(insured) AS insured, "
        "SUM(government_paid) AS government_paid, "
        "SUM(government_paid_insured) AS government_paid_insured "
        f"FROM community_figures WHERE year = :year{_bounds_sql('region_code', bounds)} "
        f"GROUP BY SUBSTR(region_code, 1, {length})"
    )
    by_prefix = {code[:length]: child for code, child in children.items()}
    for row in db.session.execute(text(sql), {"year": year, **_bounds_params(bounds)}).mappings():
        child = by_prefix.get(row["grp"])
        if child is None:
            continue
        child.must_insure = int(row["must_insure"] or 0)
        child.insured = int(row["insured"] or 0)
        child.government_paid = int(row["government_paid"] or 0)
        child.government_paid_insured = int(row["government_paid_insured"] or 0)
    return Source("live", now)


def _activity(level: int, first: date, last: date, bounds, children) -> None:
    """The children's visits and conversions of the days `first`..`last` (one grouped query)."""
    length = PREFIX_LENGTH[level + 1]
    sql = (
        f"SELECT SUBSTR(region_code, 1, {length}) AS grp, SUM(visits) AS visits, "
        "SUM(conversions) AS conversions FROM community_activity "
        f"WHERE day BETWEEN :first AND :last{_bounds_sql('region_code', bounds)} "
        f"GROUP BY SUBSTR(region_code, 1, {length})"
    )
    statement = text(sql).bindparams(
        bindparam("first", type_=Date()), bindparam("last", type_=Date())
    )
    by_prefix = {code[:length]: child for code, child in children.items()}
    params = {"first": first, "last": last, **_bounds_params(bounds)}
    for row in db.session.execute(statement, params).mappings():
        child = by_prefix.get(row["grp"])
        if child is not None:
            child.visits = int(row["visits"] or 0)
            child.conversions = int(row["conversions"] or 0)


def _targets(level: int, year: int, bounds, parents) -> dict[str, RegionTarget]:
    children = select(Region.code).where(Region.level == level + 1)
    if bounds:
        children = children.where(Region.code.between(*bounds))
    if parents is not None:
        children = children.where(Region.parent_code.in_(parents))
    rows = db.session.scalars(
        select(RegionTarget).where(
            RegionTarget.year == year, RegionTarget.region_code.in_(children)
        )
    )
    return {t.region_code: t for t in rows}


def _previous(parents: list[str], month: date) -> dict[str, RankingNotice]:
    """The final notices of the month before `month` of these parents (one query per 1,000)."""
    found = {}
    for start in range(0, len(parents), 1000):
        chunk = parents[start : start + 1000]
        for notice in db.session.scalars(
            select(RankingNotice).where(
                RankingNotice.month == previous_month(month),
                RankingNotice.final.is_(True),
                RankingNotice.region_code.in_(chunk),
            )
        ):
            found[notice.region_code] = notice
    return found


# --- ranking ----------------------------------------------------------------------------------


class _Coverage:
    """Quacks like stats Figures for targets.progress."""

    def __init__(self, child: ChildFigures):
        self.insured = child.insured
        self.coverage = child.insured / child.must_insure if child.must_insure else None


def _rank(values: dict[str, float | None]) -> dict[str, int | None]:
    """Competition ranking, highest first (1, 2, 2, 4); None for a value of None."""
    ordered = sorted((v for v in values.values() if v is not None), reverse=True)
    first_at: dict[float, int] = {}
    for index, value in enumerate(ordered, start=1):
        first_at.setdefault(value, index)
    return {code: None if v is None else first_at[v] for code, v in values.items()}


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def rank_children(
    children: list[ChildFigures],
    targets: dict[str, RegionTarget],
    previous: RankingNotice | None,
) -> tuple[list[dict], dict]:
    """The rows of one notice (ranked by coverage, then code) and what the summary says of
    them: movers, gaps, totals. Pure: the tests' hand-computed worlds call it too."""
    before = {r["code"]: r for r in (previous.rows if previous is not None else [])}
    coverage = {c.code: _Coverage(c).coverage for c in children}
    progresses = {c.code: progress(targets.get(c.code), _Coverage(c)) for c in children}
    ranks = _rank({code: _round(v) for code, v in coverage.items()})
    progress_ranks = _rank({code: _round(v) for code, v in progresses.items()})
    rows = []
    for child in children:
        target = targets.get(child.code)
        old = before.get(child.code) or {}
        prev_rank = old.get("rank")
        rank = ranks[child.code]
        moved = prev_rank - rank if (prev_rank is not None and rank is not None) else None
        prev_coverage = old.get("coverage")
        cov = coverage[child.code]
        rows.append(
            {
                "code": child.code,
                "name": child.name,
                "must_insure": child.must_insure,
                "insured": child.insured,
                "uninsured": child.must_insure - child.insured,
                "coverage": _round(cov),
                "rank": rank,
                "prev_rank": prev_rank,
                "moved": moved,
                "prev_coverage": prev_coverage,
                "coverage_change": (
                    _round(cov - prev_coverage)
                    if cov is not None and prev_coverage is not None
                    else None
                ),
                "target": target_label(target) if target else None,
                "target_rate": (target.value / RATE_SCALE)
                if target and target.kind == "rate"
                else None,
                "target_count": target.value if target and target.kind == "count" else None,
                "progress": _round(progresses[child.code]),
                "progress_rank": progress_ranks[child.code],
                "government_paid": child.government_paid,
                "government_paid_insured": child.government_paid_insured,
                "gap": child.government_paid - child.government_paid_insured,
                "visits": child.visits,
                "conversions": child.conversions,
            }
        )
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))
    moves = [r for r in rows if r["moved"]]
    up = max((r["moved"] for r in moves if r["moved"] > 0), default=None)
    down = min((r["moved"] for r in moves if r["moved"] < 0), default=None)
    totals = {name: sum(c.__dict__[name] for c in children) for name in FIGURES}
    totals["uninsured"] = totals["must_insure"] - totals["insured"]
    totals["gap"] = totals["government_paid"] - totals["government_paid_insured"]
    totals["coverage"] = (
        _round(totals["insured"] / totals["must_insure"]) if totals["must_insure"] else None
    )
    summary = {
        "totals": totals,
        "children": len(rows),
        "ranked": sum(1 for r in rows if r["rank"] is not None),
        "movers_up": [_mover(r) for r in rows if up is not None and r["moved"] == up],
        "movers_down": [_mover(r) for r in rows if down is not None and r["moved"] == down],
        "gaps": [
            {"code": r["code"], "name": r["name"], "gap": r["gap"]} for r in rows if r["gap"] > 0
        ],
        "previous_id": previous.id if previous is not None else None,
        "previous_month": previous.month.isoformat() if previous is not None else None,
    }
    return rows, summary


def _mover(row: dict) -> dict:
    return {
        "code": row["code"],
        "name": row["name"],
        "moved": row["moved"],
        "rank": row["rank"],
        "prev_rank": row["prev_rank"],
    }


# --- issuing ----------------------------------------------------------------------------------


@dataclass
class Issued:
    """What one issuing pass did."""

    month: date
    notices: int = 0
    skipped: list[str] = field(default_factory=list)  # Chinese reasons
    ids: list[int] = field(default_factory=list)


def _late_days(month: date, now: datetime) -> int:
    """Whole days after the month's end (China time) at which `now` falls; 0 within LATE_AFTER."""
    local = now + CHINA
    end = datetime.combine(next_month(month), datetime.min.time())
    late = local - end
    return late.days if late > LATE_AFTER else 0


def _issue_level(
    level: int,
    month: date,
    *,
    final: bool,
    now: datetime,
    today: date,
    by_id: int | None,
    bounds: tuple[str, str] | None = None,
    parents: list[str] | None = None,
    taken_at: datetime | None = None,
) -> Issued:
    """The notices of every parent of `level` (under `bounds`; only `parents` when given)
    that has children; a final notice is not issued twice for a parent and month."""
    issued = Issued(month)
    first, last = month, month_end(month)
    year = notice_year(month, today)
    children = _children(level, bounds, parents)
    if not children:
        return issued
    by_parent: dict[str, list[ChildFigures]] = defaultdict(list)
    for child in children.values():
        by_parent[child.parent_code].append(child)
    codes = sorted(by_parent)
    if final:
        done = set()
        for start in range(0, len(codes), 1000):
            done |= set(
                db.session.scalars(
                    select(RankingNotice.region_code).where(
                        RankingNotice.month == month,
                        RankingNotice.final.is_(True),
                        RankingNotice.region_code.in_(codes[start : start + 1000]),
                    )
                )
            )
        codes = [c for c in codes if c not in done]
        if not codes:
            return issued
    if ended(month, today):
        thinned = level + 1 == COMMUNITY_LEVEL and (
            (today - last).days > KEEP_DAILY_DAYS and last.weekday() != 6
        )
        if _snapshot_exists(level, last, bounds) and not thinned:
            source = _from_snapshot(level, last, bounds, children)
        elif next_month(month) == first_of(today) or not final:
            source = _from_live(level, year, bounds, children, now)
        else:
            issued.skipped.append(
                f"{LEVEL_NAMES[level]}级：{month_label(month)}月末的统计快照已不存在，无法补发通报"
            )
            return issued
    else:
        source = _from_live(level, year, bounds, children, now)
    _activity(level, first, min(last, today), bounds, children)
    targets = _targets(level, year, bounds, parents)
    previous = _previous(codes, month)
    names_query = select(Region.code, Region.name).where(Region.level == level)
    if bounds:
        names_query = names_query.where(Region.code.between(*bounds))
    names = {code: name for code, name in db.session.execute(names_query)}
    stamp = taken_at or now
    late = _late_days(month, stamp) if final else 0
    values = []
    for code in codes:
        rows, summary = rank_children(by_parent[code], targets, previous.get(code))
        summary |= {
            "region_name": names.get(code, code),
            "level": level,
            "year": year,
            "month": month.isoformat(),
            "source": source.kind,
            "as_of": (source.as_of or stamp).isoformat(timespec="seconds"),
            "filled": source.filled,
            "late_days": late,
            "activity_until": min(last, today).isoformat(),
        }
        values.append(
            {
                "region_code": code,
                "year": year,
                "month": month,
                "final": final,
                "taken_at": stamp,
                "taken_by_id": by_id,
                "rows": rows,
                "summary": summary,
            }
        )
    # A notice issued on demand during the month is replaced by the next one (and by the final);
    # two issuing at once take turns, so that the second replaces the first (one notice stays).
    serialize(db.session.connection(), NOTICE_LOCK)
    for start in range(0, len(codes), 1000):
        db.session.execute(
            delete(RankingNotice)
            .where(
                RankingNotice.month == month,
                RankingNotice.final.is_(False),
                RankingNotice.region_code.in_(codes[start : start + 1000]),
            )
            .execution_options(synchronize_session=False)
        )
    if values:
        db.session.execute(insert(RankingNotice), values)
    issued.notices = len(values)
    return issued


def issue_month(
    month: date,
    *,
    now: datetime | None = None,
    region: Region | None = None,
    levels=PARENT_LEVELS,
    taken_at: datetime | None = None,
) -> Issued:
    """The notices of `month` for every region with children (under `region`, itself
    included, when given): the scheduled job, and `portal notices issue`. An ended month gets
    final notices (a region having its final notice of the month already is left as it is);
    the month under way gets notices on demand (not final). `taken_at` (default `now`) is the
    time recorded: only the demo's invented past sets it. No commit. Raises NoticeError."""
    now = now or utcnow()
    today = (now + CHINA).date()
    if month > first_of(today):
        raise NoticeError(f"{month_label(month)}尚未开始，不能发布通报")
    final = ended(month, today)
    bounds = subtree_bounds(region.prefix) if region is not None else None
    total = Issued(month)
    for level in levels:
        if region is not None and level < region.level:
            continue
        parents = [region.code] if region is not None and level == region.level else None
        done = _issue_level(
            level, month, final=final, now=now, today=today, by_id=None,
            bounds=bounds, parents=parents, taken_at=taken_at,
        )  # fmt: skip
        total.notices += done.notices
        total.skipped += done.skipped
    db.session.flush()
    return total


def issue_now(region: Region, actor=None, *, now: datetime | None = None) -> RankingNotice:
    """A notice of the current month for one region, on demand (not final: replaced by the
    next one and by the month's final notice). No commit. Raises NoticeError."""
    now = now or utcnow()
    today = (now + CHINA).date()
    month = first_of(today)
    if region.level not in PARENT_LEVELS:
        raise NoticeError(f"{region.name}没有下级区划，无需发布通报")
    done = _issue_level(
        region.level, month, final=False, now=now, today=today,
        by_id=getattr(actor, "id", None), bounds=subtree_bounds(region.prefix),
        parents=[region.code],
    )  # fmt: skip
    if not done.notices:
        raise NoticeError(f"{region.name}没有下级区划，无需发布通报")
    db.session.flush()
    notice = latest(region.code, month)
    assert notice is not None
    return notice


# --- reading ----------------------------------------------------------------------------------


def latest(region_code: str, month: date | None = None) -> RankingNotice | None:
    """The region's notice of `month` (the final one if any, else the latest on demand), or
    its latest notice of all when `month` is None."""
    query = select(RankingNotice).where(RankingNotice.region_code == region_code)
    if month is not None:
        query = query.where(RankingNotice.month == month)
    return db.session.scalars(
        query.order_by(
            RankingNotice.month.desc(), RankingNotice.final.desc(), RankingNotice.taken_at.desc()
        ).limit(1)
    ).first()


def months_of(region_code: str) -> list[tuple[date, bool]]:
    """(month, final) of every notice the region has, newest first."""
    rows = db.session.execute(
        select(RankingNotice.month, RankingNotice.final)
        .where(RankingNotice.region_code == region_code)
        .order_by(RankingNotice.month.desc(), RankingNotice.final.desc())
    ).all()
    seen, result = set(), []
    for month, final in rows:
        if month not in seen:
            seen.add(month)
            result.append((month, bool(final)))
    return result


def get_notice(notice_id: int) -> RankingNotice | None:
    return db.session.get(RankingNotice, notice_id)


def local_month_today() -> date:
    return first_of(local_today())


__all__ = [
    "NoticeError",
    "PARENT_LEVELS",
    "get_notice",
    "issue_month",
    "issue_now",
    "latest",
    "month_end",
    "month_label",
    "months_of",
    "parse_month",
    "previous_month",
    "rank_children",
]
