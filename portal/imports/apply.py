"""Applying validated household rows to the person table, set-based, in the caller's transaction.

Rows go into a temporary staging table (COPY on PostgreSQL, executemany on SQLite); then a few
statements decide what is new, changed or unchanged, record the change history, and upsert
(`INSERT … SELECT … ON CONFLICT (id_number) DO UPDATE … WHERE changed`). The open files of the
persons the list moved to another community follow them (persons/moves.py), found from the
history rows just written. Nothing here commits.

A person another region holds is taken over when the list is the newer truth about them
(persons/moves.py says why): a resident list always, a household register unless a resident
list places the person where they live (that row is refused with the reason).
"""

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter

from sqlalchemy import Connection, String, literal_column, text

from permissions import Scope
from portal.database import raise_work_mem, restore_work_mem, timed
from portal.persons.moves import follow_persons
from portal.timeutil import utcnow

STAGE = "import_stage"
FIELDS = (
    "id_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "region_code",
    "hukou_region_code",
    "address",
)
# Columns compared to decide "changed"; the history records each that differs.
COMPARED = ("name", "sex", "birth_date", "phone", "region_code", "hukou_region_code", "address")
CHUNK = 20_000
KEPT_WHEN_EMPTY = ("phone", "hukou_region_code", "address")
HISTORY_COLUMNS = "person_id, region_code, at, user_id, cause, batch_id, changes"
LIST_FLAGS = ("in_register", "in_resident_list")  # person columns: on which list a person is
# A new person's other columns; its creation is recorded by created_batch_id, not in the history.
NEW_PERSON_COLUMNS = (
    f"{', '.join(LIST_FLAGS)}, key_populations, e_credential, insured_status, version, "
    "created_at, updated_at, created_batch_id"
)
NEW_PERSON_VALUES = "0, FALSE, 'unknown', 1, :now, :now, :batch"
LIVING_PLACE = ("region_code", "address")  # where the resident list says a person lives


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    moved_files: int = 0  # open files that followed their person to another community


def create_temp_table(connection: Connection, name: str, columns: str) -> None:
    """A staging table private to this transaction (dropped at commit on PostgreSQL)."""
    suffix = " ON COMMIT DROP" if connection.dialect.name == "postgresql" else ""
    connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
    connection.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns}){suffix}"))


