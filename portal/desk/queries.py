"""Scoped reads of the desk: the townships a user may see, their figures, workers and files.

A township is found through the actor's `desk.view` scope (outside it: 404); its files are read
through the same scope's clause. Grid workers are the users holding a `grid_worker` grant in the
township; their communities are those grants' regions.
"""

from dataclasses import dataclass, field
from datetime import date

from flask import abort
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from permissions import scope_for
from portal.accounts.models import Grant, User
from portal.extensions import db
from portal.persons import codes
from portal.persons.models import Person, PersonFile
from portal.persons.queries import GOVERNMENT_PAID, key_populations, region_names, user_names
from portal.regions.codes import PREFIX_LENGTH, pad, subtree_bounds
from portal.regions.models import Region
from portal.regions.queries import get_region_or_404
from portal.timeutil import local_today
from portal.visits.models import Visit
from portal.visits.progress import Progress, progress_of

TOWNSHIP = 4
OPEN = "open"  # state filter: every open file


@dataclass(frozen=True)
class DeskFilters:
    """Which files of the township the table shows and a filter-assignment selects."""

    community: str = ""
    state: str = "unassigned"  # a FILE_STATES code of an open file, or OPEN
    key_population: str = ""  # a KEY_POPULATIONS code or GOVERNMENT_PAID
    reason: str = ""

    def args(self) -> dict:
        """As query-string arguments (for links that keep the filters)."""
        return {
            "community": self.community,
            "state": self.state,
            "key_population": self.key_population,
            "reason": self.reason,
        }


def township_of(region_code: str) -> str:
    """The padded code of the township a community (or township) code lies in."""
    return pad(region_code[: PREFIX_LENGTH[TOWNSHIP]])


def within(township: Region, column):
    return column.between(*subtree_bounds(township.prefix))


def townships_query(actor):
    """The townships in the actor's desk.view scope, in code order."""
    scope = scope_for(actor, "desk.view")
    return (
        select(Region)
        .where(Region.level == TOWNSHIP, scope.region_clause(Region.code))
        .order_by(Region.code)
    )


def get_township_or_404(code: str, actor) -> Region:
    region = get_region_or_404(code, scope_for(actor, "desk.view"))
    if region.level != TOWNSHIP:
        abort(404)
    return region


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TownshipFigures:
    open_files: int = 0
    unassigned: int = 0
    overdue: int = 0
    pending_reviews: int = 0


def township_figures(actor, townships: list[Region], today: date | None = None) -> dict:
    """Figures of each township (one grouped query over files, one over pending reviews)."""
    if not townships:
        return {}
    today = today or local_today()
    scope = scope_for(actor, "desk.view")
    length = PREFIX_LENGTH[TOWNSHIP]
    file_key = func.substr(PersonFile.region_code, 1, length)
    files = db.session.execute(
        select(
            file_key,
            func.count(),
            func.count().filter(PersonFile.state == "unassigned"),
            func.count().filter(
                PersonFile.state.in_(codes.WORK_STATES), PersonFile.due_date < today
            ),
        )
        .where(
            or_(*(within(t, PersonFile.region_code) for t in townships)),
            scope.clause(PersonFile.region_code),
            PersonFile.state.in_(codes.OPEN_FILE_STATES),
        )
        .group_by(file_key)
    ).all()
    visit_key = func.substr(Visit.region_code, 1, length)
    reviews = dict(
        db.session.execute(
            select(visit_key, func.count())
            .where(
                or_(*(within(t, Visit.region_code) for t in townships)),
                scope.clause(Visit.region_code),
                Visit.review_state == "pending",
            )
            .group_by(visit_key)
        ).all()
    )
    by_prefix = {row[0]: row[1:] for row in files}
    return {
        t.code: TownshipFigures(
            *(int(v) for v in by_prefix.get(t.prefix, (0, 0, 0))),
            pending_reviews=int(reviews.get(t.prefix, 0)),
        )
        for t in townships
    }


# --- workers ----------------------------------------------------------------------------------


@dataclass
class Worker:
    """A grid worker of the township (or someone else still holding its open files)."""

    user: User
    communities: list[tuple[str, str]] = field(default_factory=list)  # (code, name)
    progress: Progress = field(default_factory=Progress)

    @property
    def is_grid_worker(self) -> bool:
        return bool(self.communities)

    @property
    def label(self) -> str:
        names = "、".join(name for _, name in self.communities)
        return f"{self.user.display_name}（{names}）" if names else self.user.display_name


