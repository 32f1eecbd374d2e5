"""The trend API of the dashboards: a region's figures day by day, for the last 18 months.

The past comes from `daily_figures` (written by the daily snapshot job, portal/stats/snapshots.py):
one index range scan of its key (region_code, day). The last point is today's, live, from the
maintained `community_figures` of the insurance year current today (figures.region_figures) and
today's `community_activity`. A community's rows older than 100 days are thinned to the week's
last day: its trend is returned as stored (daily recently, weekly before).

Scope is NOT checked here: the views check permissions for the region before calling.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Date, bindparam, text

from portal.extensions import db
from portal.regions.codes import subtree_bounds
from portal.stats.figures import _region, region_figures
from portal.timeutil import local_today
from portal.years.selection import year_calendar

# 18 months: what every dashboard shows.
TREND_DAYS = 548


@dataclass
class TrendPoint:
    """The figures of a region at the end of one day (today: now)."""

    day: date
    must_insure: int
    insured: int
    open_files: int
    filled: bool = False  # a day the snapshot job missed, filled in later (stock figures late)
    visits: int = 0
    conversions: int = 0
    e_credential: int = 0
    government_paid: int = 0
    government_paid_insured: int = 0
    year: int | None = None  # the insurance year the figures count
    live: bool = False  # today's point, computed now

    @property
    def coverage(self) -> float | None:
        """Insured ÷ must be insured (参保率), None when nobody must be."""
        return self.insured / self.must_insure if self.must_insure else None

    @property
    def uninsured(self) -> int:
        return self.must_insure - self.insured


def _stored(region_code: str, first: date, today: date) -> list[TrendPoint]:
    rows = db.session.execute(
        text(
            "SELECT day, year, persons, excluded, insured, open_files, filled, visits, "
            "conversions, e_credential, government_paid, government_paid_insured "
            "FROM daily_figures WHERE region_code = :code AND day >= :first AND day < :today "
            "ORDER BY day"
        )
        .bindparams(bindparam("first", type_=Date()), bindparam("today", type_=Date()))
        .columns(day=Date()),
        {"code": region_code, "first": first, "today": today},
    ).mappings()
    return [
        TrendPoint(
            day=row["day"],
            must_insure=int(row["persons"]) - int(row["excluded"]),
            insured=int(row["insured"]),
            open_files=int(row["open_files"]),
            filled=bool(row["filled"]),
            visits=int(row["visits"]),
            conversions=int(row["conversions"]),
            e_credential=int(row["e_credential"]),
            government_paid=int(row["government_paid"]),
            government_paid_insured=int(row["government_paid_insured"]),
            year=int(row["year"]),
        )
        for row in rows
    ]


def _activity(prefix: str, day: date) -> tuple[int, int]:
    lo, hi = subtree_bounds(prefix)
    row = db.session.execute(
        text(
            "SELECT COALESCE(SUM(visits), 0), COALESCE(SUM(conversions), 0) "
            "FROM community_activity WHERE day = :day AND region_code BETWEEN :lo AND :hi"
        ).bindparams(bindparam("day", type_=Date())),
        {"day": day, "lo": lo, "hi": hi},
    ).one()
    return int(row[0]), int(row[1])


def live_point(region_code: str, today: date | None = None) -> TrendPoint:
    """Today's point: the maintained figures of the insurance year current today."""
    today = today or local_today()
    region = _region(region_code)
    year = year_calendar().current_year(today)
    figures = region_figures(region_code, year)
    visits, conversions = _activity(region.prefix, today)
    return TrendPoint(
        day=today,
        must_insure=figures.must_insure,
        insured=figures.insured,
        open_files=figures.open_files,
        visits=visits,
        conversions=conversions,
        e_credential=figures.e_credential,
        government_paid=figures.government_paid,
        government_paid_insured=figures.government_paid_insured,
        year=year,
        live=True,
    )


def trend(
    region_code: str, *, days: int = TREND_DAYS, today: date | None = None
) -> list[TrendPoint]:
    """The region's points of the last `days` days (China time), oldest first, ending with
    today's live point. Days without a row (before the first snapshot; a community's thinned
    days) are absent, not zero. Raises LookupError for an unknown region. No scope check."""
    today = today or local_today()
    live = live_point(region_code, today)
    first = today - timedelta(days=max(days, 1) - 1)
    return [*_stored(region_code, first, today), live]


__all__ = ["TREND_DAYS", "TrendPoint", "live_point", "trend"]
