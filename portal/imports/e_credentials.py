"""Applying an e-credential activation list (医保电子凭证激活名单): persons already in the
whole-population file are marked as having activated their medical-insurance e-credential,
set-based, no commit.

The list comes from the medical-insurance platform; the ID number is the key (a name, when
given, is not compared: the list is about the person the number names). A list only marks: it
never takes an activation away (nothing already saved is lost). A row naming a person not yet
in the file, or a person another region manages, is sent back with the reason (import the
register first; the other region imports its own). The figures (e_credential: insured persons
with an activated credential) follow through the import's stats refresh of the persons' communities.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from permissions import Scope
from portal.database import timed
from portal.imports.apply import (
    PERSON_LOCK,
    ApplyResult,
    bulk_insert,
    create_temp_table,
    refuse_unknown_or_outside,
    serialize,
)
from portal.timeutil import utcnow

STAGE = "e_credential_stage"
FIELDS = ("id_number",)
UNKNOWN = "人员档案中没有此人，请先导入户籍人口或常住人口名单"
OUTSIDE = "此人由辖区外管理，不能由本辖区标记"


@dataclass
class ActivationResult(ApplyResult):
    matched: int = 0  # persons of the scope the list names (newly activated + already)
    unknown: int = 0  # rows naming nobody in the file


def create_stage(connection: Connection) -> None:
    create_temp_table(
        connection, STAGE, "row_number INTEGER NOT NULL, id_number VARCHAR(18) NOT NULL"
    )


def stage_rows(connection: Connection, rows: Iterable[tuple[int, dict]]) -> None:
    bulk_insert(connection, STAGE, FIELDS, rows)


def apply_e_credentials(
    connection: Connection, scope: Scope, *, batch_id: int, user_id: int | None
) -> ActivationResult:
    serialize(connection, PERSON_LOCK)
    result = ActivationResult()
    refused = refuse_unknown_or_outside(connection, STAGE, scope)
    result.rejected = [(n, UNKNOWN if missing else OUTSIDE) for n, missing in refused]
    result.unknown = sum(1 for _, missing in refused if missing)
    counts = connection.execute(
        text(
            "SELECT COUNT(*), SUM(CASE WHEN p.e_credential THEN 0 ELSE 1 END) "
            f"FROM {STAGE} s JOIN person p ON p.id_number = s.id_number"
        )
    ).one()
    result.matched = int(counts[0] or 0)
    result.updated = int(counts[1] or 0)
    result.unchanged = result.matched - result.updated
    pair = (
        "jsonb_build_object('e_credential', jsonb_build_array(false, true))"
        if connection.dialect.name == "postgresql"
        else "json_object('e_credential', json_array(json('false'), json('true')))"
    )
    params = {"now": utcnow(), "user": user_id, "batch": batch_id}
    connection.execute(
        timed(
            "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, "
            f"changes) SELECT p.id, p.region_code, :now, :user, 'import', :batch, {pair} "
            f"FROM {STAGE} s JOIN person p ON p.id_number = s.id_number WHERE NOT p.e_credential"
        ),
        params,
    )
    connection.execute(
        timed(
            "UPDATE person SET e_credential = TRUE, version = person.version + 1, "
            f"updated_at = :now WHERE person.id_number IN (SELECT id_number FROM {STAGE}) "
            "AND NOT person.e_credential"
        ),
        params,
    )
    return result


def batch_message(batch, result: ActivationResult) -> str:
    """The batch's outcome in one sentence: the persons matched (newly activated, already),
    the rows sent back (of them, naming nobody in the file)."""
    batch.matched = result.matched
    message = (
        f"读取 {batch.rows_read} 行：匹配本辖区人员 {result.matched} 人，"
        f"其中新标记为已激活 {result.updated} 人、此前已激活 {result.unchanged} 人；"
        f"退回 {batch.rejected} 行"
    )
    if result.unknown:
        message += f"（其中人员档案中没有的 {result.unknown} 人）"
    return message + "。"
