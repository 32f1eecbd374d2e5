"""The scheduled job of the monthly notices: in the first minutes of each month (China time),
the final notice of the month just ended for every region with children.

Registered as the monthly job 'ranking_notices' (portal/jobs/schedule.py runs it once per month
however many workers: the run's row, the notices and the run's end are one transaction). Its
name sorts after 'daily_snapshot': a worker's pass takes the month's last day's snapshot first,
and the notices read it (service.py says what they read when it is not there yet).
"""

from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.jobs.schedule import scheduled
from portal.notices import service
from portal.regions.models import Region


@scheduled("ranking_notices", "monthly")
def ranking_notices(first_day: date) -> str:
    """`first_day`: the first day of the month the job runs in; it issues the month before."""
    month = service.previous_month(first_day)
    notices, skipped = 0, []
    # Province by province: a pass holds one province's regions at a time (the whole country
    # has 620 k communities), each province still one grouped query per level.
    for province in db.session.scalars(
        select(Region).where(Region.level == 1).order_by(Region.code)
    ):
        issued = service.issue_month(month, region=province)
        notices += issued.notices
        skipped += [f"{province.name}{reason}" for reason in issued.skipped]
    message = f"已发布 {service.month_label(month)} 通报 {notices} 份。"
    if skipped:
        message += "；".join(skipped)
    return message


__all__ = ["ranking_notices"]
