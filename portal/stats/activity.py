"""Visits and conversions per day: `community_activity`, kept exact by the writers, and the sums
the dashboards read (本周 / 本月 / 本年度).

What is counted, per (China-time day, community):
- visits: the visit rows (走访记录) of the community whose `at` falls on that local day (China
  time: `at` + 8 h). A visit counts in the community of its file when it was recorded; a
  pending closure proposal that follows its file to another community (persons/moves.py)
  counts there from then on.
- conversions (走访转化): the files of the community that are closed as enrolled (state
  'enrolled') after at least one visit (last_visit_at not null), on the local day they were
  closed (closed_at). A file the comparison reopens is no longer a conversion of the day it
  had closed; closed again later, it counts on that day.

How each writer keeps it, in its own transaction, after its `maintain.refresh` (the figures'
rows are locked before the activity rows: every writer takes them in that order):
- a visit (visits/operations.record_visit) adds one to its (day, community) row: one atomic
  upsert (`count_visit`) — concurrent visits of a community queue on the row and each adds
  its own, nothing is lost or doubled. A visit never changes a conversion: an enrolled file
  cannot be visited (workflow/transitions._VISITABLE).
- a comparison (the only writer closing files as enrolled, and reopening them) recomputes the
  conversions of every day of the region's communities from the base tables
  (`refresh_conversions`: rows locked in key order, then one aggregate of the region's enrolled
  visited files): a reopened file may have closed on any earlier day.
- files following their persons (persons/moves.py via maintain.refresh_moves) take pending
  proposals along: the visits of the days those proposals were made are recomputed for the
  communities the files left and joined (`refresh_moved_visits`).
- `portal stats rebuild` recomputes every row from the base tables (`rebuild`), `portal stats
  verify` compares them with a direct count (`differences`).

Reading (`activity`): a sum over the region's community rows for a range of days. The daily
snapshot (portal/stats/snapshots.py) copies each finished day into `daily_figures` for the
regions of levels 1–4: for those, the days having a snapshot row are read from there (one row
per day instead of every community's) and only the other days (today at least, and any day the
snapshot has not yet taken) from `community_activity`. A snapshot holds a day as it was when
taken; a later reopening or moved proposal changes `community_activity` only.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, bindparam, text

from portal.regions.codes import subtree_bounds
from portal.timeutil import local_today, to_local

TABLE = "community_activity"
COUNTED = ("visits", "conversions")
TOUCHED = "activity_touched"
COMMUNITY_LEVEL = 5


def local_day(connection, column: str) -> str:
    """SQL: the China-time date of a naive-UTC timestamp column, stored as Date stores it."""
    if connection.dialect.name == "postgresql":
        return f"CAST({column} + INTERVAL '8 hours' AS DATE)"
    return f"DATE({column}, '+8 hours')"


def _dated(sql: str, *names: str):
    statement = text(sql)
    if names:
        statement = statement.bindparams(*(bindparam(n, type_=Date()) for n in names))
    return statement


# --- the definitions as SQL -------------------------------------------------------------------


def _visit_counts(connection, where: str) -> str:
    """SQL: (day, region_code, visits) of the visits satisfying `where` (over visit v)."""
    day = local_day(connection, "v.at")
    return (
        f"SELECT {day} AS day, v.region_code AS region_code, COUNT(*) AS visits "
        f"FROM visit v WHERE {where} GROUP BY {day}, v.region_code"
    )


CONVERTED = "f.state = 'enrolled' AND f.last_visit_at IS NOT NULL AND f.closed_at IS NOT NULL"


def _conversion_counts(connection, where: str) -> str:
    """SQL: (day, region_code, conversions) of the files satisfying `where` (over person_file f)."""
    day = local_day(connection, "f.closed_at")
    return (
        f"SELECT {day} AS day, f.region_code AS region_code, COUNT(*) AS conversions "
        f"FROM person_file f WHERE {CONVERTED} AND {where} GROUP BY {day}, f.region_code"
    )


# --- the writers ------------------------------------------------------------------------------


def count_visit(connection, region_code: str, at: datetime) -> None:
    """One visit of `region_code` recorded at `at` (naive UTC): +1 on its day's row."""
    connection.execute(
        _dated(
            f"INSERT INTO {TABLE} (day, region_code, visits, conversions) "
            "VALUES (:day, :code, 1, 0) ON CONFLICT (day, region_code) "
            f"DO UPDATE SET visits = {TABLE}.visits + 1",
            "day",
        ),
        {"day": to_local(at).date(), "code": region_code},
    )


