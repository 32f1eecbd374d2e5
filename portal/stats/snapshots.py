"""The daily snapshot: the figures of every region at the end of each day, kept in
`daily_figures` for the trend charts (portal/stats/trends.py).

Grain (migration 0014): regions of levels 1–4 are kept daily, forever; communities daily for the
last KEEP_DAILY_DAYS days, then only the week's last day (Sunday). For a province of ~21 k
communities and ~1.4 k regions above them that is ~1.4 k rows a day (~0.5 M a year: every
dashboard above a community draws 18 months of daily points from one index range scan, and
years of history cost little), plus ~2.1 M community rows for the last 100 days and ~1.1 M a
year after (keeping communities daily for years would be ~7.7 M rows a year for charts nobody
reads day by day that far back; a grid worker's recent weeks stay daily).

What a day's row holds
- Stock figures (persons, excluded, insured, open_files, files, government_paid…): the maintained
  `community_figures` of the insurance year current on that day (years.periods.Calendar), as
  they are when the snapshot runs — just after the day ended. A year nobody has built yet (the
  first days of a collection period before any writer ran) takes the person counts from the
  latest built year (they do not depend on the year) and no files; a year no longer maintained
  has its files counted 0 too (only a day filled long after matters: see below).
- Activity (visits, conversions): that day's `community_activity`, exact whenever taken.
- Parents are the sums of their children's rows of the same day (one INSERT … SELECT per level,
  grouped by parent, reading the rows just written): a parent always equals the sum of its
  children, whatever writers commit meanwhile.

Missed days: each run snapshots every finished day after the last snapshot (the province rows'
latest day), at most TREND_DAYS back; the first run ever snapshots only yesterday. Days before
yesterday are marked `filled`: their stock figures are those at fill time, their activity exact.
Every INSERT is ON CONFLICT DO NOTHING on (region_code, day): a day is never counted twice, and
a second run (or a concurrent one) adds nothing.

Thinning: in the same transaction, community rows that have become older than KEEP_DAILY_DAYS
are deleted unless their day is a Sunday.

The job: registered as the daily scheduled job 'daily_snapshot' (portal/jobs/schedule.py): the
first worker pass after 00:00 China time snapshots the day before. `portal stats snapshot`
runs it by hand.
"""

from datetime import date, timedelta

from sqlalchemy import Boolean, Date, DateTime, Integer, bindparam, text

from portal.jobs.schedule import scheduled
from portal.stats.counts import REASON_CODES, STATE_CODES
from portal.stats.maintain import built_years
from portal.stats.models import TREND_COUNTS
from portal.stats.trends import TREND_DAYS
from portal.timeutil import utcnow
from portal.years.selection import year_calendar

COMMUNITY_LEVEL = 5
KEEP_DAILY_DAYS = 100  # community rows older than this keep only the week's last day
WEEK_LAST_DAY = 6  # date.weekday() of Sunday: China's weeks run Monday to Sunday

# The stock figures of a community: daily_figures column → SQL over community_figures f.
_OPEN = " + ".join(f"f.open_{code}" for code in REASON_CODES)
_FILES = " + ".join(f"f.files_{code}" for code in STATE_CODES)
STOCK = {
    "persons": "f.persons",
    "excluded": "f.excluded",
    "insured": "f.insured",
    "open_files": _OPEN,
    "files": _FILES,
    "government_paid": "f.government_paid",
    "government_paid_insured": "f.government_paid_insured",
    "e_credential": "f.e_credential",
}
FILE_STOCK = ("open_files", "files")
ACTIVITY = ("visits", "conversions")
assert set(STOCK) | set(ACTIVITY) == set(TREND_COUNTS)
_NAMES = ", ".join(TREND_COUNTS)


def _statement(sql: str):
    return text(sql).bindparams(
        bindparam("day", type_=Date()),
        bindparam("now", type_=DateTime()),
        bindparam("filled", type_=Boolean()),
        bindparam("year", type_=Integer()),
    )


def _insert_communities(connection, day: date, year: int, source_year: int | None, params):
    """The community rows of `day`: every community having figures of `source_year` or activity
    on `day`. Returns the rows inserted."""
    values = []
    for name in TREND_COUNTS:
        if name in ACTIVITY:
            values.append(f"COALESCE(a.{name}, 0)")
        elif name in FILE_STOCK and source_year != year:
            values.append("0")  # the files of a year not maintained (module docstring)
        else:
            values.append(f"COALESCE({STOCK[name]}, 0)")
    figures = (
        "SELECT region_code AS code FROM community_figures WHERE year = :source_year UNION "
        if source_year is not None
        else ""
    )
    sql = (
        f"INSERT INTO daily_figures (region_code, day, year, {_NAMES}, filled, taken_at) "
        f"SELECT c.code, :day, :year, {', '.join(values)}, :filled, :now "
        f"FROM ({figures}SELECT region_code AS code FROM community_activity WHERE day = :day) c "
        "JOIN region r ON r.code = c.code "
        "LEFT JOIN community_figures f ON f.year = :source_year AND f.region_code = c.code "
        "LEFT JOIN community_activity a ON a.day = :day AND a.region_code = c.code "
        f"WHERE r.level = {COMMUNITY_LEVEL} "
        "ON CONFLICT (region_code, day) DO NOTHING"
    )
    return connection.execute(
        _statement(sql), {**params, "source_year": source_year if source_year else -1}
    ).rowcount


