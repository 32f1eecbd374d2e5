"""Giving files to grid workers in bulk: a selection, automatically by community (包片), and the
handover of a leaving worker's files. Set-based SQL, no loop over files.

Each operation writes a plan into a temporary table — one row per file it looked at: the file's
current assignee, state, due date and version, the new assignee, and the workflow action
(portal/workflow/transitions.py: assign, reassign or unassign) or why the file is skipped. Then:

1. one UPDATE of person_file FROM the plan, guarded again by the actor's `file.assign` scope,
   the new worker's communities, the action's source states and the version the plan read;
2. if it touched fewer files than planned, something changed meanwhile: nothing is kept;
3. one INSERT … SELECT of the history (cause "assign": {"assignee_id": [old, new],
   "file_state": [old, new], "due_date": [old, new]}, each only when it changes).

A file id injected into a form from outside the actor's scope never enters the plan. Nothing
commits here: the request does.

代管 (`cover`): a supervisor lets a grid worker of another community of the same township
cover ticked files, with a reason. The worker receives a `covering_worker` grant on each covered
community (permissions/policy.csv: the files assigned to them there, nothing else), then the
files are assigned through the same plan, guarded by that grant; the reason is in each file's
history and in the audit events. A covering grant ends (revoked, audited) as soon as its holder
has no open file left in the covered community (`end_idle_covers`, after every operation of
this module), or when the supervisor ends it (`end_cover`: the files go back to 待分配).
Plain assignment never reaches a covered community: a worker's area is `file.receive`, which
only the grid_worker grant gives.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    false,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)

from permissions import ANY, Scope, can, require, scope_for
from portal.accounts.models import Grant, User
from portal.audit import operations as audit
from portal.desk.queries import (
    COVERING,
    DeskFilters,
    desk_workers,
    file_conditions,
    township_workers,
    within,
)
from portal.extensions import db
from portal.persons.codes import OPEN_FILE_STATES
from portal.persons.models import PersonChange, PersonFile
from portal.regions.codes import subtree_bounds
from portal.regions.models import Region
from portal.stats import maintain as stats
from portal.timeutil import local_today, utcnow
from portal.workflow.transitions import BY_ACTION, sources

ACTIONS = ("assign", "reassign", "unassign")
MAX_TICKED = 500  # more than a page or two of ticks: select by filter instead
COVER_REASON_MAX = 200

PLAN = Table(
    "desk_assignment_plan",
    MetaData(),
    Column("file_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger),
    Column("region_code", String(12)),
    Column("old_state", String(24)),  # as person_file.state: "pending_confirmation" is 20
    Column("old_assignee", Integer),
    Column("old_due", Date),
    Column("old_version", Integer),
    Column("new_assignee", Integer),
    Column("action", String(16)),  # assign / reassign / unassign; NULL: the file stays as it is
    Column("skip", String(16)),  # why it stays: outside / held / nobody (NULL: its state)
    prefixes=["TEMPORARY"],
)


class AssignmentRefused(Exception):
    """An assignment that cannot be made, with a Chinese message; nothing was changed."""


class AssignmentConflict(AssignmentRefused):
    """Files changed while the assignment ran; nothing was changed."""


@dataclass(frozen=True)
class Selection:
    """Ticked file ids, or every file matching the filters."""

    file_ids: tuple[int, ...] = ()
    filters: DeskFilters | None = None


@dataclass(frozen=True)
class Outcome:
    assigned: int = 0  # given to a worker (assign or reassign)
    returned: int = 0  # back to unassigned
    outside: int = 0  # not in the chosen worker's communities: left as they were
    held: int = 0  # already the worker's, nothing to change
    nobody: int = 0  # auto-assign: no worker holds the file's community
    kept: int = 0  # a state the action may not leave (pending review, …): left as it was
    own: int = 0  # 代管: the file lies in the worker's own community (assign it instead)


# --- who may receive files --------------------------------------------------------------------


def worker_choices(township: Region) -> list[User]:
    """Active grid workers of the township, who may receive files."""
    return [w.user for w in township_workers(township) if w.user.active]


def check_worker(township: Region, worker_id) -> User:
    """The worker a file may go to: an active grid worker of this township."""
    try:
        worker = db.session.get(User, int(worker_id)) if worker_id not in (None, "") else None
    except (TypeError, ValueError):
        worker = None
    if worker_id in (None, ""):
        raise AssignmentRefused("请选择网格员。")
    if worker is None:
        raise AssignmentRefused("所选网格员不存在，请重新选择。")
    if "grid_worker" not in worker.role_names:
        raise AssignmentRefused(f"{worker.display_name} 不是网格员，不能分配档案。")
    if worker.id not in {w.user.id for w in township_workers(township)}:
        raise AssignmentRefused("不能分配给其他乡镇的网格员。")
    if not worker.active:
        raise AssignmentRefused(f"{worker.display_name} 的账户已停用，不能分配档案。")
    return worker


def check_due(due: date | None) -> None:
    if due is not None and due < local_today():
        raise AssignmentRefused("截止日期不能早于今天。")


def _area(worker: User):
    """Where the desk may give the worker files (包片): their file.receive scope, as SQL. A
    community the worker only covers (代管) is not in it."""
    scope = scope_for(worker, "file.receive")
    return Scope(scope.prefixes + scope.assigned_prefixes).clause(PersonFile.region_code)


def _covered_area(worker: User):
    """Where the worker may hold files assigned to them: their visit.record scope, as SQL
    (their own communities and those they cover)."""
    scope = scope_for(worker, "visit.record")
    return Scope(scope.prefixes + scope.assigned_prefixes).clause(PersonFile.region_code)


def _may_assign(actor, township: Region) -> None:
    require(actor, "file.assign", township.code)


# --- the three operations ---------------------------------------------------------------------


def assign(
    actor, township: Region, selection: Selection, worker_id, due: date | None = None
) -> tuple[User, Outcome]:
    """Give the selected open files of the township to one worker (no commit)."""
    _may_assign(actor, township)
    if selection.filters is None:
        if not selection.file_ids:
            raise AssignmentRefused("请先勾选要分配的档案，或选择“分配全部符合条件的档案”。")
        if len(selection.file_ids) > MAX_TICKED:
            raise AssignmentRefused(f"一次最多勾选 {MAX_TICKED} 个档案；更多档案请按筛选条件分配。")
    worker = check_worker(township, worker_id)
    check_due(due)
    chosen = PersonFile.id.in_(selection.file_ids) if selection.filters is None else None
    conditions = file_conditions(township, selection.filters or DeskFilters(state="open"))
    in_area = _area(worker)
    held = PersonFile.assignee_id == worker.id
    if due is not None:
        held = and_(held, PersonFile.due_date == due)
    plan = _plan_select(
        new_assignee=case((in_area, literal(worker.id, Integer)), else_=cast(null(), Integer)),
        skip=case((not_(in_area), literal("outside")), (held, literal("held")), else_=_no_skip()),
        where=[
            *conditions,
            *([chosen] if chosen is not None else []),
            scope_for(actor, "file.assign").clause(PersonFile.region_code),
            PersonFile.state.in_(sources("assign") | sources("reassign")),
        ],
    )
    outcome = _run(actor, plan, [worker], due)
    _audit(actor, township, "assign", outcome, worker)
    end_idle_covers(actor, township)
    return worker, outcome


def auto_assign(actor, township: Region, due: date | None = None) -> Outcome:
    """Each unassigned file of the township goes to a worker holding its community (包片).

    Communities held by the same workers form a pool; within a pool the files, in id order, go
    round-robin to the pool's workers ordered by their current open files, least loaded first.
    """
    _may_assign(actor, township)
    check_due(due)
    workers = worker_choices(township)
    if not workers:
        raise AssignmentRefused("本乡镇还没有可分配的网格员，请先在“用户管理”中添加网格员。")
    candidate = [
        within(township, PersonFile.region_code),
        PersonFile.state.in_(sources("assign")),
        PersonFile.assignee_id.is_(None),
        scope_for(actor, "file.assign").clause(PersonFile.region_code),
    ]
    communities = db.session.scalars(
        select(PersonFile.region_code).where(*candidate).distinct()
    ).all()
    if not communities:
        return Outcome()
    pools: dict[tuple[int, ...], int] = {}
    community_pool = []
    for code in communities:
        holders = tuple(w.id for w in workers if can(w, "file.receive", code, ANY))
        if holders:
            community_pool.append((code, pools.setdefault(holders, len(pools) + 1)))
    chosen_worker = cast(null(), Integer)
    joined = None
    if community_pool:
        joined = _round_robin(candidate, community_pool, pools)
        chosen_worker = joined.c.worker_id
    plan = _plan_select(
        new_assignee=chosen_worker,
        skip=case((chosen_worker.is_(None), literal("nobody")), else_=_no_skip()),
        where=candidate,
        join=joined,
    )
    outcome = _run(actor, plan, workers, due)
    _audit(actor, township, "auto_assign", outcome)
    end_idle_covers(actor, township)
    return outcome


def handover(actor, township: Region, from_id, to_id) -> tuple[User, User | None, Outcome]:
    """Move every open file of one worker, within the actor's scope, to another worker of the
    township; files outside the new worker's communities (or all, without one) go back to
    unassigned. Files in a state that may not be unassigned (pending review or confirmation)
    stay where they are."""
    _may_assign(actor, township)
    holders = {w.user.id: w.user for w in desk_workers(township)}
    leaving = holders.get(int(from_id)) if str(from_id or "").isdigit() else None
    if leaving is None:
        raise AssignmentRefused("请选择本乡镇要交接档案的网格员。")
    if to_id in (None, ""):
        raise AssignmentRefused("请选择把档案交给哪位网格员，或选择“收回待分配”。")
    receiving = None if to_id == "none" else check_worker(township, to_id)
    if receiving is not None and receiving.id == leaving.id:
        raise AssignmentRefused("不能交接给同一名网格员。")
    if receiving is None:
        new_assignee = cast(null(), Integer)
    else:
        new_assignee = case(
            (_area(receiving), literal(receiving.id, Integer)), else_=cast(null(), Integer)
        )
    plan = _plan_select(
        new_assignee=new_assignee,
        skip=_no_skip(),
        where=[
            PersonFile.assignee_id == leaving.id,
            PersonFile.state.in_(OPEN_FILE_STATES),
            scope_for(actor, "file.assign").clause(PersonFile.region_code),
        ],
    )
    outcome = _run(actor, plan, [receiving] if receiving else [], None)
    if not (outcome.assigned or outcome.returned or outcome.kept):
        raise AssignmentRefused(f"{leaving.display_name} 没有您可以交接的在办档案。")
    _audit(actor, township, "handover", outcome, receiving, leaving)
    end_idle_covers(actor, township)
    return leaving, receiving, outcome


# --- 代管: a worker of another community covers files -----------------------------------------


def check_cover_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise AssignmentRefused("请填写代管原因（例如：本社区网格员病假）。")
    if len(text) > COVER_REASON_MAX:
        raise AssignmentRefused(f"代管原因不能超过 {COVER_REASON_MAX} 字。")
    return text


def cover(
    actor, township: Region, file_ids, worker_id, reason, due: date | None = None
) -> tuple[User, Outcome]:
    """Let a grid worker of the township cover the ticked open files of other communities of
    the township (代管), with a reason (no commit; all or nothing)."""
    _may_assign(actor, township)
    reason = check_cover_reason(reason)
    file_ids = tuple(file_ids)
    if not file_ids:
        raise AssignmentRefused("请先勾选要代管的档案。")
    if len(file_ids) > MAX_TICKED:
        raise AssignmentRefused(f"一次最多勾选 {MAX_TICKED} 个档案。")
    worker = check_worker(township, worker_id)
    check_due(due)
    where = [
        *file_conditions(township, DeskFilters(state="open")),
        PersonFile.id.in_(file_ids),
        scope_for(actor, "file.assign").clause(PersonFile.region_code),
        PersonFile.state.in_(sources("assign") | sources("reassign")),
    ]
    own = _area(worker)
    communities = sorted(
        db.session.scalars(select(PersonFile.region_code).where(*where, not_(own)).distinct())
    )
    if not communities:
        raise AssignmentRefused(
            f"所勾选的档案中没有其他社区的在办档案可以交给 {worker.display_name} 代管"
            "（本社区的档案请直接分配）。"
        )
    with db.session.begin_nested():  # a refusal below takes the new grants back too
        held = {g.region_code for g in worker.grants if g.role == COVERING}
        granted = [code for code in communities if code not in held]
        for code in granted:
            worker.grants.append(Grant(role=COVERING, region_code=code, granted_by_id=actor.id))
        db.session.flush()
        db.session.refresh(worker, ["grants"])
        covered = and_(PersonFile.region_code.in_(communities), _covered_area(worker))
        mine = PersonFile.assignee_id == worker.id
        if due is not None:
            mine = and_(mine, PersonFile.due_date == due)
        plan = _plan_select(
            new_assignee=case((covered, literal(worker.id, Integer)), else_=cast(null(), Integer)),
            skip=case((own, literal("own")), (mine, literal("held")), else_=_no_skip()),
            where=where,
        )
        outcome = _run(
            actor, plan, [worker], due, area=_covered_area, note={"cover_reason": reason}
        )
        if not outcome.assigned:
            raise AssignmentRefused(f"所勾选的档案已由 {worker.display_name} 负责，没有改变。")
        for code in granted:
            _audit_grant("role.grant", actor, worker, code, {"cover_reason": reason})
        # One event per covered community: how many of the ticked files the worker now holds.
        per_community = db.session.execute(
            select(PersonFile.region_code, func.count())
            .where(
                PersonFile.id.in_(file_ids),
                PersonFile.assignee_id == worker.id,
                PersonFile.region_code.in_(communities),
            )
            .group_by(PersonFile.region_code)
        ).all()
        for code, count in per_community:
            audit.record(
                "file.assign",
                actor=actor,
                target_type="region",
                target_id=code,
                target_label=_region_name(code),
                region_code=code,
                detail={
                    "kind": "cover",
                    "assigned": count,
                    "worker_id": worker.id,
                    "region": code,
                    "cover_reason": reason,
                },
            )
    end_idle_covers(actor, township)  # a file taken from another covering worker
    return worker, outcome


def covering_grant_or_none(actor, township: Region, grant_id) -> Grant | None:
    """A 代管 grant of the township the actor may end, or None."""
    try:
        grant = db.session.get(Grant, int(grant_id))
    except (TypeError, ValueError):
        return None
    if grant is None or grant.role != COVERING:
        return None
    if not grant.region_code.startswith(township.prefix):
        return None
    if not can(actor, "file.assign", grant.region_code):
        return None
    return grant


def end_cover(actor, township: Region, grant_id) -> tuple[User, str, Outcome]:
    """End a 代管: the holder's open files of the covered community go back to 待分配 and the
    grant is revoked; files waiting for a review or the comparison stay with the worker (the
    grant with them) until they are decided. Returns the worker, the community and what moved."""
    _may_assign(actor, township)
    grant = covering_grant_or_none(actor, township, grant_id)
    if grant is None:
        raise AssignmentRefused("该代管已经结束，或不在您的管辖范围内。")
    worker, community = grant.user, grant.region_code
    plan = _plan_select(
        new_assignee=cast(null(), Integer),
        skip=_no_skip(),
        where=[
            PersonFile.assignee_id == worker.id,
            PersonFile.region_code.between(*subtree_bounds(grant.prefix)),
            PersonFile.state.in_(OPEN_FILE_STATES),
            scope_for(actor, "file.assign").clause(PersonFile.region_code),
        ],
    )
    outcome = _run(actor, plan, [], None)
    _audit(actor, township, "cover", outcome, None, worker)
    end_idle_covers(actor, township, ended_by_supervisor=True)
    return worker, community, outcome


def end_idle_covers(actor, township: Region, *, ended_by_supervisor: bool = False) -> int:
    """Revoke the township's 代管 grants whose holder has no open file left in the covered
    community (each revocation audited); returns how many ended."""
    busy = (
        select(PersonFile.id)
        .where(
            PersonFile.assignee_id == Grant.user_id,
            PersonFile.region_code == Grant.region_code,
            PersonFile.state.in_(OPEN_FILE_STATES),
        )
        .correlate(Grant)
        .exists()
    )
    idle = db.session.scalars(
        select(Grant).where(Grant.role == COVERING, within(township, Grant.region_code), ~busy)
    ).all()
    why = "督导结束代管" if ended_by_supervisor else "代管的档案已全部交回或改派"
    for grant in idle:
        worker = grant.user
        _audit_grant("role.revoke", actor, worker, grant.region_code, {"reason": why})
        worker.grants.remove(grant)
    if idle:
        db.session.flush()
    return len(idle)


def cover_message(outcome: Outcome, worker_name: str) -> str:
    parts = [f"已将 {outcome.assigned} 个档案交给 {worker_name} 代管"]
    if outcome.own:
        parts.append(f"{outcome.own} 个在该网格员自己的社区，未改变（请直接分配）")
    if outcome.held:
        parts.append(f"{outcome.held} 个原本就由该网格员负责")
    return "；".join(parts) + "。"


def end_cover_message(worker: User, community_name: str, outcome: Outcome, ended: bool) -> str:
    text = (
        f"已结束 {worker.display_name} 对{community_name}的代管，"
        f"收回 {outcome.returned} 个档案待重新分配"
    )
    if not ended:
        text += (
            f"；{outcome.kept} 个档案正在待审核或待比对确认，仍由 {worker.display_name} 负责，"
            "处理完后代管自动结束"
        )
    return text + "。"


# --- messages ---------------------------------------------------------------------------------


def assign_message(outcome: Outcome, worker_name: str) -> str:
    parts = [f"已分配 {outcome.assigned} 个档案给 {worker_name}"]
    if outcome.outside:
        parts.append(f"{outcome.outside} 个不在该网格员的社区，未分配")
    if outcome.held:
        parts.append(f"{outcome.held} 个原本就由该网格员负责")
    return "；".join(parts) + "。"


def auto_assign_message(outcome: Outcome) -> str:
    if not (outcome.assigned or outcome.nobody):
        return "没有待分配的档案。"
    parts = [f"已按包片自动分配 {outcome.assigned} 个档案"]
    if outcome.nobody:
        parts.append(f"{outcome.nobody} 个档案所在社区没有网格员，仍待分配")
    return "；".join(parts) + "。"


def handover_message(leaving: User, receiving: User | None, outcome: Outcome) -> str:
    if receiving is None:
        parts = [f"已收回 {leaving.display_name} 的 {outcome.returned} 个档案，待重新分配"]
    else:
        parts = [
            f"已将 {leaving.display_name} 的 {outcome.assigned} 个档案交给 {receiving.display_name}"
        ]
        if outcome.returned:
            parts.append(f"{outcome.returned} 个不在 {receiving.display_name} 的社区，已收回待分配")
    if outcome.kept:
        parts.append(
            f"{outcome.kept} 个档案正在待审核或待比对确认，仍由 {leaving.display_name} 负责"
        )
    return "；".join(parts) + "。"


# --- the plan and its execution ---------------------------------------------------------------


def _no_skip():
    return cast(null(), String)


def _round_robin(candidate: list, community_pool: list[tuple[str, int]], pools: dict):
    """(file_id, worker_id) for the candidate files whose community some worker holds."""
    community = union_all(
        *(
            select(literal(code, String(12)).label("region_code"), literal(pool).label("pool"))
            for code, pool in community_pool
        )
    ).subquery("community_pool")
    member = union_all(
        *(
            select(literal(pool).label("pool"), literal(worker, Integer).label("worker_id"))
            for holders, pool in pools.items()
            for worker in holders
        )
    ).subquery("pool_member")
    worker_ids = sorted({w for holders in pools for w in holders})
    load = (
        select(PersonFile.assignee_id.label("worker_id"), func.count().label("files"))
        .where(PersonFile.assignee_id.in_(worker_ids), PersonFile.state.in_(OPEN_FILE_STATES))
        .group_by(PersonFile.assignee_id)
        .subquery("load")
    )
    ranked_workers = (
        select(
            member.c.pool,
            member.c.worker_id,
            (
                func.row_number().over(
                    partition_by=member.c.pool,
                    order_by=(func.coalesce(load.c.files, 0), member.c.worker_id),
                )
                - 1
            ).label("k"),
            func.count().over(partition_by=member.c.pool).label("n"),
        )
        .select_from(member.outerjoin(load, load.c.worker_id == member.c.worker_id))
        .subquery("ranked_workers")
    )
    ranked_files = (
        select(
            PersonFile.id.label("file_id"),
            community.c.pool,
            (
                func.row_number().over(partition_by=community.c.pool, order_by=PersonFile.id) - 1
            ).label("rn"),
        )
        .join(community, community.c.region_code == PersonFile.region_code)
        .where(*candidate)
        .subquery("ranked_files")
    )
    return (
        select(ranked_files.c.file_id, ranked_workers.c.worker_id)
        .join(
            ranked_workers,
            and_(
                ranked_workers.c.pool == ranked_files.c.pool,
                ranked_workers.c.k == ranked_files.c.rn % ranked_workers.c.n,
            ),
        )
        .subquery("chosen")
    )


def _action(state, new_assignee, skip):
    """The transition each planned file takes, from the workflow table's source states."""
    return case(
        (skip.is_not(None), _no_skip()),
        (and_(new_assignee.is_not(None), state.in_(sources("assign"))), literal("assign")),
        (and_(new_assignee.is_not(None), state.in_(sources("reassign"))), literal("reassign")),
        (and_(new_assignee.is_(None), state.in_(sources("unassign"))), literal("unassign")),
        else_=_no_skip(),
    )


