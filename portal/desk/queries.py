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
from portal.masking import mask_id_number, mask_name
from portal.persons import codes
from portal.persons.models import FileMove, Person, PersonFile
from portal.persons.queries import GOVERNMENT_PAID, key_populations, region_names, user_names
from portal.regions.codes import PREFIX_LENGTH, pad, subtree_bounds
from portal.regions.models import Region
from portal.regions.queries import get_region_or_404
from portal.timeutil import local_today
from portal.visits.models import Visit
from portal.visits.progress import Progress, progress_of

TOWNSHIP = 4
OPEN = "open"  # state filter: every open file
GRID_WORKER = "grid_worker"
COVERING = "covering_worker"  # 代管 (portal/desk/assignment.py cover)


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
    # Communities the worker covers (代管): (grant id, code, name).
    covering: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def is_grid_worker(self) -> bool:
        return bool(self.communities)

    @property
    def label(self) -> str:
        names = "、".join(name for _, name in self.communities)
        return f"{self.user.display_name}（{names}）" if names else self.user.display_name


def township_workers(township: Region) -> list[Worker]:
    """Users holding a grid_worker grant in the township, with their communities and the
    communities they cover (代管)."""
    rows = db.session.execute(
        select(User, Grant.region_code, Grant.role, Grant.id)
        .join(Grant, Grant.user_id == User.id)
        .where(Grant.role.in_((GRID_WORKER, COVERING)), within(township, Grant.region_code))
        .order_by(User.display_name, User.id, Grant.region_code)
    ).all()
    names = region_names({code for _, code, _, _ in rows})
    workers: dict[int, Worker] = {}
    for user, code, role, _ in rows:
        if role == GRID_WORKER:
            worker = workers.setdefault(user.id, Worker(user))
            worker.communities.append((code, names.get(code, code)))
    for user, code, role, grant_id in rows:
        if role == COVERING and user.id in workers:
            workers[user.id].covering.append((grant_id, code, names.get(code, code)))
    return list(workers.values())


