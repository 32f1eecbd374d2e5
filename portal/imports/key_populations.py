"""Applying a key-population list (特困, 低保, 脱贫 …): category flags added to persons already in
the whole-population file, set-based, no commit.

A list adds categories; it does not take any away (an office's list of one month is not proof
that someone left a category). A person not yet in the file is sent back: import the household
register first.
"""

from collections.abc import Iterable

from sqlalchemy import Connection, DateTime, bindparam, text

from permissions import Scope
from portal.imports.apply import (
    PERSON_LOCK,
    ApplyResult,
    bulk_insert,
    create_temp_table,
    refuse_unknown_or_outside,
    serialize,
)
from portal.persons import government_paid
from portal.timeutil import utcnow

STAGE = "key_population_stage"
FIELDS = ("id_number", "bits")


def create_stage(connection: Connection) -> None:
    create_temp_table(
        connection,
        STAGE,
        "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL, bits INTEGER NOT NULL",
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    bulk_insert(connection, STAGE, FIELDS, rows)


def apply_key_populations(
    connection: Connection, scope: Scope, *, batch_id: int, user_id: int | None
) -> ApplyResult:
    serialize(connection, PERSON_LOCK)
    result = ApplyResult()
    refused = refuse_unknown_or_outside(connection, STAGE, scope)
    result.rejected = [
        (
            n,
            "人员档案中没有此人，请先导入户籍人口名单"
            if missing
            else "此人由辖区外管理，不能由本辖区标记",
        )
        for n, missing in refused
    ]
    counts = connection.execute(
        text(
            "SELECT COUNT(*) FILTER (WHERE (p.key_populations & s.bits) <> s.bits), "
            "COUNT(*) FILTER (WHERE (p.key_populations & s.bits) = s.bits) "
            f"FROM {STAGE} s JOIN person p ON p.id_number = s.id_number"
        )
    ).one()
    result.updated, result.unchanged = (int(c or 0) for c in counts)
    add_staged_bits(connection, batch_id=batch_id, user_id=user_id)
    return result


def add_staged_bits(connection: Connection, *, batch_id: int, user_id: int | None) -> None:
    """Add each staged row's bits to its person, with a history row for each person it changes
    (the caller has already sent back the rows it must not apply)."""
    postgres = connection.dialect.name == "postgresql"
    pair = (
        "jsonb_build_object('key_populations', jsonb_build_array({old}, {new}))"
        if postgres
        else "json_object('key_populations', json_array({old}, {new}))"
    )
    changed = "(p.key_populations & s.bits) <> s.bits"
    params = {"now": utcnow(), "user": user_id, "batch": batch_id}
    connection.execute(
        text(
            "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, "
            "changes) SELECT p.id, p.region_code, :now, :user, 'import', :batch, "
            + pair.format(old="p.key_populations", new="p.key_populations | s.bits")
            + f" FROM {STAGE} s JOIN person p ON p.id_number = s.id_number WHERE {changed}"
        ).bindparams(bindparam("now", type_=DateTime())),
        params,
    )
    connection.execute(
        text(
            "UPDATE person SET key_populations = person.key_populations | s.bits, "
            "version = person.version + 1, updated_at = :now "
            f"FROM {STAGE} s WHERE person.id_number = s.id_number "
            "AND (person.key_populations & s.bits) <> s.bits"
        ).bindparams(bindparam("now", type_=DateTime())),
        params,
    )
    government_paid.refresh_files(
        connection, f"SELECT p.id FROM {STAGE} s JOIN person p ON p.id_number = s.id_number"
    )