def _plan_select(*, new_assignee, skip, where: list, join=None):
    base = select(
        PersonFile.id.label("file_id"),
        PersonFile.person_id,
        PersonFile.region_code,
        PersonFile.state.label("old_state"),
        PersonFile.assignee_id.label("old_assignee"),
        PersonFile.due_date.label("old_due"),
        PersonFile.version.label("old_version"),
        new_assignee.label("new_assignee"),
        skip.label("skip"),
    )
    if join is not None:
        base = base.select_from(PersonFile).outerjoin(join, join.c.file_id == PersonFile.id)
    inner = base.where(*where).subquery("planned")
    return select(
        *(inner.c[name] for name in ("file_id", "person_id", "region_code", "old_state")),
        inner.c.old_assignee,
        inner.c.old_due,
        inner.c.old_version,
        inner.c.new_assignee,
        _action(inner.c.old_state, inner.c.new_assignee, inner.c.skip).label("action"),
        inner.c.skip,
    )


def _new_state():
    """The state after each planned action: the transition table's target, or unchanged."""
    whens = [
        (PLAN.c.action == a, literal(BY_ACTION[a].target))
        for a in ACTIONS
        if BY_ACTION[a].target is not None
    ]
    return case(*whens, else_=PLAN.c.old_state)


def _changes(due: date | None, note: dict | None = None):
    """The history's {field: [old, new]} as SQL JSON, each field only when it changes; `note`:
    fields recorded as [None, value] on every changed file (the 代管 reason)."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    build_array = func.jsonb_build_array if postgres else func.json_array
    new_state = _new_state()
    due_text = cast(literal(due.isoformat() if due else None), String)
    pairs = {
        "assignee_id": (
            PLAN.c.old_assignee.is_distinct_from(PLAN.c.new_assignee),
            build_array(PLAN.c.old_assignee, PLAN.c.new_assignee),
        ),
        "file_state": (PLAN.c.old_state != new_state, build_array(PLAN.c.old_state, new_state)),
    }
    if due is not None:
        pairs["due_date"] = (
            and_(PLAN.c.new_assignee.is_not(None), PLAN.c.old_due.is_distinct_from(due)),
            build_array(cast(PLAN.c.old_due, String), due_text),
        )
    for name, value in (note or {}).items():
        pairs[name] = (true(), build_array(null(), cast(literal(value), String)))
    arguments = []
    for name, (changed, value) in pairs.items():
        arguments += [literal_column(f"'{name}'"), case((changed, value))]
    if postgres:
        return func.jsonb_strip_nulls(func.jsonb_build_object(*arguments))
    # json_patch drops the keys whose value is null (RFC 7396): only the changed fields stay.
    return func.json_patch(literal_column("'{}'"), func.json_object(*arguments))


def _run(
    actor, plan, workers: list[User], due: date | None, *, area=_area, note: dict | None = None
) -> Outcome:
    """Write the plan, apply it, record the history (no commit); all or nothing. `area`: where
    each worker may receive files (SQL, checked again on each row)."""
    now = utcnow()
    with db.session.begin_nested():
        connection = db.session.connection()
        connection.execute(text(f"DROP TABLE IF EXISTS {PLAN.name}"))
        PLAN.create(connection)
        connection.execute(insert(PLAN).from_select([c.name for c in PLAN.c], plan))
        counts = connection.execute(
            select(PLAN.c.action, PLAN.c.skip, func.count()).group_by(PLAN.c.action, PLAN.c.skip)
        ).all()
        planned = sum(n for action, _, n in counts if action is not None)
        if planned:
            touched = db.session.execute(
                _update(actor, workers, due, now, area),
                execution_options={"synchronize_session": False},
            ).rowcount
            if touched != planned:
                raise AssignmentConflict(
                    "有档案刚被其他人修改，本次没有分配任何档案，请刷新页面后重试。"
                )
            connection.execute(
                insert(PersonChange).from_select(
                    ["person_id", "region_code", "at", "user_id", "cause", "changes"],
                    select(
                        PLAN.c.person_id,
                        PLAN.c.region_code,
                        literal(now, PersonChange.at.type),
                        literal(actor.id, Integer),
                        literal("assign"),
                        _changes(due, note),
                    )
                    .where(PLAN.c.action.is_not(None))
                    .order_by(PLAN.c.file_id),
                )
            )
            # The figures of the communities of the files changed.
            stats.refresh_codes(
                connection,
                f"SELECT region_code FROM {PLAN.name} WHERE action IS NOT NULL",
                files_only=True,
            )
        connection.execute(text(f"DROP TABLE {PLAN.name}"))
    # Files already loaded in this session were changed behind its back: read them again.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, PersonFile):
            db.session.expire(obj)
    tally = {(action, skip): n for action, skip, n in counts}
    return Outcome(
        assigned=tally.get(("assign", None), 0) + tally.get(("reassign", None), 0),
        returned=tally.get(("unassign", None), 0),
        outside=tally.get((None, "outside"), 0),
        held=tally.get((None, "held"), 0),
        nobody=tally.get((None, "nobody"), 0),
        kept=tally.get((None, None), 0),
        own=tally.get((None, "own"), 0),
    )


def _update(actor, workers: list[User], due: date | None, now, area=_area):
    """The one UPDATE: each guard of the plan is checked again on the row being changed."""
    giving = PLAN.c.new_assignee.is_not(None)
    in_area = or_(*(and_(PLAN.c.new_assignee == w.id, area(w)) for w in workers), false())
    values = {
        "assignee_id": PLAN.c.new_assignee,
        "state": _new_state(),
        "assigned_at": case((giving, literal(now, PersonFile.assigned_at.type)), else_=null()),
        "version": PersonFile.version + 1,
    }
    if due is not None:
        values["due_date"] = case(
            (giving, literal(due, PersonFile.due_date.type)), else_=PersonFile.due_date
        )
    return (
        update(PersonFile)
        .where(
            PersonFile.id == PLAN.c.file_id,
            PLAN.c.action.is_not(None),
            PersonFile.version == PLAN.c.old_version,
            scope_for(actor, "file.assign").clause(PersonFile.region_code),
            or_(PLAN.c.new_assignee.is_(None), in_area),
            or_(*(and_(PLAN.c.action == a, PersonFile.state.in_(sources(a))) for a in ACTIONS)),
        )
        .values(values)
    )


def _region_name(code: str) -> str:
    region = db.session.get(Region, code)
    return region.name if region else code


def _audit_grant(action: str, actor, worker: User, community: str, detail: dict) -> None:
    """A 代管 grant given or revoked, filed under the worker like the user pages' grants."""
    audit.record_about_user(
        action,
        worker,
        actor=actor,
        detail={"role": COVERING, "region": community, "kind": "cover", **detail},
    )


def _audit(actor, township: Region, kind: str, outcome: Outcome, worker=None, leaving=None):
    """One audit event per bulk action (the per-file history is in person_change)."""
    detail = {"kind": kind, "assigned": outcome.assigned, "returned": outcome.returned}
    if worker is not None:
        detail["worker_id"] = worker.id
    if leaving is not None:
        detail["from_worker_id"] = leaving.id
    audit.record(
        "file.assign",
        actor=actor,
        target_type="region",
        target_id=township.code,
        target_label=township.name,
        region_code=township.code,
        detail=detail,
    )
