"""Work figures per grid worker: open files, overdue, visits this week and this month,
conversions this month.

One grouped query per figure over the given workers (never a loop over files). The caller has
already chosen the workers through permissions/ (the desk: workers in the actor's scope; the
phone: the worker themselves).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select

from portal.extensions import db
from portal.persons.codes import DECLINED, OPEN_FILE_STATES, WORK_STATES
from portal.persons.models import PersonFile
from portal.timeutil import local_midnight_utc, local_today
from portal.visits.models import Visit


@dataclass(frozen=True)
class Progress:
    open_files: int = 0  # every open file held (incl. pending confirmation / review)
    to_visit: int = 0  # on the task list: assigned, following, declined due for follow-up
    overdue: int = 0  # to visit, with a due date before today
    awaiting_confirmation: int = 0  # reported paid, waiting for the next comparison
    awaiting_review: int = 0  # a proposed closure waiting for the supervisor
    declined: int = 0  # declined files held (to persuade again), due or not
    declined_waiting: int = 0  # declined, follow-up date not reached (or none): their own section
    visits_this_week: int = 0
    visits_this_month: int = 0
    conversions_this_month: int = 0  # files closed as enrolled, credited to the worker


def declined_due(today: date):
    """WHERE term: a declined file whose follow-up date has come."""
    return and_(PersonFile.state == DECLINED, PersonFile.follow_up_on <= today)


def to_visit_clause(today: date):
    """WHERE term: a file on the worker's task list today (to visit, or declined and due)."""
    return or_(PersonFile.state.in_(WORK_STATES), declined_due(today))


def declined_waiting_clause(today: date):
    """WHERE term: a declined file not yet due (no follow-up date, or a later one)."""
    return and_(
        PersonFile.state == DECLINED,
        or_(PersonFile.follow_up_on.is_(None), PersonFile.follow_up_on > today),
    )


def week_start(today: date) -> date:
    return today - timedelta(days=today.weekday())


def progress_of(user_ids: list[int], today: date | None = None) -> dict[int, Progress]:
    """Figures for each user id (users with nothing get zeros)."""
    today = today or local_today()
    if not user_ids:
        return {}
    files = db.session.execute(
        select(
            PersonFile.assignee_id,
            func.count(),
            func.count().filter(to_visit_clause(today)),
            func.count().filter(to_visit_clause(today), PersonFile.due_date < today),
            func.count().filter(PersonFile.state == "pending_confirmation"),
            func.count().filter(PersonFile.state == "pending_review"),
            func.count().filter(PersonFile.state == DECLINED),
            func.count().filter(declined_waiting_clause(today)),
        )
        .where(PersonFile.assignee_id.in_(user_ids), PersonFile.state.in_(OPEN_FILE_STATES))
        .group_by(PersonFile.assignee_id)
    ).all()
    this_week, this_month = _utc(week_start(today)), _utc(today.replace(day=1))
    visits = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                Visit.user_id,
                func.count().filter(Visit.at >= this_week),
                func.count().filter(Visit.at >= this_month),
            )
            .where(Visit.user_id.in_(user_ids), Visit.at >= min(this_week, this_month))
            .group_by(Visit.user_id)
        ).all()
    }
    conversions = dict(
        db.session.execute(
            select(PersonFile.credited_user_id, func.count())
            .where(
                PersonFile.credited_user_id.in_(user_ids),
                PersonFile.state == "enrolled",
                PersonFile.closed_at >= _utc(today.replace(day=1)),
            )
            .group_by(PersonFile.credited_user_id)
        ).all()
    )
    by_user = {row[0]: row[1:] for row in files}
    return {
        uid: Progress(
            *(int(v) for v in by_user.get(uid, (0,) * 7)),
            visits_this_week=int(visits.get(uid, (0, 0))[0]),
            visits_this_month=int(visits.get(uid, (0, 0))[1]),
            conversions_this_month=int(conversions.get(uid, 0)),
        )
        for uid in user_ids
    }


def _utc(day: date) -> datetime:
    """Local midnight of `day` as the naive UTC datetime the tables store."""
    return local_midnight_utc(day)