def _insert_level(connection, level: int, params) -> int:
    """The rows of every region of `level` for the day: the sums of its children's rows of the
    same day (zeros for a region without any)."""
    sums = ", ".join(f"COALESCE(SUM(d.{name}), 0)" for name in TREND_COUNTS)
    sql = (
        f"INSERT INTO daily_figures (region_code, day, year, {_NAMES}, filled, taken_at) "
        f"SELECT p.code, :day, :year, {sums}, :filled, :now FROM region p "
        "LEFT JOIN region c ON c.parent_code = p.code "
        "LEFT JOIN daily_figures d ON d.region_code = c.code AND d.day = :day "
        f"WHERE p.level = {int(level)} GROUP BY p.code "
        "ON CONFLICT (region_code, day) DO NOTHING"
    )
    return connection.execute(_statement(sql), params).rowcount


def snapshot_day(connection, day: date, *, filled: bool, built: list[int] | None = None) -> int:
    """Write the rows of every region for `day` (those not there yet); returns the rows
    written. No commit."""
    year = year_calendar().current_year(day)
    built = built_years(connection) if built is None else built
    source_year = year if year in built else (max(built) if built else None)
    params = {"day": day, "year": year, "filled": filled, "now": utcnow()}
    written = _insert_communities(connection, day, year, source_year, params)
    for level in (4, 3, 2, 1):
        written += _insert_level(connection, level, params)
    return written


def last_snapshot(connection) -> date | None:
    """The latest day the provinces' rows have (one index range per province)."""
    return connection.execute(
        text(
            "SELECT MAX(d.day) AS last FROM daily_figures d "
            "JOIN region r ON r.code = d.region_code WHERE r.level = 1"
        ).columns(last=Date())
    ).scalar()


def days_due(last: date | None, today: date) -> list[date]:
    """The finished days to snapshot: after `last` up to yesterday, at most TREND_DAYS back;
    only yesterday when nothing was ever snapshotted."""
    yesterday = today - timedelta(days=1)
    if last is None:
        return [yesterday]
    first = max(last + timedelta(days=1), today - timedelta(days=TREND_DAYS))
    return [first + timedelta(days=n) for n in range((yesterday - first).days + 1)]


def thin(connection, today: date, since: date) -> int:
    """Delete the community rows of the days from `since` that are older than KEEP_DAILY_DAYS
    and not a week's last day; returns the rows deleted."""
    cutoff = today - timedelta(days=KEEP_DAILY_DAYS)
    days = [
        since + timedelta(days=n)
        for n in range((cutoff - since).days)
        if (since + timedelta(days=n)).weekday() != WEEK_LAST_DAY
    ]
    if not days:
        return 0
    statement = text(
        "DELETE FROM daily_figures WHERE day IN :days AND region_code IN "
        f"(SELECT code FROM region WHERE level = {COMMUNITY_LEVEL})"
    ).bindparams(bindparam("days", expanding=True, type_=Date()))
    return connection.execute(statement, {"days": days}).rowcount


def take_snapshots(connection, today: date, *, day: date | None = None) -> list[date]:
    """Snapshot every finished day not snapshotted yet (or only `day`), then thin the community
    rows; returns the days written. No commit."""
    yesterday = today - timedelta(days=1)
    last = last_snapshot(connection)
    if day is not None:
        if day >= today:
            raise ValueError(f"{day} has not ended yet")
        days = [day]
    else:
        days = days_due(last, today)
    built = built_years(connection)
    written = [d for d in days if snapshot_day(connection, d, filled=d != yesterday, built=built)]
    # The community rows that crossed the cutoff since the last run (a week's margin).
    start = min([*days, (last or yesterday) + timedelta(days=1)])
    thin(connection, today, start - timedelta(days=KEEP_DAILY_DAYS + 7))
    return written


@scheduled("daily_snapshot", "daily")
def daily_snapshot(today: date) -> str:
    """The scheduled job: run after 00:00 China time, it snapshots the day before (and any day
    missed since the last snapshot)."""
    from portal.extensions import db

    days = take_snapshots(db.session.connection(), today)
    filled = sum(1 for d in days if d != today - timedelta(days=1))
    if not days:
        return "无需记录：已是最新。"
    extra = f"（其中补记 {filled} 天）" if filled else ""
    return f"已记录 {len(days)} 天的统计快照{extra}。"


__all__ = [
    "KEEP_DAILY_DAYS",
    "daily_snapshot",
    "days_due",
    "last_snapshot",
    "snapshot_day",
    "take_snapshots",
    "thin",
]
