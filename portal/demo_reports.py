"""DEMO ONLY: a reporting period of Yancheng for the current insurance year, so that the demo's
报表报送 walk can be played: 阜宁县 (fn_staff) submits both forms, 盐城市 (yc_staff) returns them
with a comment, Funing submits again, the city accepts and sees which counties it still waits
for before it may submit its own.

Written once, by `portal demo` (prepare), only when Yancheng has no period of the year yet. One
other county, 滨海县 (bh_staff), has already been submitted and accepted, so that the city's
waiting list names the rest; Funing's own submission is left to the demo.
"""

from datetime import date

from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db
from portal.reports.models import ReportEvent, ReportPeriod, ReportSubmission
from portal.timeutil import utcnow
from portal.years.selection import current_year

YANCHENG = "320900000000"
BINHAI = "320922000000"  # 滨海县, accepted beforehand


def seed_report_period(users: dict[str, User]) -> ReportPeriod | None:
    """Yancheng's period of the current insurance year (deadlines in January of that year,
    within its collection period), and Binhai's accepted submission; no commit."""
    from portal.reports.forms import FORMS, compute

    year = current_year()
    exists = db.session.scalar(
        select(ReportPeriod.id).where(
            ReportPeriod.region_code == YANCHENG, ReportPeriod.year == year
        )
    )
    if exists:
        return None
    period = ReportPeriod(
        region_code=YANCHENG,
        year=year,
        code=str(year),
        name=f"{year}年度参保情况清查报送",
        county_due=date(year, 1, 15),
        city_due=date(year, 1, 31),
        created_by_id=users["yc_staff"].id,
    )
    db.session.add(period)
    db.session.flush()
    snapshot = {code: compute(code, BINHAI, year).to_snapshot() for code in FORMS}
    now = utcnow()
    submitted_by, reviewed_by = users["bh_staff"].id, users["yc_staff"].id
    accepted = ReportSubmission(
        period_id=period.id,
        region_code=BINHAI,
        state="accepted",
        snapshot=snapshot,
        submitted_at=now,
        submitted_by_id=submitted_by,
        reviewed_at=now,
        reviewed_by_id=reviewed_by,
        version=2,
    )
    db.session.add(accepted)
    db.session.flush()
    db.session.add_all(
        [
            ReportEvent(
                submission_id=accepted.id,
                action="submit",
                user_id=submitted_by,
                at=now,
                snapshot=snapshot,
            ),
            ReportEvent(submission_id=accepted.id, action="accept", user_id=reviewed_by, at=now),
        ]
    )
    db.session.flush()
    return period
