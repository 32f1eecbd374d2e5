"""DEMO ONLY: a year of invented daily history in `daily_figures`, so that the demo's trend charts
have something to draw before the daily snapshot job has run for months.

Nothing here is real data. The demo database has no persons before its 比对, so the history is
synthetic: every community of 阜宁县 (the county of the sample workbooks) gets a fixed invented
population, and its coverage follows the insurance calendar — it starts low when a collection
period opens (1 September), rises through it, stays flat after it closes, and drops back when
the next year's period opens; open files are the uninsured; visits and conversions happen during
the collection period. Rows are written for Funing's communities (the snapshot's grain: daily
for the last KEEP_DAILY_DAYS days, Sundays before), its townships, the county, Yancheng and
Jiangsu; each parent is the sum of its communities, like a real snapshot.

It covers the year up to the day before yesterday: the real daily snapshot (the job thread of
the demo's web process) writes yesterday. Written once, by `portal demo` (prepare), only when the
county has no trend rows yet; set-based: one INSERT … SELECT per level over an inline table of
the days.
"""

from datetime import date, timedelta

from sqlalchemy import Boolean, Date, DateTime, bindparam, text

from portal.extensions import db
from portal.regions.codes import PREFIX_LENGTH, subtree_bounds
from portal.stats.models import TREND_COUNTS
from portal.stats.snapshots import KEEP_DAILY_DAYS, WEEK_LAST_DAY
from portal.timeutil import local_today, utcnow
from portal.years.selection import year_calendar

FUNING = "320923"  # the county prefix of the sample workbooks
HISTORY_DAYS = 365
LOW, HIGH = 6200, 9300  # invented coverage (basis points) at a period's opening and close

# Invented figures of community c (code, num, spot, persons, must: a fixed population) on day d
# (day, year, rate, n, collecting, keep, month): daily_figures column → SQL, plain arithmetic.
# Each township's rate sits up to ±5.5 points off the day's, by an offset that changes with the
# month, so that the monthly ranking notices of the history have movers.
_RATE = "(d.rate + ((c.spot * 5 + d.month * 3) % 11 - 5) * 110)"
_INSURED = f"(c.must * {_RATE} / 10000)"
_SPIN = "(c.num + d.n)"
DEMO_COUNTS = {
    "persons": "c.persons",
    "excluded": "(c.persons - c.must)",
    "insured": _INSURED,
    "open_files": f"(c.must - {_INSURED})",
    "files": f"(c.must - c.must * {LOW} / 10000)",
    "government_paid": "(c.persons / 8)",
    "government_paid_insured": f"((c.persons / 8) * {_RATE} / 10000)",
    "e_credential": f"({_INSURED} * 6 / 10)",
    "visits": f"(CASE WHEN d.collecting = 1 THEN {_SPIN} % 3 ELSE 0 END)",
    "conversions": f"(CASE WHEN d.collecting = 1 AND {_SPIN} % 7 = 0 THEN 1 ELSE 0 END)",
}
assert set(DEMO_COUNTS) == set(TREND_COUNTS)


def _days(today: date) -> list[dict]:
    """The invented day table: the coverage rate of each day from the insurance calendar."""
    calendar = year_calendar()
    cutoff = today - timedelta(days=KEEP_DAILY_DAYS)
    rows = []
    for n in range(HISTORY_DAYS, 1, -1):
        day = today - timedelta(days=n)
        year = calendar.current_year(day)
        start, end = calendar.collection_period(year)
        collecting = start <= day <= end
        progress = min(1.0, max(0.0, (day - start).days / max(1, (end - start).days)))
        rate = int(LOW + (HIGH - LOW) * progress**0.6)
        keep = day >= cutoff or day.weekday() == WEEK_LAST_DAY
        rows.append(
            {
                "day": day,
                "year": year,
                "rate": rate,
                "n": n,
                "c": int(collecting),
                "k": int(keep),
                "m": day.year * 12 + day.month,
            }
        )
    return rows