def _lock(connection, where: str, params: dict) -> None:
    """PostgreSQL: lock the rows satisfying `where` in key order (every writer's order); the
    next statement takes a new snapshot, which sees what the lock holders committed."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(f"SELECT 1 FROM {TABLE} WHERE {where} ORDER BY day, region_code FOR UPDATE"),
            params,
        ).all()


def refresh_conversions(connection, *, prefix: str) -> None:
    """Recompute the conversions of every day of the communities under `prefix` (a comparison
    of that region closes and reopens files there)."""
    lo, hi = subtree_bounds(prefix)
    params = {"lo": lo, "hi": hi}
    in_region = "region_code BETWEEN :lo AND :hi"
    counted = _conversion_counts(connection, "f.region_code BETWEEN :lo AND :hi")
    connection.execute(
        text(
            f"INSERT INTO {TABLE} (day, region_code, visits, conversions) "
            f"SELECT c.day, c.region_code, 0, 0 FROM ({counted}) c WHERE 1 = 1 "
            "ON CONFLICT (day, region_code) DO NOTHING"
        ),
        params,
    )
    # The rows holding conversions now and those about to: the row-value IN is PostgreSQL's
    # (SQLite takes no row locks: its write lock serialises the writers).
    _lock(
        connection,
        f"{in_region} AND (conversions <> 0 OR (day, region_code) IN "
        f"(SELECT c.day, c.region_code FROM ({counted}) c))",
        params,
    )
    converted = CONVERTED.replace("f.", "f2.")
    connection.execute(
        text(
            f"UPDATE {TABLE} SET conversions = 0 WHERE {in_region} AND conversions <> 0 "
            f"AND NOT EXISTS (SELECT 1 FROM person_file f2 WHERE "
            f"f2.region_code = {TABLE}.region_code AND {converted} "
            f"AND {local_day(connection, 'f2.closed_at')} = {TABLE}.day)"
        ),
        params,
    )
    connection.execute(
        text(
            f"INSERT INTO {TABLE} (day, region_code, visits, conversions) "
            f"SELECT c.day, c.region_code, 0, c.conversions FROM ({counted}) c WHERE 1 = 1 "
            "ON CONFLICT (day, region_code) DO UPDATE SET conversions = excluded.conversions"
        ),
        params,
    )


def refresh_moved_visits(connection, plan: str) -> None:
    """After files followed their persons (`plan`: file_id, from_region, to_region): the visits
    of the days of the pending proposals they took along, in the communities left and joined."""
    postgres = connection.dialect.name == "postgresql"
    day = local_day(connection, "v.at")
    moved = f"FROM visit v JOIN {plan} m ON m.file_id = v.file_id WHERE v.review_state = 'pending'"
    if not connection.execute(text(f"SELECT 1 {moved} LIMIT 1")).first():
        return
    suffix = " ON COMMIT DROP" if postgres else ""
    connection.execute(text(f"DROP TABLE IF EXISTS {TOUCHED}"))
    connection.execute(
        text(
            f"CREATE TEMPORARY TABLE {TOUCHED} (day DATE NOT NULL, "
            f"region_code VARCHAR(12) NOT NULL){suffix}"
        )
    )
    connection.execute(
        text(
            f"INSERT INTO {TOUCHED} (day, region_code) "
            f"SELECT {day}, m.from_region {moved} UNION SELECT {day}, m.to_region {moved}"
        )
    )
    touched = (
        f"EXISTS (SELECT 1 FROM {TOUCHED} t WHERE t.day = {TABLE}.day "
        f"AND t.region_code = {TABLE}.region_code)"
    )
    connection.execute(
        text(
            f"INSERT INTO {TABLE} (day, region_code, visits, conversions) "
            f"SELECT day, region_code, 0, 0 FROM {TOUCHED} WHERE 1 = 1 "
            "ON CONFLICT (day, region_code) DO NOTHING"
        )
    )
    _lock(connection, touched, {})
    counted = (
        f"SELECT COUNT(*) FROM visit v WHERE v.region_code = {TABLE}.region_code "
        f"AND {day} = {TABLE}.day"
    )
    connection.execute(text(f"UPDATE {TABLE} SET visits = ({counted}) WHERE {touched}"))
    connection.execute(text(f"DROP TABLE {TOUCHED}"))


# --- rebuild and verify -----------------------------------------------------------------------


def _direct(connection) -> str:
    """SQL: (day, region_code, visits, conversions) of every non-zero (day, community) whose
    code lies between :lo and :hi, straight from the base tables."""
    visits = _visit_counts(connection, "v.region_code BETWEEN :lo AND :hi")
    conversions = _conversion_counts(connection, "f.region_code BETWEEN :lo AND :hi")
    return (
        "SELECT day, region_code, SUM(visits) AS visits, SUM(conversions) AS conversions FROM ("
        f"SELECT day, region_code, visits, 0 AS conversions FROM ({visits}) v2 UNION ALL "
        f"SELECT day, region_code, 0 AS visits, conversions FROM ({conversions}) c2"
        ") a GROUP BY day, region_code"
    )


def rebuild(connection, *, prefix: str | None = None) -> None:
    """Recompute every row under `prefix` (all, when None) from the base tables, set-based."""
    lo, hi = subtree_bounds(prefix or "")
    params = {"lo": lo, "hi": hi}
    connection.execute(text(f"DELETE FROM {TABLE} WHERE region_code BETWEEN :lo AND :hi"), params)
    connection.execute(
        text(
            f"INSERT INTO {TABLE} (day, region_code, visits, conversions) "
            f"SELECT day, region_code, visits, conversions FROM ({_direct(connection)}) d"
        ),
        params,
    )


def differences(connection, *, prefix: str = "") -> dict[tuple[date, str], dict[str, tuple]]:
    """Every (day, community) under `prefix` whose stored row differs from a direct count:
    {(day, code): {column: (stored, counted)}} (a missing row is stored as zeros)."""
    lo, hi = subtree_bounds(prefix)
    params = {"lo": lo, "hi": hi}

    def rows(sql: str) -> dict[tuple[date, str], dict[str, int]]:
        result = connection.execute(text(sql).columns(day=Date()), params).mappings()
        return {
            (_as_date(r["day"]), r["region_code"]): {k: int(r[k] or 0) for k in COUNTED}
            for r in result
        }

    stored = rows(
        f"SELECT day, region_code, visits, conversions FROM {TABLE} "
        "WHERE region_code BETWEEN :lo AND :hi AND (visits <> 0 OR conversions <> 0)"
    )
    counted = rows(f"SELECT day, region_code, visits, conversions FROM ({_direct(connection)}) d")
    zero = dict.fromkeys(COUNTED, 0)
    result = {}
    for key in sorted(set(stored) | set(counted)):
        have, want = stored.get(key, zero), counted.get(key, zero)
        diff = {k: (have[k], want[k]) for k in COUNTED if have[k] != want[k]}
        if diff:
            result[key] = diff
    return result


def _as_date(value) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    visits: int = 0
    conversions: int = 0


def _missing_ranges(since: date, until: date, have: set[date]) -> list[tuple[date, date]]:
    """The runs of consecutive days of [since, until] not in `have`."""
    ranges: list[tuple[date, date]] = []
    day = since
    start = None
    while day <= until:
        if day in have:
            if start is not None:
                ranges.append((start, day - timedelta(days=1)))
                start = None
        elif start is None:
            start = day
        day += timedelta(days=1)
    if start is not None:
        ranges.append((start, until))
    return ranges


def activity(
    region_code: str, since: date, until: date, *, today: date | None = None
) -> tuple[int, int]:
    """(visits, conversions) of the region (any level) over the days since..until (China time,
    both included). No scope check: the views check permissions before calling."""
    from portal.extensions import db
    from portal.stats.figures import _region

    if until < since:
        return 0, 0
    region = _region(region_code)
    connection = db.session.connection()
    today = today or local_today()
    visits = conversions = 0
    snapshotted: set[date] = set()
    last_finished = min(until, today - timedelta(days=1))
    if region.level < COMMUNITY_LEVEL and last_finished >= since:
        rows = connection.execute(
            _dated(
                "SELECT day, visits, conversions FROM daily_figures WHERE region_code = :code "
                "AND day BETWEEN :since AND :last",
                "since",
                "last",
            ).columns(day=Date()),
            {"code": region.code, "since": since, "last": last_finished},
        ).all()
        for day, day_visits, day_conversions in rows:
            snapshotted.add(_as_date(day))
            visits += int(day_visits or 0)
            conversions += int(day_conversions or 0)
    ranges = _missing_ranges(since, until, snapshotted)
    if ranges:
        lo, hi = subtree_bounds(region.prefix)
        params: dict = {"lo": lo, "hi": hi}
        names = []
        terms = []
        for index, (first, last) in enumerate(ranges):
            params[f"a{index}"], params[f"b{index}"] = first, last
            names += [f"a{index}", f"b{index}"]
            terms.append(f"day BETWEEN :a{index} AND :b{index}")
        row = connection.execute(
            _dated(
                "SELECT COALESCE(SUM(visits), 0), COALESCE(SUM(conversions), 0) "
                f"FROM {TABLE} WHERE ({' OR '.join(terms)}) "
                "AND region_code BETWEEN :lo AND :hi",
                *names,
            ),
            params,
        ).one()
        visits += int(row[0])
        conversions += int(row[1])
    return visits, conversions


@dataclass(frozen=True)
class Period:
    key: str  # week, month, year
    label: str
    since: date
    until: date


def periods(year: int, today: date | None = None, calendar=None) -> list[Period]:
    """本周 (Monday to today), 本月 (the 1st to today) and 本年度: insurance year `year` counts
    from the day its collection period opens (1 September of year − 1 by default) until the
    day before the next year's opens, and no later than today — the days offices work on that
    year's files (years.periods.Calendar.current_year)."""
    from portal.years.selection import year_calendar

    today = today or local_today()
    calendar = calendar or year_calendar()
    opens, _ = calendar.collection_period(year)
    next_opens, _ = calendar.collection_period(year + 1)
    return [
        Period("week", "本周", today - timedelta(days=today.weekday()), today),
        Period("month", "本月", today.replace(day=1), today),
        Period(
            "year",
            "本年度" if year == calendar.current_year(today) else f"{year}年度",
            opens,
            min(today, next_opens - timedelta(days=1)),
        ),
    ]


def region_activity(region_code: str, year: int, today: date | None = None):
    """[(period, Activity)] for the dashboard: this week, this month, insurance year `year`."""
    today = today or local_today()
    result = []
    for period in periods(year, today):
        visits, conversions = activity(region_code, period.since, period.until, today=today)
        result.append((period, Activity(visits, conversions)))
    return result
