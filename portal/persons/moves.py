"""A file follows its person (档案随人走): open files move to their person's community.

`follow_persons` is the one place that moves files. Whatever moves a person — a household
register or resident list import (imports/apply.py), an edit (persons/operations.py), a
comparison (comparisons/) — calls it in the same transaction, after the persons are written.
It is set-based: one INSERT … SELECT plans every open file (codes.OPEN_FILE_STATES) whose
region differs from its person's, then one statement each moves the files, records the moves
(file_move: 移入 / 移出), writes the history (person_change, cause as given:
{"file_region": [from, to]} plus the assignee and state when they change) and takes pending
closure proposals along (visit.region_code: the review queue of the new township).

What happens to the assignment, by the workflow table (workflow/transitions.py):
- a worker who also covers the new community (an active user holding `file.receive` there
  through a grant, as the desk's assignment decides a worker's area; a community covered only
  by 代管 does not count) keeps the file:
  file_move.kept_assignee is TRUE, nothing else changes;
- otherwise the old assignment ends (assignee NULL). A file in a state the workflow may
  unassign (`sources("unassign")`: assigned, following, declined) goes back to `unassigned`
  and waits in the new community's pool (待分配). A file waiting for a review
  (pending_review) or for the comparison (pending_confirmation) keeps its state: the proposal
  moves with it to the new township's review queue, and a supervisor there approves or
  returns it (a returned file is then assigned like any other); the comparison confirms a
  payment wherever the person is. An unassigned file only changes its region.
Closed files (enrolled, exempt) stay where the work was done: they are the figures of the
region and year that closed them.

A file's scope is therefore always its person's: the source region stops seeing the file (and
the person) at once, and sees only the move itself on its desk (移出: the masked person and the
destination's name); the destination sees the file in its unassigned pool and the move (移入).

Which record is the newer truth when a list places a person another region holds (cross-county
and cross-city moves, imports/apply.apply_household):
- the resident list (常住人口) says where a person lives: a resident list of the destination
  takes the person over wherever they are held; between two resident lists the later import
  wins (the person moved again);
- the household register (户籍人口) says where a person is registered: a register of the
  destination takes over a person placed by another region's register (a household move,
  户口迁移; the later register extract wins), but never a person a resident list places: the
  resident list says where they live (as a register re-import inside the scope leaves them in
  the community and at the address where they live). That row is refused with the reason,
  and the person stays with the region where they live.
"""

import re

from sqlalchemy import Connection, text

from permissions.enforcer import get_enforcer
from permissions.roles import ROLES
from portal.database import code_list, raise_work_mem, restore_work_mem, timed
from portal.persons.codes import OPEN_FILE_STATES
from portal.regions.codes import PREFIX_LENGTH, subtree_bounds
from portal.timeutil import utcnow
from portal.workflow.transitions import BY_ACTION, sources

CAUSES = ("import", "edit", "comparison")
PLAN = "file_move_plan"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def visiting_roles() -> tuple[str, ...]:
    """Roles whose holders the desk may give files of their region (file.receive): who may
    keep a file that moves there."""
    enforcer = get_enforcer()
    return tuple(
        sorted(
            role
            for role in ROLES
            if {("file.receive", "*"), ("file.receive", "assigned")} & enforcer.permissions_of(role)
        )
    )


def _prefix_length(level: str) -> str:
    """SQL: the prefix length of a region's level (regions/codes.PREFIX_LENGTH)."""
    whens = " ".join(f"WHEN {lv} THEN {n}" for lv, n in PREFIX_LENGTH.items())
    return f"CASE {level} {whens} END"


def _covered(assignee: str, community: str) -> str:
    """SQL: the assignee holds a visiting role over `community` (an active account)."""
    length = _prefix_length("r.level")
    return (
        f"EXISTS (SELECT 1 FROM role_grant g JOIN region r ON r.code = g.region_code "
        f"JOIN app_user u ON u.id = g.user_id "
        f"WHERE g.user_id = {assignee} AND u.active AND g.role IN ({code_list(visiting_roles())}) "
        f"AND substr({community}, 1, {length}) = substr(g.region_code, 1, {length}))"
    )


