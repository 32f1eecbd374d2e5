"""Reads of the grid worker's task list and file page, scoped through permissions/.

A task is a file the user is to visit: every read starts from `scoped_files`, which applies
`scope_for(actor, "visit.record").clause(PersonFile.region_code, PersonFile.assignee_id)` (a grid
worker's scope is assigned-only), so a file outside it is simply not found. The list is the
actor's own files in the states of work, ordered by priority in SQL. A declined file stays the
worker's (repeated persuasion): on the list from its follow-up date, in a section of its own
before that, and always found by the search.
"""

from dataclasses import dataclass
from datetime import date

from flask import abort
from sqlalchemy import case, select, true
from sqlalchemy.orm import aliased, contains_eager

from permissions import scope_for
from portal.accounts.models import Grant
from portal.audit import operations as audit
from portal.extensions import db
from portal.persons import codes
from portal.persons import queries as person_queries
from portal.persons.models import Person, PersonFile
from portal.timeutil import local_today
from portal.visits.codes import OUTCOMES, Outcome
from portal.visits.models import Visit
from portal.visits.progress import declined_waiting_clause, to_visit_clause
from portal.workflow import transitions

ACTION = "visit.record"
RECENT_VISITS = 5
SHORT_ADDRESS = 18  # characters of the address a list row shows


def scoped_files(actor):
    """SELECT files (their person eagerly joined) in the actor's visit.record scope."""
    scope = scope_for(actor, ACTION)
    return (
        select(PersonFile)
        .join(Person, Person.id == PersonFile.person_id)
        .options(contains_eager(PersonFile.person))
        .where(scope.clause(PersonFile.region_code, PersonFile.assignee_id))
    )


def get_task_or_404(file_id: int, actor) -> PersonFile:
    """One file in the actor's visit.record scope; outside it, 404 (not found, not forbidden)."""
    file = db.session.scalar(scoped_files(actor).where(PersonFile.id == file_id))
    if file is None:
        audit.denied("task", file_id, actor=actor)
        abort(404)
    return file


# --- the task list ----------------------------------------------------------------------------


def person_column(column):
    """`column` of the file's person, read by primary key for each file: a correlated scalar
    subquery, so the plan stays "the worker's files by index, then one person lookup each". A
    plain join lets the planner merge-join along the person primary key, which it judges cheap
    when the files' persons have neighbouring ids (one import batch) and which then reads tens
    of thousands of index entries for a list of fifty. The list's order needs no person at all
    (PersonFile.government_paid); only a search reads them."""
    return (
        select(column)
        .where(Person.id == PersonFile.person_id)
        .correlate(PersonFile)
        .scalar_subquery()
    )


def priority_order(today: date) -> tuple:
    """ORDER BY terms: government-paid key populations, then overdue, then follow-ups due, then
    the rest; within a group the most urgent first, then by due date, then the oldest file."""
    government_paid = PersonFile.government_paid.is_(True)
    overdue = PersonFile.due_date < today
    follow_up_due = PersonFile.follow_up_on <= today
    group = case((government_paid, 0), (overdue, 1), (follow_up_due, 2), else_=3)
    urgency = case((overdue, 0), (follow_up_due, 1), else_=2)
    no_due_date = case((PersonFile.due_date.is_(None), 1), else_=0)
    return (
        group,
        urgency,
        no_due_date,
        PersonFile.due_date,
        PersonFile.opened_at,
        PersonFile.id,
    )


def search_clause(filters: person_queries.PersonFilters):
    """The task search (a name, or the last characters of the ID number) as a WHERE term."""
    if filters.id_number:
        return person_column(Person.id_number).endswith(filters.id_number, autoescape=True)
    if filters.name:
        return person_column(Person.name).contains(filters.name, autoescape=True)
    return true()


def searching(filters: person_queries.PersonFilters) -> bool:
    return bool(filters.id_number or filters.name)


def task_ids_query(actor, filters: person_queries.PersonFilters, today: date | None = None):
    """SELECT the ids of the actor's own files to visit, matching the search, in priority order
    (paginate this; load the page's files with `files_by_ids`). Without a search: the files to
    visit today (declined ones from their follow-up date); a search finds every declined file."""
    today = today or local_today()
    scope = scope_for(actor, ACTION)
    if searching(filters):
        states = PersonFile.state.in_(codes.WORKER_STATES)
    else:
        states = to_visit_clause(today)
    return (
        select(PersonFile.id)
        .where(
            scope.clause(PersonFile.region_code, PersonFile.assignee_id),
            PersonFile.assignee_id == actor.id,
            states,
            search_clause(filters),
        )
        .order_by(*priority_order(today))
    )


def declined_waiting_ids_query(actor, today: date | None = None):
    """SELECT the ids of the actor's declined files not yet due for follow-up: the list's own
    section, the nearest follow-up date first, those without one last."""
    today = today or local_today()
    scope = scope_for(actor, ACTION)
    no_date = case((PersonFile.follow_up_on.is_(None), 1), else_=0)
    return (
        select(PersonFile.id)
        .where(
            scope.clause(PersonFile.region_code, PersonFile.assignee_id),
            PersonFile.assignee_id == actor.id,
            declined_waiting_clause(today),
        )
        .order_by(no_date, PersonFile.follow_up_on, PersonFile.id)
    )