def covering_labels(files: list[PersonFile]) -> dict[int, str]:
    """{file id: "代管：<worker>（<their communities>）"} for the files of a page held by a worker
    covering the file's community (one query over the grants of the page's assignees)."""
    assignees = {f.assignee_id for f in files if f.assignee_id}
    if not assignees:
        return {}
    rows = db.session.execute(
        select(Grant.user_id, Grant.role, Grant.region_code).where(
            Grant.user_id.in_(assignees), Grant.role.in_((GRID_WORKER, COVERING))
        )
    ).all()
    covered = {(user, code) for user, role, code in rows if role == COVERING}
    if not covered:
        return {}
    homes: dict[int, list[str]] = {}
    for user, role, code in rows:
        if role == GRID_WORKER:
            homes.setdefault(user, []).append(code)
    names = region_names({c for codes_ in homes.values() for c in codes_})
    users = user_names(assignees)
    labels = {}
    for f in files:
        if (f.assignee_id, f.region_code) in covered:
            home = "、".join(names.get(c, c) for c in sorted(homes.get(f.assignee_id, [])))
            worker = users.get(f.assignee_id, "")
            labels[f.id] = f"代管：{worker}（{home}）" if home else f"代管：{worker}"
    return labels


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
    covering = covering_labels(files)
    return [
        FileRow(
            file=f,
            person=f.person,
            community=regions.get(f.region_code, f.region_code),
            assignee=covering.get(f.id) or (names.get(f.assignee_id, "") if f.assignee_id else ""),
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


# --- files that followed their person (移入 / 移出) -------------------------------------------

MOVED_IN, MOVED_OUT = "in", "out"
MOVE_DIRECTIONS = {MOVED_IN: "移入", MOVED_OUT: "移出"}
MOVE_CAUSES = {"import": "名册导入", "edit": "人员信息修改", "comparison": "比对"}


@dataclass(frozen=True)
class MoveFigures:
    moved_in: int = 0
    moved_out: int = 0


def _move_side(direction: str):
    """The file_move column a township's list of moves is about: where they went to or from."""
    return FileMove.to_region_code if direction == MOVED_IN else FileMove.from_region_code


def move_figures(actor, townships: list[Region], year: int) -> dict[str, MoveFigures]:
    """Files moved into and out of each township in insurance year `year` (two grouped
    queries, each through the actor's desk.view scope on the side it counts)."""
    if not townships:
        return {}
    scope = scope_for(actor, "desk.view")
    counted = {}
    for direction in (MOVED_IN, MOVED_OUT):
        column = _move_side(direction)
        key = func.substr(column, 1, PREFIX_LENGTH[TOWNSHIP])
        counted[direction] = dict(
            db.session.execute(
                select(key, func.count())
                .where(
                    FileMove.year == year,
                    or_(*(within(t, column) for t in townships)),
                    scope.clause(column),
                )
                .group_by(key)
            ).all()
        )
    return {
        t.code: MoveFigures(
            int(counted[MOVED_IN].get(t.prefix, 0)), int(counted[MOVED_OUT].get(t.prefix, 0))
        )
        for t in townships
    }


def moves_query(actor, township: Region, year: int, direction: str):
    """The files that moved into (or out of) the township in `year`, newest first, through the
    actor's desk.view scope."""
    column = _move_side(direction)
    return (
        select(FileMove)
        .where(
            FileMove.year == year,
            within(township, column),
            scope_for(actor, "desk.view").clause(column),
        )
        .order_by(FileMove.at.desc(), FileMove.id.desc())
    )


@dataclass
class MoveRow:
    move: FileMove
    person_id: int | None  # set when the actor may open the person (else only masked text)
    name: str
    id_number: str  # masked
    source: str
    destination: str
    cause: str
    assignee: str


def _place(code: str, home: Region, names: dict[str, str]) -> str:
    """A community's name, with its township, county and city when they differ from the
    desk's township (a move across counties shows where to)."""
    parts = [names.get(code, code)]
    for level in (TOWNSHIP, 3, 2):
        ancestor = pad(code[: PREFIX_LENGTH[level]])
        if ancestor == pad(home.code[: PREFIX_LENGTH[level]]):
            break
        parts.insert(0, names.get(ancestor, ancestor))
    return " ".join(parts)


def move_rows(actor, township: Region, moves: list[FileMove]) -> list[MoveRow]:
    """A page of moves as shown: the person named (and linked) only when the actor may still
    see them, otherwise masked — a person who moved out left the township's scope."""
    visible = scope_for(actor, "person.view")
    persons = {
        row.id: row
        for row in db.session.execute(
            select(Person.id, Person.name, Person.id_number, Person.region_code).where(
                Person.id.in_({m.person_id for m in moves})
            )
        )
    }
    codes_ = set()
    for move in moves:
        for code in (move.from_region_code, move.to_region_code):
            codes_ |= {code} | {pad(code[: PREFIX_LENGTH[lv]]) for lv in (2, 3, TOWNSHIP)}
    names = region_names(codes_)
    users = user_names({m.old_assignee_id for m in moves if m.old_assignee_id})
    result = []
    for move in moves:
        person = persons.get(move.person_id)
        name, id_number = (person.name, person.id_number) if person else ("", "")
        shown = person is not None and visible.contains(person.region_code)
        worker = users.get(move.old_assignee_id, "") if move.old_assignee_id else ""
        if not move.old_assignee_id:
            assignee = "未分配"
        elif move.kept_assignee:  # the worker covers both communities
            assignee = f"{worker}（保留）"
        else:
            assignee = f"已收回（原：{worker}）"
        result.append(
            MoveRow(
                move=move,
                person_id=move.person_id if shown else None,
                name=(name or "") if shown else mask_name(name),
                id_number=mask_id_number(id_number),
                source=_place(move.from_region_code, township, names),
                destination=_place(move.to_region_code, township, names),
                cause=MOVE_CAUSES.get(move.cause, move.cause),
                assignee=assignee,
            )
        )
    return result
