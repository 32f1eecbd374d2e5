"""Applying a lapsed list (断缴人员): employees whose contributions stopped, set-based, no commit.

Each staged row is (ID number, name, insured place, its voucher, stop date). The insured place
(the employer's) may lie anywhere: a Funing resident whose Tinghu employer stopped paying is
accepted when Funing imports the list, and vouched for by Funing exactly as a record of the
insured extract is (validation.py): the voucher is NULL when the batch's scope holds the place,
else the batch region's prefix. Whether the row is accepted never depends on the register:
- the person's employee enrollment records that are normal and cover the stop date (started on or
  before it, with no end or an end after it) are suspended from that date (status suspended, end
  date = stop date), when the batch answers for them: their insured place lies in the batch's
  scope, or the batch's region vouched for them (its own extract listed them as insured
  elsewhere);
- a person with no employee enrollment record at all gets one: at the row's insured place, started
  and ended on the stop date, suspended, with the row's name and voucher, so that the comparison
  knows when the payments stopped;
- a person on file (table person) managed within the scope gets the key-population category
  断缴人员, with a history row.
The comparison then opens (or re-opens) a lapsed file for whoever stopped more than 3 months ago.

Counting, one outcome per row. An ID number not on file is still applied to the enrollment records
(the insured database knows more people than the register): "created" when a new enrollment
record is inserted for the row; "updated" when records are suspended, or when the person on file
is newly marked 断缴人员; "unchanged" when there is nothing left to do, as on importing the same
file again. A row whose covering normal record the batch does not answer for (insured outside the
scope and vouched for by that place's office, or by another region) is sent back: whoever
recorded it records the lapse. The batch also counts persons as the insured extract does
(enrollments.count_persons).
"""

from collections.abc import Iterable

from sqlalchemy import Connection, String, literal_column, text

from permissions import Scope
from portal.database import timed
from portal.imports import key_populations
from portal.imports.apply import (
    ENROLLMENT_LOCK,
    PERSON_LOCK,
    bulk_insert,
    create_temp_table,
    serialize,
)
from portal.imports.enrollments import RecordsResult, count_persons
from portal.persons.codes import KEY_POPULATION_BY_CODE
from portal.timeutil import utcnow

STAGE = "lapsed_stage"
FIELDS = ("id_number", "name", "region_code", "vouched_prefix", "stop_date")
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
        "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL, name VARCHAR(64), "
        "region_code VARCHAR(12) NOT NULL, vouched_prefix VARCHAR(12), stop_date DATE NOT NULL",
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    bulk_insert(connection, STAGE, FIELDS, rows)


def _in_scope(connection: Connection, scope: Scope, column: str) -> str:
    """The scope's condition on a region column, as SQL text."""
    clause = scope.clause(literal_column(column, String()))
    return str(clause.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))


def apply_lapsed(
    connection: Connection,
    scope: Scope,
    *,
    batch_id: int,
    user_id: int | None,
    region_prefix: str,
) -> RecordsResult:
    """Apply the staged rows; `region_prefix`: the batch region's, for counting persons."""
    serialize(connection, PERSON_LOCK)  # always in this order: no deadlock with other batches
    serialize(connection, ENROLLMENT_LOCK)
    result = RecordsResult(rejected=_send_back_unanswered(connection, scope))
    count_persons(connection, STAGE, region_prefix, result)
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
        timed(
            "UPDATE enrollment AS e SET status = 'suspended', end_date = s.stop_date, "
            f"batch_id = :batch, updated_at = :now FROM {STAGE} s WHERE {COVERING}"
        ),
        params,
    )
    connection.execute(
        timed(
            "INSERT INTO enrollment (id_number, scheme, region_code, start_date, end_date, status, "
            "name, vouched_prefix, batch_id, updated_at) SELECT s.id_number, 'employee', "
            "s.region_code, s.stop_date, s.stop_date, 'suspended', s.name, s.vouched_prefix, "
            f":batch, :now FROM {STAGE} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM enrollment e WHERE {EMPLOYEE})"
        ),
        params,
    )
    _mark_persons(connection, person_in_scope, batch_id=batch_id, user_id=user_id)
    return result


def _send_back_unanswered(connection: Connection, scope: Scope) -> list[tuple[int, str]]:
    """Rows with a covering normal record the batch does not answer for, taken off the stage:
    insured outside the scope and not vouched for by a region within it."""
    place_in_scope = _in_scope(connection, scope, "e.region_code")
    # The voucher as a 12-digit code: the region it names lies in the scope, or not.
    padded = "substr(e.vouched_prefix || '000000000000', 1, 12)"
    voucher_in_scope = _in_scope(connection, scope, padded)
    unanswered = (
        f"FROM {STAGE} s JOIN enrollment e ON {COVERING} WHERE NOT ({place_in_scope}) "
        f"AND (e.vouched_prefix IS NULL OR NOT ({voucher_in_scope}))"
    )
    rows = connection.execute(
        text(
            "SELECT s.row_number, MIN(e.region_code), MIN(e.vouched_prefix) "
            f"{unanswered} GROUP BY s.row_number"
        )
    ).all()
    if rows:
        connection.execute(
            text(f"DELETE FROM {STAGE} WHERE row_number IN (SELECT s.row_number {unanswered})")
        )
    return [
        (
            n,
            f"此人的职工医保参保地{code}不在本辖区，停保须由参保地的经办机构登记"
            if voucher is None
            else f"此人在参保地{code}的职工医保记录由区划{voucher}登记，停保须由其登记",
        )
        for n, code, voucher in rows
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