def follow_persons(
    connection: Connection,
    *,
    cause: str,
    batch_id: int | None = None,
    user_id: int | None = None,
    person_ids_table: str | None = None,
    region_prefix: str | None = None,
    person_id: int | None = None,
) -> int:
    """Move every open file whose region differs from its person's to the person's region, in
    the caller's transaction (no commit); returns the number of files moved.

    Which persons: those listed in `person_ids_table` (a table with a `person_id` column, e.g.
    the persons an import moved), one `person_id`, or those whose file or own region lies
    within `region_prefix` (a comparison of that region); at least one is required, all given
    apply together. `batch_id` (the import batch or comparison run) and `user_id` are recorded
    on the move and its history."""
    if cause not in CAUSES:
        raise ValueError(f"cause must be one of {CAUSES}, not {cause!r}")
    if person_ids_table is None and region_prefix is None and person_id is None:
        raise ValueError("follow_persons needs person_ids_table, region_prefix or person_id")
    if person_ids_table is not None and not _IDENTIFIER.match(person_ids_table):
        raise ValueError(f"not a table name: {person_ids_table!r}")
    postgres = connection.dialect.name == "postgresql"
    params: dict = {"now": utcnow(), "cause": cause, "batch": batch_id, "user": user_id}
    joins, where = (
        "",
        [
            f"f.state IN ({code_list(OPEN_FILE_STATES)})",
            "f.region_code <> p.region_code",
        ],
    )
    if person_ids_table is not None:
        joins = f"JOIN (SELECT DISTINCT person_id FROM {person_ids_table}) t ON t.person_id = p.id"
    if person_id is not None:
        where.append("p.id = :person_id")
        params["person_id"] = person_id
    if region_prefix is not None:
        if not region_prefix.isdigit():
            raise ValueError(f"not a region prefix: {region_prefix!r}")
        params["lo"], params["hi"] = subtree_bounds(region_prefix)
        where.append("(f.region_code BETWEEN :lo AND :hi OR p.region_code BETWEEN :lo AND :hi)")
    unassignable = code_list(sources("unassign"))
    unassigned = BY_ACTION["unassign"].target
    covered = _covered("f.assignee_id", "p.region_code")
    _create_plan(connection, postgres)
    # The plan: each file to move, what it was, what it becomes. On PostgreSQL the files are
    # locked as they are read (a concurrent assignment waits, then sees the moved file).
    lock = " FOR UPDATE OF f" if postgres else ""
    # A whole region (a comparison) joins every open file to its person: hashed in memory,
    # 1 M persons take about 0.7 s instead of 1 s here.
    work_mem = raise_work_mem(connection) if region_prefix is not None else None
    connection.execute(
        text(
            f"INSERT INTO {PLAN} (file_id, person_id, year, from_region, to_region, old_state, "
            "new_state, old_assignee, new_assignee, kept) "
            "SELECT file_id, person_id, year, from_region, to_region, old_state, "
            f"CASE WHEN kept OR old_assignee IS NULL OR old_state NOT IN ({unassignable}) "
            f"THEN old_state ELSE '{unassigned}' END, "
            "old_assignee, CASE WHEN kept THEN old_assignee END, kept "
            "FROM (SELECT f.id AS file_id, f.person_id, f.year, f.region_code AS from_region, "
            "p.region_code AS to_region, f.state AS old_state, f.assignee_id AS old_assignee, "
            f"(f.assignee_id IS NOT NULL AND {covered}) AS kept "
            f"FROM person_file f JOIN person p ON p.id = f.person_id {joins} "
            f"WHERE {' AND '.join(where)}{lock}) planned"
        ),
        params,
    )
    restore_work_mem(connection, work_mem)
    moved = connection.execute(text(f"SELECT COUNT(*) FROM {PLAN}")).scalar() or 0
    if moved:
        _apply_plan(connection, postgres, params)
        # The figures of the communities the files left and joined.
        from portal.stats import maintain as stats  # (stats/ imports the comparison's rules)

        stats.refresh_moves(connection, PLAN)
    connection.execute(text(f"DROP TABLE {PLAN}"))
    return int(moved)