def seed_demo_history(today: date | None = None) -> int:
    """Write the invented history (no commit) unless the county has trend rows already; returns
    the days written (0: there was history already)."""
    today = today or local_today()
    county = FUNING.ljust(12, "0")
    if db.session.execute(
        text("SELECT 1 FROM daily_figures WHERE region_code = :code LIMIT 1"), {"code": county}
    ).first():
        return 0
    days = _days(today)
    binds, params = [], {"now": utcnow(), "filled": False}
    for i, row in enumerate(days):
        binds.append(f"(:d{i}, :y{i}, :r{i}, :n{i}, :c{i}, :k{i}, :m{i})")
        params |= {
            f"d{i}": row["day"],
            f"y{i}": row["year"],
            f"r{i}": row["rate"],
            f"n{i}": row["n"],
            f"c{i}": row["c"],
            f"k{i}": row["k"],
            f"m{i}": row["m"],
        }
    lo, hi = subtree_bounds(FUNING)
    # The communities (an invented population of ~1,100, the scale of the sample workbooks, most
    # in 阜城 and 吴滩 like theirs) and the days, each computed once.
    persons = (
        "(CASE WHEN SUBSTR(code, 1, 9) IN ('320923001', '320923002') THEN 10 ELSE 1 END "
        "+ CAST(SUBSTR(code, 10, 3) AS INTEGER) % 3)"
    )
    tables = (
        "WITH c AS MATERIALIZED (SELECT code, CAST(SUBSTR(code, 10, 3) AS INTEGER) AS num, "
        "CAST(SUBSTR(code, 7, 3) AS INTEGER) AS spot, "
        f"{persons} AS persons, {persons} - {persons} / 12 AS must FROM region "
        f"WHERE level = 5 AND code BETWEEN '{lo}' AND '{hi}'), "
        "d AS MATERIALIZED (SELECT column1 AS day, column2 AS year, column3 AS rate, "
        "column4 AS n, column5 AS collecting, column6 AS keep, column7 AS month "
        f"FROM (VALUES {', '.join(binds)}) v) "
    )
    types = [bindparam(f"d{i}", type_=Date()) for i in range(len(days))]
    types += [bindparam("now", type_=DateTime()), bindparam("filled", type_=Boolean())]
    names = ", ".join(TREND_COUNTS)
    insert = f"INSERT INTO daily_figures (region_code, day, year, {names}, filled, taken_at) "
    # Communities, at the snapshot's grain.
    values = ", ".join(DEMO_COUNTS[name] for name in TREND_COUNTS)
    db.session.execute(
        text(
            f"{tables}{insert}SELECT c.code, d.day, d.year, {values}, :filled, :now "
            "FROM d CROSS JOIN c WHERE d.keep = 1 ON CONFLICT (region_code, day) DO NOTHING"
        ).bindparams(*types),
        params,
    )
    # Every region above them: the sums of the same invented figures over its communities.
    sums = ", ".join(f"SUM({DEMO_COUNTS[name]}) AS {name}" for name in TREND_COUNTS)
    for level in (4, 3, 2, 1):
        length = PREFIX_LENGTH[level]
        group = f"SUBSTR(c.code, 1, {length})"
        db.session.execute(
            text(
                f"{tables}{insert}SELECT p.code, s.day, s.year, {names}, :filled, :now FROM ("
                f"SELECT {group} AS grp, d.day AS day, d.year AS year, {sums} "
                f"FROM d CROSS JOIN c GROUP BY {group}, d.day, d.year) s "
                f"JOIN region p ON p.code = s.grp || '{'0' * (12 - length)}' "
                f"WHERE p.level = {level} ON CONFLICT (region_code, day) DO NOTHING"
            ).bindparams(*types),
            params,
        )
    return len(days)


__all__ = ["seed_demo_history"]
