"""Applying validated rows of the insured extract to `enrollment`, set-based, no commit.

A record is identified by (ID number, scheme, insured place, start date); a refreshed extract
updates its end date and status. Records missing from a later extract are kept: the extract of
one office is not the whole national database, and cleared records must stay for inspection.
"""

from collections.abc import Iterable

from sqlalchemy import Connection, DateTime, bindparam, text

from portal.imports.apply import (
    ENROLLMENT_LOCK,
    ApplyResult,
    bulk_insert,
    create_temp_table,
    serialize,
)
from portal.timeutil import utcnow

STAGE = "enrollment_stage"
FIELDS = ("id_number", "scheme", "region_code", "start_date", "end_date", "status")
KEY = ("id_number", "scheme", "region_code", "start_date")


def create_stage(connection: Connection) -> None:
    create_temp_table(
        connection,
        STAGE,
        "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL, scheme VARCHAR(16) NOT NULL, "
        "region_code VARCHAR(12) NOT NULL, start_date DATE NOT NULL, end_date DATE, "
        "status VARCHAR(16) NOT NULL",
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    bulk_insert(connection, STAGE, FIELDS, rows)


def apply_enrollments(connection: Connection, *, batch_id: int) -> ApplyResult:
    postgres = connection.dialect.name == "postgresql"
    serialize(connection, ENROLLMENT_LOCK)
    join = " AND ".join(f"e.{c} = s.{c}" for c in KEY)
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    changed = f"(e.end_date {distinct} s.end_date OR e.status {distinct} s.status)"
    counts = connection.execute(
        text(
            "SELECT COUNT(*) FILTER (WHERE e.id IS NULL), "
            f"COUNT(*) FILTER (WHERE e.id IS NOT NULL AND {changed}), "
            f"COUNT(*) FILTER (WHERE e.id IS NOT NULL AND NOT {changed}) "
            f"FROM {STAGE} s LEFT JOIN enrollment e ON {join}"
        )
    ).one()
    result = ApplyResult(*(int(c or 0) for c in counts))
    columns = ", ".join(FIELDS)
    key = ", ".join(KEY)
    statement = text(
        f"INSERT INTO enrollment ({columns}, batch_id, updated_at) "
        f"SELECT {columns}, :batch, :now FROM {STAGE} WHERE TRUE "
        f"ON CONFLICT ({key}) DO UPDATE SET end_date = excluded.end_date, "
        "status = excluded.status, batch_id = excluded.batch_id, updated_at = excluded.updated_at "
        f"WHERE enrollment.end_date {distinct} excluded.end_date "
        f"OR enrollment.status {distinct} excluded.status"
    ).bindparams(bindparam("now", type_=DateTime()))
    connection.execute(statement, {"batch": batch_id, "now": utcnow()})
    return result
