"""Keeps person_file.government_paid in step with person.key_populations.

The flag copies "the person is in a government-paid key population" onto the person's files so
that the grid worker's task list can order by it without reading every person behind the list.
Whoever changes key_populations calls `refresh_files` in the same transaction, set-based.
"""

from sqlalchemy import text
from sqlalchemy.engine import Connection

from portal.persons.codes import GOVERNMENT_PAID_MASK


def is_government_paid(alias: str = "p") -> str:
    """The flag's value for the person row aliased `alias`, as SQL."""
    return f"(({alias}.key_populations & {GOVERNMENT_PAID_MASK}) <> 0)"


def refresh_files(connection: Connection, person_ids_sql: str, params: dict | None = None) -> int:
    """Set the flag on the files of the persons `person_ids_sql` selects (a SELECT of person ids)
    where it differs from their key populations; returns the number of files changed."""
    flag = (
        f"EXISTS (SELECT 1 FROM person p WHERE p.id = person_file.person_id "
        f"AND {is_government_paid()})"
    )
    return connection.execute(
        text(
            f"UPDATE person_file SET government_paid = {flag} "
            f"WHERE person_id IN ({person_ids_sql}) AND government_paid <> {flag}"
        ),
        params or {},
    ).rowcount