def create_stage(connection: Connection) -> None:
    create_temp_table(
        connection,
        STAGE,
        "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL, name VARCHAR(64) NOT NULL, "
        "sex VARCHAR(1) NOT NULL, birth_date DATE NOT NULL, phone VARCHAR(20), "
        "region_code VARCHAR(12) NOT NULL, hukou_region_code VARCHAR(12), address VARCHAR(200)",
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    """Write (row number, row) pairs into the staging table in chunks."""
    bulk_insert(connection, STAGE, FIELDS, rows)


def bulk_insert(connection: Connection, table: str, fields, rows) -> None:
    """(row number, row) pairs into a staging table: COPY on PostgreSQL, executemany on SQLite."""
    batch: list[tuple] = []
    pick = picker(fields)
    for row_number, row in rows:
        batch.append((row_number, *pick(row)))
        if len(batch) >= CHUNK:
            _flush(connection, table, fields, batch)
            batch = []
    if batch:
        _flush(connection, table, fields, batch)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_NULL = "\\N"


def copy_text(value: str | None) -> str:
    """A free-text value as a field of COPY's text format (\\N for NULL)."""
    if value is None:
        return COPY_NULL
    if value.isprintable() and "\\" not in value:  # nearly every name and address
        return value
    return value.translate(_COPY_ESCAPES)


def stage_line(row_number: int, row: dict) -> str:
    """A validated household row as a line of COPY's text format, in the order of FIELDS."""
    return stage_values(
        row_number,
        row["id_number"],
        row["name"],
        row["sex"],
        row["birth_date"].isoformat(),
        row["phone"],
        row["region_code"],
        row["hukou_region_code"],
        row["address"],
    )


def stage_values(
    row_number: int, id_number: str, name: str, sex: str, birth_date: str, phone: str | None,
    region_code: str, hukou_region_code: str | None, address: str | None,
) -> str:  # fmt: skip
    """The same from the values themselves, the birth date as ISO text (plain.py writes them so).

    Written by forked readers for every row of a big file, so it looks at as little as it can:
    a CSV writer, which looks at every character of every field, took three times as long. Only
    the name and the address can hold a tab, a line break or a backslash; the other fields are
    ID numbers, codes, ISO dates and phone numbers as the validators wrote them (digits, X,
    hyphens), or NULL."""
    return (
        f"{row_number}\t{id_number}\t{copy_text(name)}\t{sex}\t{birth_date}\t"
        f"{phone or COPY_NULL}\t{region_code}\t{hukou_region_code or COPY_NULL}\t"
        f"{copy_text(address)}\n"
    )


def picker(fields) -> Callable[[dict], tuple]:
    """A function taking a validated row (dict) to the tuple of its `fields`."""
    if len(fields) > 1:
        return itemgetter(*fields)
    return lambda row: (row[fields[0]],)


def copy_into(connection: Connection, table: str, fields, source, text_format=False) -> None:
    """COPY lines (row number first, then `fields`) from a file object: CSV with empty as NULL,
    or COPY's own text format (see stage_line)."""
    cursor = connection.connection.driver_connection.cursor()
    columns = ", ".join(("row_number", *fields))
    options = "" if text_format else " WITH (FORMAT csv, NULL '')"
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN{options}", source, size=1 << 20)


def _flush(connection: Connection, table: str, fields, batch: list[tuple]) -> None:
    if connection.dialect.name == "postgresql":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(batch)  # None is written as an empty field: NULL
        buffer.seek(0)
        copy_into(connection, table, fields, buffer)
        return
    placeholders = ", ".join("?" for _ in range(len(fields) + 1))
    connection.connection.driver_connection.executemany(
        f"INSERT INTO {table} VALUES ({placeholders})",
        [(r[0], *(v.isoformat() if hasattr(v, "isoformat") else v for v in r[1:])) for r in batch],
    )


PERSON_LOCK, ENROLLMENT_LOCK = 7101, 7102


def refuse_unknown_or_outside(connection: Connection, stage: str, scope: Scope) -> list[tuple]:
    """A list that marks persons (key populations, e-credentials): the staged rows whose ID
    number names no person, or a person managed outside `scope`, are taken out of `stage`.
    Returns (row number, True when no such person) of each, in row order."""
    in_scope = scope.clause(literal_column("p.region_code", String())).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    refused = connection.execute(
        text(
            f"SELECT s.row_number, p.id IS NULL FROM {stage} s "
            "LEFT JOIN person p ON p.id_number = s.id_number "
            f"WHERE p.id IS NULL OR NOT ({in_scope}) ORDER BY s.row_number"
        )
    ).all()
    if refused:
        connection.execute(
            text(
                f"DELETE FROM {stage} WHERE id_number NOT IN (SELECT p.id_number FROM person p "
                f"WHERE p.id_number IN (SELECT id_number FROM {stage}) AND ({in_scope}))"
            )
        )
    return [(number, bool(missing)) for number, missing in refused]


def serialize(connection: Connection, key: int) -> None:
    """Concurrent batches apply one after the other (reading and validating stay parallel), so
    that each batch's counts are exact; the lock ends with the transaction. SQLite has a single
    writer anyway."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _new(
    column: str, incoming: str, current: str, list_flag: str, inside: Callable | None = None
) -> str:
    """The value a column takes: an empty optional cell keeps what the file already had (a list
    without phones must not erase the phone a grid worker recorded); the household register does
    not move a person the resident list (常住人口) places in a community: that list says where
    they live (community and address), the register only where they are registered.

    `inside(alias)`: SQL saying that the person's current region lies in the importing scope.
    A person taken over from outside it keeps nothing the list leaves empty: the phone and
    address another region recorded are not handed to whoever lists the person's ID number."""
    if column in LIVING_PLACE and list_flag == "in_register":
        value = _new(column, incoming, current, "in_resident_list", inside)
        return f"CASE WHEN {current}.in_resident_list THEN {current}.{column} ELSE {value} END"
    if column in KEPT_WHEN_EMPTY:
        kept = f"COALESCE({incoming}.{column}, {current}.{column})"
        if inside is None:
            return kept
        return f"CASE WHEN {inside(current)} THEN {kept} ELSE {incoming}.{column} END"
    return f"{incoming}.{column}"


def _distinct(a: str, b: str, postgres: bool) -> str:
    return f"{a} IS DISTINCT FROM {b}" if postgres else f"{a} IS NOT {b}"


def apply_household(
    connection: Connection,
    scope: Scope,
    *,
    batch_id: int,
    user_id: int | None,
    list_flag: str = "in_register",
) -> ApplyResult:
    """Upsert the staged rows into `person` and move the open files of the persons it moved.

    A person managed outside the scope moves here with their file (a cross-county or
    cross-city move), unless the list is a household register and a resident list places the
    person where they live: that row is refused with the reason (persons/moves.py).

    `list_flag`: the list the rows come from, set on each person (the household register, or the
    resident list); a person on file who newly gets it counts as updated."""
    if list_flag not in LIST_FLAGS:
        raise ValueError(list_flag)
    postgres = connection.dialect.name == "postgresql"
    result = ApplyResult()
    serialize(connection, PERSON_LOCK)
    if list_flag == "in_register":
        _refuse_residents_held_outside(connection, scope, result)

    def inside(alias: str) -> str:
        return scope.clause(literal_column(f"{alias}.region_code", String())).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )

    def new(column: str, incoming: str, current: str) -> str:
        return _new(column, incoming, current, list_flag, inside)

    changed_any = " OR ".join(_distinct(f"p.{c}", new(c, "s", "p"), postgres) for c in COMPARED)
    counts = connection.execute(
        text(
            f"SELECT COUNT(*) FILTER (WHERE p.id IS NULL), "
            f"COUNT(*) FILTER (WHERE p.id IS NOT NULL AND ({changed_any} OR NOT p.{list_flag})), "
            f"COUNT(*) FILTER (WHERE p.id IS NOT NULL AND NOT ({changed_any}) AND p.{list_flag}) "
            f"FROM {STAGE} s LEFT JOIN person p ON p.id_number = s.id_number"
        )
    ).one()
    result.created, result.updated, result.unchanged = (int(c or 0) for c in counts)
    now = utcnow()
    params = {"now": now, "batch": batch_id, "user": user_id}
    # History of changed persons, with old → new per field, before the values are overwritten.
    if postgres:
        diff = (
            "jsonb_strip_nulls(jsonb_build_object("
            + ", ".join(
                f"'{c}', CASE WHEN {_distinct(f'p.{c}', new(c, 's', 'p'), True)} "
                f"THEN jsonb_build_array(p.{c}, {new(c, 's', 'p')}) END"
                for c in COMPARED
            )
            + "))"
        )
    else:
        diff = (
            "json_patch('{}', json_object("
            + ", ".join(
                f"'{c}', CASE WHEN {_distinct(f'p.{c}', new(c, 's', 'p'), False)} "
                f"THEN json_array(p.{c}, {new(c, 's', 'p')}) END"
                for c in COMPARED
            )
            + "))"
        )
    if result.updated:
        connection.execute(
            timed(
                f"INSERT INTO person_change ({HISTORY_COLUMNS}) "
                f"SELECT p.id, s.region_code, :now, :user, 'import', :batch, {diff} "
                f"FROM {STAGE} s JOIN person p ON p.id_number = s.id_number WHERE {changed_any}"
            ),
            params,
        )
    columns = ", ".join(FIELDS)
    flags = ", ".join(str(f == list_flag).upper() for f in LIST_FLAGS)
    if postgres:
        _write_persons_postgres(connection, result, list_flag, columns, flags, params, new)
        _follow(connection, result, batch_id, user_id)
        return result
    assignments = ", ".join(f"{c} = {new(c, 'excluded', 'person')}" for c in COMPARED)
    changed_excluded = " OR ".join(
        _distinct(f"person.{c}", new(c, "excluded", "person"), postgres) for c in COMPARED
    )
    connection.execute(
        timed(
            f"INSERT INTO person ({columns}, {NEW_PERSON_COLUMNS}) "
            f"SELECT {columns}, {flags}, {NEW_PERSON_VALUES} FROM {STAGE} WHERE TRUE "
            f"ON CONFLICT (id_number) DO UPDATE SET {assignments}, {list_flag} = TRUE, "
            "version = person.version + 1, updated_at = excluded.updated_at "
            f"WHERE {changed_excluded} OR NOT person.{list_flag}"
        ),
        params,
    )
    _follow(connection, result, batch_id, user_id)
    return result


