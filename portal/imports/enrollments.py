"""Applying validated rows of the insured extract to `enrollment`, set-based, no commit.

A record is identified by (ID number, scheme, insured place, start date); a refreshed extract
updates its end date and status. Records missing from a later extract are kept: the extract of
one office is not the whole national database, and cleared records must stay for inspection.

The name and the voucher of a record (validation.py says who vouches for what):
- the extract's name, normalised, is stored when given; an extract without names keeps the name
  an earlier one gave;
- on re-import of the same record, NULL wins over a prefix: a record the insured place's own
  office vouched for stays vouched for by it (it counts for whoever the person is), and one that
  office imports after another region vouched for it becomes its own; otherwise the newer
  import's prefix is kept (the region that last sent the record vouches for it).
A record whose name or voucher changes counts as updated.

The batch counts records (created / updated / unchanged) and, apart, persons: `matched`, the
distinct persons of the batch region's population (person.region_code within the region, on
the register or the resident list) that the accepted records name; `unmatched`, the records that
name nobody of that population yet (they count once a register or resident list lists their
person, at the next comparison); `mismatched`, the matched persons whose register name differs
from the name a record gives (身份信息不一致).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, DateTime, bindparam, text

from portal.imports.apply import (
    ENROLLMENT_LOCK,
    ApplyResult,
    bulk_insert,
    create_temp_table,
    serialize,
)
from portal.regions.codes import subtree_bounds
from portal.timeutil import utcnow

STAGE = "enrollment_stage"
# The facts the duplicate keep-rules read (duplicates/rules.py), where the extract gives them.
# Like the name, a fact the extract leaves empty keeps what an earlier extract gave.
RULE_FACTS = (
    "category",
    "employer",
    "employer_region_code",
    "payment_status",
    "paid_until",
    "continuous_months",
    "benefits",
)
FIELDS = (
    "id_number",
    "scheme",
    "region_code",
    "start_date",
    "end_date",
    "status",
    "name",
    "vouched_prefix",
    *RULE_FACTS,
)
KEY = ("id_number", "scheme", "region_code", "start_date")


@dataclass
class RecordsResult(ApplyResult):
    """The outcome of a list of records about persons (insured, lapsed): records by outcome,
    and the persons of the batch region's population they name."""

    matched: int = 0
    unmatched: int = 0  # records naming no one of the region's population (yet)
    mismatched: int = 0  # matched persons whose register name differs from the record's


def create_stage(connection: Connection) -> None:
    create_temp_table(
        connection,
        STAGE,
        "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL, scheme VARCHAR(16) NOT NULL, "
        "region_code VARCHAR(12) NOT NULL, start_date DATE NOT NULL, end_date DATE, "
        "status VARCHAR(16) NOT NULL, name VARCHAR(64), vouched_prefix VARCHAR(12), "
        "category VARCHAR(16), employer VARCHAR(100), employer_region_code VARCHAR(12), "
        "payment_status VARCHAR(16), paid_until DATE, continuous_months SMALLINT, "
        "benefits BOOLEAN",
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    bulk_insert(connection, STAGE, FIELDS, rows)


def kept_voucher(current: str, incoming: str) -> str:
    """SQL: the voucher of a re-imported record (NULL wins, else the newer import's)."""
    return (
        f"CASE WHEN {current}.vouched_prefix IS NULL OR {incoming}.vouched_prefix IS NULL "
        f"THEN NULL ELSE {incoming}.vouched_prefix END"
    )


def apply_enrollments(
    connection: Connection, *, batch_id: int, region_prefix: str
) -> RecordsResult:
    """Upsert the staged records; `region_prefix`: the batch region's, for counting persons."""
    postgres = connection.dialect.name == "postgresql"
    serialize(connection, ENROLLMENT_LOCK)
    join = " AND ".join(f"e.{c} = s.{c}" for c in KEY)
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"

    def changed(e: str, s: str) -> str:
        facts = "".join(
            f"OR ({s}.{c} IS NOT NULL AND {e}.{c} {distinct} {s}.{c}) " for c in RULE_FACTS
        )
        return (
            f"({e}.end_date {distinct} {s}.end_date OR {e}.status {distinct} {s}.status "
            f"OR ({s}.name IS NOT NULL AND {e}.name {distinct} {s}.name) {facts}"
            f"OR {e}.vouched_prefix {distinct} {kept_voucher(e, s)})"
        )

    counts = connection.execute(
        text(
            "SELECT COUNT(*) FILTER (WHERE e.id IS NULL), "
            f"COUNT(*) FILTER (WHERE e.id IS NOT NULL AND {changed('e', 's')}), "
            f"COUNT(*) FILTER (WHERE e.id IS NOT NULL AND NOT {changed('e', 's')}) "
            f"FROM {STAGE} s LEFT JOIN enrollment e ON {join}"
        )
    ).one()
    result = RecordsResult(*(int(c or 0) for c in counts))
    count_persons(connection, STAGE, region_prefix, result)
    columns = ", ".join(FIELDS)
    key = ", ".join(KEY)
    statement = text(
        f"INSERT INTO enrollment ({columns}, batch_id, updated_at) "
        f"SELECT {columns}, :batch, :now FROM {STAGE} WHERE TRUE "
        f"ON CONFLICT ({key}) DO UPDATE SET end_date = excluded.end_date, "
        "status = excluded.status, name = COALESCE(excluded.name, enrollment.name), "
        + "".join(f"{c} = COALESCE(excluded.{c}, enrollment.{c}), " for c in RULE_FACTS)
        + f"vouched_prefix = {kept_voucher('enrollment', 'excluded')}, "
        "batch_id = excluded.batch_id, updated_at = excluded.updated_at "
        f"WHERE {changed('enrollment', 'excluded')}"
    ).bindparams(bindparam("now", type_=DateTime()))
    connection.execute(statement, {"batch": batch_id, "now": utcnow()})
    return result


# The whitespace persons/names.normalize_name removes (the extract's names are stored
# normalised, the register's trimmed only), for the SQL side of the same comparison; the
# comparison counts identity mismatches the same way (comparisons/operations.py).
NAME_SPACES = (" ", "\t", "\n", "\r", "\u00a0", "\u3000")
REGISTER_NAME = "p.name"
for _space in NAME_SPACES:
    REGISTER_NAME = f"REPLACE({REGISTER_NAME}, '{_space}', '')"


def count_persons(connection: Connection, stage: str, region_prefix: str, result) -> None:
    """Set result.matched / unmatched / mismatched from a staging table with id_number and name
    columns: the persons of the region's population the staged rows name (one statement)."""
    population = (
        "p.id_number = s.id_number AND p.region_code BETWEEN :lo AND :hi "
        "AND (p.in_register OR p.in_resident_list)"
    )
    lo, hi = subtree_bounds(region_prefix)
    row = connection.execute(
        text(
            "SELECT COUNT(DISTINCT p.id), "
            "COUNT(*) FILTER (WHERE p.id IS NULL), "
            f"COUNT(DISTINCT CASE WHEN s.name IS NOT NULL AND s.name <> {REGISTER_NAME} "
            f"THEN p.id END) FROM {stage} s LEFT JOIN person p ON {population}"
        ),
        {"lo": lo, "hi": hi},
    ).one()
    result.matched, result.unmatched, result.mismatched = (int(c or 0) for c in row)