def township_workers(township: Region) -> list[Worker]:
    """Users holding a grid_worker grant in the township, with their communities."""
    rows = db.session.execute(
        select(User, Grant.region_code)
        .join(Grant, Grant.user_id == User.id)
        .where(Grant.role == "grid_worker", within(township, Grant.region_code))
        .order_by(User.display_name, User.id, Grant.region_code)
    ).all()
    names = region_names({code for _, code in rows})
    workers: dict[int, Worker] = {}
    for user, code in rows:
        worker = workers.setdefault(user.id, Worker(user))
        worker.communities.append((code, names.get(code, code)))
    return list(workers.values())


def desk_workers(township: Region) -> list[Worker]:
    """The township's grid workers, then anyone else who still holds open files there (a
    worker whose grant was revoked): both with their figures, so that a handover can find them."""
    workers = township_workers(township)
    known = {w.user.id for w in workers}
    holders = db.session.scalars(
        select(PersonFile.assignee_id)
        .where(
            within(township, PersonFile.region_code),
            PersonFile.state.in_(codes.OPEN_FILE_STATES),
            PersonFile.assignee_id.is_not(None),
        )
        .distinct()
    ).all()
    others = [i for i in holders if i not in known]
    if others:
        users = db.session.scalars(select(User).where(User.id.in_(others)).order_by(User.id))
        workers.extend(Worker(u) for u in users)
    figures = progress_of([w.user.id for w in workers])
    for w in workers:
        w.progress = figures.get(w.user.id, Progress())
    return workers


# --- the file table ---------------------------------------------------------------------------


def file_conditions(township: Region, filters: DeskFilters) -> list:
    """Conditions on PersonFile: the township, open, and the filters."""
    conditions = [
        within(township, PersonFile.region_code),
        PersonFile.state.in_(codes.OPEN_FILE_STATES),
    ]
    if filters.community:
        conditions.append(PersonFile.region_code == filters.community)
    if filters.state and filters.state != OPEN:
        conditions.append(PersonFile.state == filters.state)
    mask = 0
    if filters.key_population == GOVERNMENT_PAID:
        mask = codes.GOVERNMENT_PAID_MASK
    elif filters.key_population in codes.KEY_POPULATION_BY_CODE:
        mask = codes.KEY_POPULATION_BY_CODE[filters.key_population].bit
    if mask:
        conditions.append(
            exists().where(
                Person.id == PersonFile.person_id, Person.key_populations.op("&")(mask) != 0
            )
        )
    if filters.reason:
        conditions.append(PersonFile.reason_code == filters.reason)
    return conditions


def files_query(actor, township: Region, filters: DeskFilters):
    """The township's open files matching the filters, within the actor's desk.view scope."""
    scope = scope_for(actor, "desk.view")
    return (
        select(PersonFile)
        .where(scope.clause(PersonFile.region_code), *file_conditions(township, filters))
        .options(selectinload(PersonFile.person))
        .order_by(PersonFile.region_code, PersonFile.id)
    )


@dataclass
class FileRow:
    file: PersonFile
    person: Person
    community: str
    assignee: str
    key_populations: list
    overdue: bool


def file_rows(files: list[PersonFile], today: date | None = None) -> list[FileRow]:
    today = today or local_today()
    regions = region_names({f.region_code for f in files})
    names = user_names({f.assignee_id for f in files})
    return [
        FileRow(
            file=f,
            person=f.person,
            community=regions.get(f.region_code, f.region_code),
            assignee=names.get(f.assignee_id, "") if f.assignee_id else "",
            key_populations=key_populations(f.person.key_populations if f.person else 0),
            overdue=bool(f.due_date and f.due_date < today and f.state in codes.WORK_STATES),
        )
        for f in files
    ]


# --- the review queue -------------------------------------------------------------------------


@dataclass
class ReviewRow:
    visit: Visit
    person: Person | None
    file: PersonFile | None
    worker: str
    community: str


def review_rows(visits: list[Visit]) -> list[ReviewRow]:
    """The persons, files, workers and communities of a page of proposals (three queries)."""
    persons = {
        p.id: p
        for p in db.session.scalars(
            select(Person).where(Person.id.in_({v.person_id for v in visits}))
        )
    }
    files = {
        f.id: f
        for f in db.session.scalars(
            select(PersonFile).where(PersonFile.id.in_({v.file_id for v in visits}))
        )
    }
    workers = user_names({v.user_id for v in visits})
    regions = region_names({v.region_code for v in visits})
    return [
        ReviewRow(
            visit=v,
            person=persons.get(v.person_id),
            file=files.get(v.file_id),
            worker=workers.get(v.user_id, ""),
            community=regions.get(v.region_code, v.region_code),
        )
        for v in visits
    ]


def in_township(query, township: Region):
    """Narrow the review queue (visits.review.pending_query) to one township."""
    return query.where(and_(within(township, Visit.region_code)))