def _refuse_residents_held_outside(connection: Connection, scope: Scope, result) -> None:
    """A household register does not take over a person whom a resident list places in a
    region outside the scope: that list says where they live. Their rows are refused."""
    in_scope = scope.clause(literal_column("p.region_code", String())).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    held = f"p.in_resident_list AND NOT ({in_scope})"
    outside = connection.execute(
        text(
            f"SELECT s.row_number, p.region_code, r.name FROM {STAGE} s JOIN person p "
            f"ON p.id_number = s.id_number LEFT JOIN region r ON r.code = p.region_code "
            f"WHERE {held}"
        )
    ).all()
    if not outside:
        return
    result.rejected = [
        (
            n,
            f"常住人口名册登记此人居住在辖区外的{name or code}（{code}），由当地管理；"
            "户籍名册不改变居住地。如此人已迁入本辖区居住，请导入常住人口名册",
        )
        for n, code, name in outside
    ]
    connection.execute(
        text(
            f"DELETE FROM {STAGE} WHERE id_number IN (SELECT s.id_number FROM {STAGE} s JOIN "
            f"person p ON p.id_number = s.id_number WHERE {held})"
        )
    )


MOVED = "import_moved_person"


def _follow(connection: Connection, result: ApplyResult, batch_id: int, user_id) -> None:
    """The open files of the persons this batch moved follow them. The persons are those whose
    history row of this batch changes region_code: only updated persons have one, so a list of
    new persons (a first import) costs nothing here."""
    if not result.updated:
        return
    postgres = connection.dialect.name == "postgresql"
    moved_region = (
        "(changes -> 'region_code') IS NOT NULL"
        if postgres
        else "json_extract(changes, '$.region_code') IS NOT NULL"
    )
    create_temp_table(connection, MOVED, "person_id BIGINT NOT NULL")
    if batch_id is None:  # no batch to find the history by (a direct call): every staged person
        connection.execute(
            text(
                f"INSERT INTO {MOVED} (person_id) SELECT p.id FROM {STAGE} s "
                "JOIN person p ON p.id_number = s.id_number"
            )
        )
    else:
        connection.execute(
            text(
                f"INSERT INTO {MOVED} (person_id) SELECT person_id FROM person_change "
                f"WHERE batch_id = :batch AND cause = 'import' AND {moved_region}"
            ),
            {"batch": batch_id},
        )
    result.moved_files = follow_persons(
        connection, cause="import", batch_id=batch_id, user_id=user_id, person_ids_table=MOVED
    )
    connection.execute(text(f"DROP TABLE {MOVED}"))