def files_by_ids(actor, ids: list[int]) -> list[PersonFile]:
    """The files of `ids` (still within the actor's scope) with their persons, in that order."""
    if not ids:
        return []
    found = {f.id: f for f in db.session.scalars(scoped_files(actor).where(PersonFile.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True)
class Due:
    """One "what is due" tag of a row: a CSS class and its Chinese text."""

    kind: str  # over / today / date
    label: str


def month_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def due_tags(file: PersonFile, today: date) -> list[Due]:
    tags = []
    if file.state == codes.DECLINED:
        tags.append(Due("declined", "曾拒绝参保"))
        if file.follow_up_on is not None and file.follow_up_on > today:
            tags.append(Due("date", f"{month_day(file.follow_up_on)}再动员"))
    if file.due_date is not None and file.due_date < today:
        tags.append(Due("over", "逾期"))
    if file.follow_up_on is not None and file.follow_up_on <= today:
        tags.append(Due("today", "今日跟进"))
    if file.due_date is not None and file.due_date >= today:
        tags.append(Due("date", f"截止 {month_day(file.due_date)}"))
    return tags


def short_address(address: str | None, community: str | None = None) -> str:
    """The part of the address a worker needs: after the community's name, cut short."""
    text = (address or "").strip()
    if community and community in text:
        text = text.split(community, 1)[1].strip(" ，,") or text
    if len(text) > SHORT_ADDRESS:
        text = text[: SHORT_ADDRESS - 1] + "…"
    return text


def returned_proposals(file_ids) -> dict[int, Visit]:
    """The files whose last visit is a proposal the supervisor returned: {file id: that visit}.
    One query for a page of files; a later visit of the worker answers the return."""
    ids = set(file_ids)
    if not ids:
        return {}
    later = aliased(Visit)
    answered = (
        select(later.id)
        .where(later.file_id == Visit.file_id, later.id > Visit.id)
        .correlate(Visit)
        .exists()
    )
    found = db.session.scalars(
        select(Visit)
        .where(Visit.file_id.in_(ids), Visit.review_state == "returned", ~answered)
        .order_by(Visit.at, Visit.id)
    )
    return {v.file_id: v for v in found}


COVERING = "covering_worker"  # 代管 (portal/desk/assignment.py cover)


def covered_files(files: list[PersonFile]) -> set[int]:
    """The files of a page their assignee holds by 代管 (a covering grant on the file's
    community), in one query."""
    assignees = {f.assignee_id for f in files if f.assignee_id}
    if not assignees:
        return set()
    grants = set(
        db.session.execute(
            select(Grant.user_id, Grant.region_code).where(
                Grant.user_id.in_(assignees), Grant.role == COVERING
            )
        ).all()
    )
    return {f.id for f in files if (f.assignee_id, f.region_code) in grants}


@dataclass
class TaskRow:
    """One line of the task list (the ID number is masked by the template)."""

    file: PersonFile
    person: Person
    region_name: str
    address: str
    due: list[Due]
    government_paid: list[codes.KeyPopulation]


def task_rows(files: list[PersonFile], today: date | None = None) -> list[TaskRow]:
    today = today or local_today()
    names = person_queries.region_names({f.region_code for f in files})
    returned = returned_proposals(f.id for f in files)
    covered = covered_files(files)
    rows = []
    for file in files:
        region_name = names.get(file.region_code, file.region_code)
        due = due_tags(file, today)
        if file.id in returned:
            due.insert(0, Due("returned", "已退回"))
        if file.id in covered:
            due.insert(0, Due("cover", f"代管 · {region_name}"))
        rows.append(
            TaskRow(
                file=file,
                person=file.person,
                region_name=region_name,
                address=short_address(file.person.address, region_name),
                due=due,
                government_paid=[
                    k
                    for k in person_queries.key_populations(file.person.key_populations)
                    if k.government_paid
                ],
            )
        )
    return rows


# --- the file page ----------------------------------------------------------------------------


def offered_outcomes(actor, file: PersonFile) -> list[Outcome]:
    """The outcomes whose workflow action the actor may take on the file now."""
    allowed = {}
    for outcome in OUTCOMES:
        if outcome.action not in allowed:
            allowed[outcome.action] = transitions.may(actor, file, outcome.action)
    return [o for o in OUTCOMES if allowed[o.action]]


def recent_visits(file: PersonFile, limit: int = RECENT_VISITS) -> list[Visit]:
    """The person's last visits (of any year's file), newest first."""
    return list(
        db.session.scalars(
            select(Visit)
            .where(Visit.person_id == file.person_id)
            .order_by(Visit.at.desc(), Visit.id.desc())
            .limit(limit)
        )
    )


def file_context(actor, file: PersonFile) -> dict:
    """What the file page shows besides the form."""
    person = file.person
    today = local_today()
    visits = recent_visits(file)
    community = person_queries.region_names({file.region_code}).get(file.region_code)
    returned = returned_proposals([file.id]).get(file.id)
    reviewer = None
    if returned is not None and returned.reviewer_id is not None:
        reviewer = person_queries.user_names({returned.reviewer_id}).get(returned.reviewer_id)
    return {
        "returned": returned,
        "returned_by": reviewer,
        "file": file,
        "person": person,
        "community": community or file.region_code,
        "age": person_queries.age(person.birth_date, today),
        "key_populations": person_queries.key_populations(person.key_populations),
        "due": due_tags(file, today),
        "visits": visits,
        "visitors": person_queries.user_names({v.user_id for v in visits}),
        "outcomes": offered_outcomes(actor, file),
        "today": today,
    }