def _create_plan(connection: Connection, postgres: bool) -> None:
    boolean = "BOOLEAN" if postgres else "INTEGER"
    connection.execute(text(f"DROP TABLE IF EXISTS {PLAN}"))
    connection.execute(
        text(
            f"CREATE TEMPORARY TABLE {PLAN} (file_id BIGINT PRIMARY KEY, person_id BIGINT, "
            "year SMALLINT, from_region VARCHAR(12), to_region VARCHAR(12), "
            "old_state VARCHAR(24), new_state VARCHAR(24), old_assignee INTEGER, "
            f"new_assignee INTEGER, kept {boolean})"
        )
    )


def _history(postgres: bool) -> str:
    """SQL: the history's {field: [old, new]} of a planned move, each field when it changes."""
    array = "jsonb_build_array" if postgres else "json_array"
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    pairs = (
        f"'file_region', {array}(m.from_region, m.to_region), "
        f"'assignee_id', CASE WHEN m.old_assignee {distinct} m.new_assignee "
        f"THEN {array}(m.old_assignee, m.new_assignee) END, "
        f"'file_state', CASE WHEN m.old_state <> m.new_state "
        f"THEN {array}(m.old_state, m.new_state) END"
    )
    if postgres:
        return f"jsonb_strip_nulls(jsonb_build_object({pairs}))"
    # json_patch drops the keys whose value is null (RFC 7396): only the changed fields stay.
    return f"json_patch('{{}}', json_object({pairs}))"


def _apply_plan(connection: Connection, postgres: bool, params: dict) -> None:
    kept = "m.kept" if postgres else "m.kept = 1"
    connection.execute(
        text(
            "UPDATE person_file SET region_code = m.to_region, state = m.new_state, "
            "assignee_id = m.new_assignee, "
            f"assigned_at = CASE WHEN {kept} THEN person_file.assigned_at END, "
            f"version = person_file.version + 1 FROM {PLAN} m WHERE person_file.id = m.file_id"
        )
    )
    connection.execute(
        timed(
            "INSERT INTO file_move (file_id, person_id, year, from_region_code, to_region_code, "
            "at, cause, batch_id, user_id, old_assignee_id, kept_assignee) "
            "SELECT m.file_id, m.person_id, m.year, m.from_region, m.to_region, :now, :cause, "
            f":batch, :user, m.old_assignee, {kept} FROM {PLAN} m ORDER BY m.file_id"
        ),
        params,
    )
    connection.execute(
        timed(
            "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, "
            f"changes) SELECT m.person_id, m.to_region, :now, :user, :cause, :batch, "
            f"{_history(postgres)} FROM {PLAN} m ORDER BY m.file_id"
        ),
        params,
    )
    # A closure proposed before the move is reviewed by the township the file now belongs to.
    connection.execute(
        text(
            f"UPDATE visit SET region_code = (SELECT m.to_region FROM {PLAN} m "
            "WHERE m.file_id = visit.file_id) "
            "WHERE visit.review_state = 'pending' "
            f"AND visit.file_id IN (SELECT file_id FROM {PLAN})"
        )
    )
    # Evidence images keep the file's community (their scope column, visits/evidence.py).
    connection.execute(
        text(
            f"UPDATE visit_evidence SET region_code = (SELECT m.to_region FROM {PLAN} m "
            "WHERE m.file_id = visit_evidence.file_id) "
            f"WHERE visit_evidence.file_id IN (SELECT file_id FROM {PLAN})"
        )
    )
