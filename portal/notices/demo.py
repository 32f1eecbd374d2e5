"""DEMO ONLY: the ranking notices of the months behind the demo's invented history, so that the
first notice a demo user issues has a previous month to be compared with (movers, 较上月).

portal/demo_history.py invents a year of daily figures for 阜宁县 (and sums them into 盐城市 and
江苏省). Each month of it that has ended gets the final notices the month-end job would have
issued — 盐城市 (its counties), 阜宁县 (its townships) and, for the months whose month-end
community rows are still kept daily, each township of Funing (its communities) — read from that
month's last day as the job reads it, and dated the first minutes of the next month as if the
job had run on time. Nothing here is real: the figures are the invented history's.
Written by `portal demo` (prepare) once: regions that have a month's final notice are skipped.
"""

from datetime import date, timedelta

from portal.demo_history import FUNING, HISTORY_DAYS
from portal.extensions import db
from portal.notices import service
from portal.regions.models import Region
from portal.timeutil import local_midnight_utc, local_today

YANCHENG = "320900000000"
ON_TIME = timedelta(minutes=5)  # the job's run in the first minutes of the month


def seed_demo_notices(today: date | None = None) -> int:
    """Issue the history's months' final notices (no commit); returns how many were written."""
    today = today or local_today()
    last_invented = today - timedelta(days=2)  # the history stops the day before yesterday
    first = service.first_of(today - timedelta(days=HISTORY_DAYS - 1))
    month = service.next_month(first)  # the first month wholly in the history
    city = db.session.get(Region, YANCHENG)
    county = db.session.get(Region, FUNING.ljust(12, "0"))
    if city is None or county is None:
        return 0
    written = 0
    while service.month_end(month) <= last_invented:
        taken_at = local_midnight_utc(service.next_month(month)) + ON_TIME
        written += service.issue_month(month, region=city, levels=(2,), taken_at=taken_at).notices
        written += service.issue_month(
            month, region=county, levels=(3, 4), taken_at=taken_at
        ).notices
        month = service.next_month(month)
    return written


__all__ = ["seed_demo_notices"]
