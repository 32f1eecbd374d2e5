"""Applying a lapsed list (断缴人员): employees whose contributions stopped, set-based, no commit.

Each staged row is (ID number, insured place, stop date):
- the person's employee enrollment records that are normal and cover the stop date (started on or
  before it, with no end or an end after it) are suspended from that date (status suspended, end
  date = stop date);
- a person with no employee enrollment record at all gets one: at the row's insured place, started
  and ended on the stop date, suspended, so that the comparison knows when the payments stopped;
- a person on file (table person) managed within the scope gets the key-population category
  断缴人员, with a history row.
The comparison then opens (or re-opens) a lapsed file for whoever stopped more than 3 months ago.

Counting, one outcome per row. An ID number not on file is still applied to the enrollment records
(the insured database knows more people than the register): "created" when a new enrollment
record is inserted for the row; "updated" when records are suspended, or when the person on file
is newly marked 断缴人员; "unchanged" when there is nothing left to do, as on importing the same
file again. A row whose covering normal record lies at an insured place outside the scope is sent
back: that place's office records the lapse.
"""

from collections.abc import Iterable

from sqlalchemy import Connection, DateTime, String, bindparam, literal_column, text

from permissions import Scope
from portal.imports import key_populations
from portal.imports.apply import (
    ENROLLMENT_LOCK,
    PERSON_LOCK,
    ApplyResult,
    bulk_insert,
    create_temp_table,
    serialize,
)
from portal.persons.codes import KEY_POPULATION_BY_CODE
from portal.timeutil import utcnow

STAGE = "lapsed_stage"
FIELDS = ("id_number", "region_code", "stop_date")
LAPSED_BIT = KEY_POPULATION_BY_CODE["lapsed_payer"].bit
# Conditions on an enrollment record `e` for a staged row `s`.
EMPLOYEE = "e.id_number = s.id_number AND e.scheme = 'employee'"
COVERING = (
    f"{EMPLOYEE} AND e.status = 'normal' AND e.start_date <= s.stop_date "
    "AND (e.end_date IS NULL OR e.end_date > s.stop_date)"
)


def create_stage(connection: Connection) -> None:
    create_temp_table(
        connection,
        STAGE,
        "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL, "
        "region_code VARCHAR(12) NOT NULL, stop_date DATE NOT NULL",
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    bulk_insert(connection, STAGE, FIELDS, rows)


def _in_scope(connection: Connection, scope: Scope, column: str) -> str:
    """The scope's condition on a region column, as SQL text."""
    clause = scope.clause(literal_column(column, String()))
    return str(clause.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))


def _timed(sql: str):
    return text(sql).bindparams(bindparam("now", type_=DateTime()))


def apply_lapsed(
    connection: Connection, scope: Scope, *, batch_id: int, user_id: int | None
) -> ApplyResult:
    serialize(connection, PERSON_LOCK)  # always in this order: no deadlock with other batches
    serialize(connection, ENROLLMENT_LOCK)
    result = ApplyResult(rejected=_send_back_outside(connection, scope))
    person_in_scope = _in_scope(connection, scope, "p.region_code")
    to_mark = f"p.id IS NOT NULL AND ({person_in_scope}) AND (p.key_populations & {LAPSED_BIT}) = 0"
    counts = connection.execute(
        text(
            "SELECT COUNT(*) FILTER (WHERE NOT known), "
            "COUNT(*) FILTER (WHERE known AND (covered OR to_mark)), "
            "COUNT(*) FILTER (WHERE known AND NOT covered AND NOT to_mark) FROM ("
            f"SELECT EXISTS (SELECT 1 FROM enrollment e WHERE {EMPLOYEE}) AS known, "
            f"EXISTS (SELECT 1 FROM enrollment e WHERE {COVERING}) AS covered, "
            f"({to_mark}) AS to_mark "
            f"FROM {STAGE} s LEFT JOIN person p ON p.id_number = s.id_number) r"
        )
    ).one()
    result.created, result.updated, result.unchanged = (int(c or 0) for c in counts)
    params = {"batch": batch_id, "now": utcnow()}
    connection.execute(
        _timed(
            "UPDATE enrollment AS e SET status = 'suspended', end_date = s.stop_date, "
            f"batch_id = :batch, updated_at = :now FROM {STAGE} s WHERE {COVERING}"
        ),
        params,
    )
    connection.execute(
        _timed(
            "INSERT INTO enrollment (id_number, scheme, region_code, start_date, end_date, status, "
            "batch_id, updated_at) SELECT s.id_number, 'employee', s.region_code, s.stop_date, "
            f"s.stop_date, 'suspended', :batch, :now FROM {STAGE} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM enrollment e WHERE {EMPLOYEE})"
        ),
        params,
    )
    _mark_persons(connection, person_in_scope, batch_id=batch_id, user_id=user_id)
    return result


def _send_back_outside(connection: Connection, scope: Scope) -> list[tuple[int, str]]:
    """Rows whose covering normal record is insured outside the scope, taken off the stage."""
    outside = (
        f"FROM {STAGE} s JOIN enrollment e ON {COVERING} "
        f"WHERE NOT ({_in_scope(connection, scope, 'e.region_code')})"
    )
    rows = connection.execute(
        text(f"SELECT s.row_number, MIN(e.region_code) {outside} GROUP BY s.row_number")
    ).all()
    if rows:
        connection.execute(
            text(f"DELETE FROM {STAGE} WHERE row_number IN (SELECT s.row_number {outside})")
        )
    return [
        (n, f"此人的职工医保参保地{code}不在本辖区，停保须由参保地的经办机构登记")
        for n, code in rows
    ]


def _mark_persons(
    connection: Connection, person_in_scope: str, *, batch_id: int, user_id: int | None
) -> None:
    """断缴人员 added to the persons on file within the scope, through the key-population stage."""
    key_populations.create_stage(connection)
    connection.execute(
        text(
            f"INSERT INTO {key_populations.STAGE} (row_number, id_number, bits) "
            f"SELECT s.row_number, s.id_number, {LAPSED_BIT} FROM {STAGE} s "
            f"JOIN person p ON p.id_number = s.id_number WHERE {person_in_scope}"
        )
    )
    key_populations.add_staged_bits(connection, batch_id=batch_id, user_id=user_id)
