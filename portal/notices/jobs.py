"""The scheduled job of the monthly notices: in the first minutes of each month (China time),
the final notice of the month just ended for every region with children.

Registered as the monthly job 'ranking_notices' (portal/jobs/schedule.py runs it once per month
however many workers: the run's row, the notices and the run's end are one transaction). Its
name sorts after 'daily_snapshot': a worker's pass takes the month's last day's snapshot first,
and the notices read it (service.py says what they read when it is not there yet).
"""

from datetime import date

from portal.jobs.schedule import scheduled
from portal.notices import service


@scheduled("ranking_notices", "monthly")
def ranking_notices(first_day: date) -> str:
    """`first_day`: the first day of the month the job runs in; it issues the month before."""
    month = service.previous_month(first_day)
    issued = service.issue_month(month)
    message = f"已发布 {service.month_label(month)} 通报 {issued.notices} 份。"
    if issued.skipped:
        message += "；".join(issued.skipped)
    return message


__all__ = ["ranking_notices"]