def _write_persons_postgres(
    connection: Connection,
    result: ApplyResult,
    list_flag: str,
    columns: str,
    flags: str,
    params,
    new: Callable[[str, str, str], str],
) -> None:
    """The upsert as an UPDATE of the changed persons and a plain INSERT of the new ones, each
    only when the counts say there are any; a new person carries the batch that created it
    (created_batch_id) instead of a history row. About twice as fast as INSERT … ON CONFLICT,
    which inserts every row speculatively and locks (dirties) every unchanged row it meets.

    Safe without ON CONFLICT: persons are only created by batches holding PERSON_LOCK (taken by
    the caller), so none can appear between the counts and the INSERT."""
    if result.updated:
        assignments = ", ".join(f"{c} = {new(c, 's', 'person')}" for c in COMPARED)
        changed = " OR ".join(
            _distinct(f"person.{c}", new(c, "s", "person"), True) for c in COMPARED
        )
        connection.execute(
            timed(
                f"UPDATE person SET {assignments}, {list_flag} = TRUE, "
                f"version = person.version + 1, updated_at = :now FROM {STAGE} s "
                f"WHERE person.id_number = s.id_number AND ({changed} OR NOT person.{list_flag})"
            ),
            params,
        )
    if result.created:
        work_mem = raise_work_mem(connection)
        connection.execute(
            timed(
                f"INSERT INTO person ({columns}, {NEW_PERSON_COLUMNS}) "
                f"SELECT {columns}, {flags}, {NEW_PERSON_VALUES} FROM {STAGE} s "
                "WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.id_number = s.id_number) "
                # In ID-number order, the unique index grows at its end instead of taking a
                # million inserts at random places (15 s instead of 22 s for a million).
                # Validated ID numbers are 17 digits and a check character those digits decide:
                # the digits as a number give the same order, and sort two to three times as
                # fast as the text (whose first bytes, the region, are nearly all alike).
                "ORDER BY left(s.id_number, 17)::bigint"
            ),
            params,
        )
        restore_work_mem(connection, work_mem)
