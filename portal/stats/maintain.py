"""Keeping `community_figures` exact: every writer recomputes the rows of the communities it
touched from the base tables, in its own transaction, at the end of its work (`refresh`). Same
transaction rather than a job a minute behind: the figures never disagree with the lists they
link to, and the cost is small (bench/stats.py: one community ~3 ms; a comparison +~15 %).

Why recompute rather than apply deltas: one rule, exact by construction, and set-based (a
community is a few hundred to a few thousand persons: one index range on person.region_code and
one on person_file's (region_code, state)).

Correct under concurrency (PostgreSQL, READ COMMITTED): the rows are locked first — missing rows
inserted (ON CONFLICT DO NOTHING: a concurrent inserter of the same row makes this wait for it),
then SELECT … FOR UPDATE in (year, region_code) order, the order every refresh uses — and only
then recomputed, in one statement: it takes a new snapshot, which sees everything the
transaction that held a lock committed. Two writers of the same community thus recompute one
after the other, the second from the first one's data. On SQLite the database write lock
serialises writers. A transaction refreshing twice (a comparison or an import whose files
followed their persons: persons/moves.py refreshes the communities the files left and joined,
then the writer its own) takes its locks in two ordered rounds: two such transactions over the
same communities can deadlock, and PostgreSQL then aborts one (its job fails and can be
retried; nothing is half-written).

Which years: person-level counts do not depend on the year, so every row of a community carries
them and a refresh recomputes every row the communities have (all years), creating the rows of
every maintained year they lack. The maintained years are those having rows; a refresh adds the
years it is given (the years of the files touched) and the previous and current insurance years
(years.periods.Calendar, COLLECTION_START/END); a year new to the table is first built for every
community in one pass (once: at the turn of the collection period, or the first comparison of
a new year), so that a year is either complete or absent (figures.py counts an absent year
directly). Every refresh tries to create the current and previous years' rows, so a writer
running while another builds one of those years waits for it and then recomputes its own rows;
a writer running while another builds an older or later year (a comparison of such a year)
does not, and its communities' rows of that year can miss its change until the next refresh of
those communities (`stats verify` shows it, `stats rebuild` repairs it).
"""

from collections.abc import Iterable

from flask import current_app, has_app_context
from sqlalchemy import DateTime, bindparam, text

from portal.database import raise_work_mem, restore_work_mem
from portal.regions.codes import subtree_bounds
from portal.stats import activity
from portal.stats.counts import (
    COLUMNS,
    FILE_FIELDS,
    KEY_FIELDS,
    NAME_PARAMS,
    PERSON_COUNTS,
    file_aggregate,
    mismatch_aggregate,
    person_aggregate,
)
from portal.timeutil import local_today, utcnow
from portal.years.periods import Calendar

TABLE = "community_figures"
COMMUNITY_LEVEL = 5


def default_years() -> set[int]:
    """The previous and the current insurance year (the years offices look at)."""
    if has_app_context():
        calendar = Calendar.parse(
            current_app.config.get("COLLECTION_START", "09-01"),
            current_app.config.get("COLLECTION_END", "02-29"),
        )
    else:
        calendar = Calendar()
    current = calendar.current_year(local_today())
    return {current - 1, current}


def built_years(connection) -> list[int]:
    """The years having rows: a loose index scan of the key (one probe per year)."""
    rows = connection.execute(
        text(
            f"WITH RECURSIVE y(year) AS (SELECT MIN(year) FROM {TABLE} UNION ALL "
            f"SELECT (SELECT MIN(t.year) FROM {TABLE} t WHERE t.year > y.year) FROM y "
            "WHERE y.year IS NOT NULL) SELECT year FROM y WHERE year IS NOT NULL"
        )
    )
    return [int(row[0]) for row in rows]


class Target:
    """Which communities: a region prefix, a table of community codes, some codes, or all."""

    def __init__(
        self, *, prefix=None, communities_table=None, community=None, sweep=False, few=False
    ):
        self.params: dict = {}
        self.codes_sql = None
        self.sweep = sweep  # rows also for codes holding persons or files outside the region table
        # A region, a table's communities or everything (not a few codes): see _bulk_settings.
        self.bulk = False
        if prefix is not None:
            self.params["lo"], self.params["hi"] = subtree_bounds(prefix)
            self._sql = "{} BETWEEN :lo AND :hi"
            self.bulk = True
        elif communities_table is not None:
            self._sql = f"{{}} IN (SELECT region_code FROM {communities_table})"
            self.bulk = not few
            self.codes_sql = f"SELECT DISTINCT region_code FROM {communities_table}"
        elif community is not None:
            codes = [community] if isinstance(community, str) else sorted(set(community))
            names = [f"c{index}" for index in range(len(codes))]
            self.params.update(zip(names, codes, strict=True))
            self._sql = "{} IN (" + ", ".join(f":{n}" for n in names) + ")" if codes else "1 = 0"
            self.codes_sql = " UNION ".join(f"SELECT :{n} AS region_code" for n in names)
        else:
            self._sql = "{} IS NOT NULL"
            self.bulk = True

    def on(self, column: str) -> str:
        return self._sql.format(column)

    def codes(self) -> str:
        """SQL: the community codes whose rows must exist."""
        if self.codes_sql is not None:
            return self.codes_sql
        if not self.sweep:
            # A region: its communities. Persons and files sit at community codes (imports and
            # edits place them in a level-5 region), so the region table names them all; one
            # index range instead of reading every person's code (`stats verify` would show a
            # person placed at a code outside it).
            return (
                f"SELECT code AS region_code FROM region WHERE level = {COMMUNITY_LEVEL} "
                f"AND {self.on('code')}"
            )
        return (
            f"SELECT region_code FROM person WHERE {self.on('region_code')} "
            f"AND (in_register OR in_resident_list) UNION "
            f"SELECT region_code FROM person_file WHERE {self.on('region_code')} UNION "
            f"SELECT code FROM region WHERE level = {COMMUNITY_LEVEL} AND {self.on('code')}"
        )


def _bulk_settings(connection):
    """For a region's or a table's communities on PostgreSQL: hash in memory, no JIT
    (database.raise_work_mem), and no nested loops. The rows and the files a comparison has
    just written have no statistics yet: estimated at one row, the aggregates were joined by a
    nested loop that ran the file aggregate again for every row (43 s instead of 0.1 s for a
    city of 100 k persons)."""
    if connection.dialect.name != "postgresql":
        return None
    previous = raise_work_mem(connection)
    nestloop = connection.execute(text("SELECT current_setting('enable_nestloop')")).scalar()
    connection.execute(text("SET LOCAL enable_nestloop = off"))
    return previous, nestloop


def _restore(connection, saved) -> None:
    if saved is not None:
        previous, nestloop = saved
        restore_work_mem(connection, previous)
        connection.execute(
            text("SELECT set_config('enable_nestloop', :value, true)"), {"value": nestloop}
        )


def _years_sql(years: Iterable[int]) -> str:
    return " UNION ALL ".join(f"SELECT {int(y)} AS year" for y in sorted(years))


def recompute(
    connection, target: Target, years: Iterable[int], *, only_years=False, files_only=False
) -> None:
    """Create the target communities' missing rows for `years`, lock the target rows in key
    order, recompute them from the base tables (all their years, or only `years`; only the
    file counts with `files_only`, unless a row had to be created)."""
    years = sorted(set(years))
    if not years:
        return
    params = {**target.params, **NAME_PARAMS, "now": utcnow()}
    postgres = connection.dialect.name == "postgresql"
    rows = target.on(f"{TABLE}.region_code")
    if only_years:
        rows += f" AND {TABLE}.year IN ({', '.join(str(int(y)) for y in years)})"

    def execute(sql: str):
        statement = text(sql)
        if ":now" in sql:
            statement = statement.bindparams(bindparam("now", type_=DateTime()))
        return connection.execute(statement, params)

    created = execute(
        f"INSERT INTO {TABLE} (year, region_code, refreshed_at) "
        f"SELECT y.year, c.region_code, :now FROM ({target.codes()}) c "
        f"CROSS JOIN ({_years_sql(years)}) y WHERE 1 = 1 "
        "ON CONFLICT (year, region_code) DO NOTHING"
    ).rowcount
    files_only = files_only and not created
    if postgres:
        execute(
            f"SELECT 1 FROM {TABLE} WHERE {rows} ORDER BY {TABLE}.year, {TABLE}.region_code "
            "FOR UPDATE"
        ).all()
    # A new statement, a new snapshot: it sees what the holders of the locks committed. One
    # statement writes every locked row: the aggregates left-joined to the rows (a row without
    # persons or files gets zeros), as an upsert onto the rows themselves.
    file_years = "" if not only_years else f" AND f.year IN ({', '.join(map(str, years))})"
    columns = FILE_FIELDS if files_only else COLUMNS
    names = ", ".join(columns)
    values = [f"COALESCE(fa.{name}, 0)" for name in FILE_FIELDS]
    persons = ""
    if not files_only:
        values = [f"COALESCE(pa.{name}, 0)" for name in (*PERSON_COUNTS, *KEY_FIELDS)]
        values += ["COALESCE(ma.mismatched, 0)", *(f"COALESCE(fa.{n}, 0)" for n in FILE_FIELDS)]
        persons = (
            f"LEFT JOIN ({person_aggregate(target.on('p.region_code'))}) pa "
            "ON pa.region_code = r.region_code "
            f"LEFT JOIN ({mismatch_aggregate(target.on('p.region_code'))}) ma "
            "ON ma.region_code = r.region_code "
        )
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
    bulk = _bulk_settings(connection) if target.bulk else None
    execute(
        f"INSERT INTO {TABLE} (year, region_code, refreshed_at, {names}) "
        f"SELECT r.year, r.region_code, :now, {', '.join(values)} "
        f"FROM (SELECT year, region_code FROM {TABLE} WHERE {rows}) r {persons}"
        f"LEFT JOIN ({file_aggregate(target.on('f.region_code') + file_years)}) fa "
        "ON fa.region_code = r.region_code AND fa.year = r.year WHERE 1 = 1 "
        f"ON CONFLICT (year, region_code) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
        f"{updates}"
    )
    _restore(connection, bulk)


def refresh(
    connection,
    *,
    prefix: str | None = None,
    communities_table: str | None = None,
    community: str | Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    files_only: bool = False,
) -> None:
    """Recompute the figures of the communities a writer touched (no commit): those under
    `prefix`, those listed in `communities_table` (a table with a region_code column), or the
    code(s) `community`; `years`: the insurance years of the files touched, if any;
    `files_only`: the writer changed files only (a visit, an assignment), so the person counts
    stand — the file counts of a community are one index range, its persons' are not."""
    if community is not None and not isinstance(community, str):
        community = sorted(set(community))
        if not community:
            return
    few = False
    if communities_table is not None:
        # A few communities (a visit's, a small list's) are read through the indexes; bulk
        # settings would hash-join every person instead.
        counted = text(f"SELECT COUNT(*) FROM (SELECT 1 FROM {communities_table} LIMIT 101) t")
        few = connection.execute(counted).scalar() <= 100
    target = Target(
        prefix=prefix, communities_table=communities_table, community=community, few=few
    )
    built = set(built_years(connection))
    new = (set(years or ()) | default_years()) - built
    if new:
        # Years new to the table: built for every community (one pass), so that they are
        # complete; the target's rows of those years are then fresh already.
        recompute(connection, Target(), new, only_years=True)
    if built:
        recompute(connection, target, built, only_years=True, files_only=files_only)


def rebuild(connection, *, prefix: str | None = None, year: int | None = None) -> list[int]:
    """Recompute every row (under `prefix`; of `year`, else of every maintained year and the
    default ones) from the base tables, set-based; returns the years rebuilt."""
    years = [year] if year is not None else sorted(set(built_years(connection)) | default_years())
    target = Target(prefix=prefix, sweep=True)
    recompute(connection, target, years, only_years=year is not None)
    return years


def differences(connection, *, prefix: str = "", year: int) -> dict[str, dict[str, tuple]]:
    """Every community under `prefix` whose stored row for `year` differs from a direct count:
    {code: {column: (stored, counted)}} (a missing row is stored as zeros)."""
    from portal.stats.counts import Counts, direct_counts

    lo, hi = subtree_bounds(prefix)
    stored = {
        row["region_code"]: Counts.from_columns(row)
        for row in connection.execute(
            text(f"SELECT * FROM {TABLE} WHERE year = :year AND region_code BETWEEN :lo AND :hi"),
            {"year": year, "lo": lo, "hi": hi},
        ).mappings()
    }
    counted = direct_counts(connection, prefix, year)
    result = {}
    for code in sorted(set(stored) | set(counted)):
        have = stored.get(code, Counts()).as_columns()
        want = counted.get(code, Counts()).as_columns()
        diff = {k: (have[k], want[k]) for k in COLUMNS if have[k] != want[k]}
        if diff:
            result[code] = diff
    return result


TOUCHED = "stats_touched_community"


def refresh_import(connection, *, stage: str, batch_id: int | None) -> None:
    """After an import: the communities of the persons its list named (`stage`, a table with an
    id_number column; for insured and lapsed lists they may live anywhere), and those the batch
    moved persons out of (the old region_code of its history rows)."""
    old_region = (
        "c.changes -> 'region_code' ->> 0"
        if connection.dialect.name == "postgresql"
        else "json_extract(c.changes, '$.region_code[0]')"
    )
    moved_out = (
        f" UNION SELECT {old_region} FROM person_change c WHERE c.batch_id = :batch "
        f"AND c.cause = 'import' AND {old_region} IS NOT NULL"
        if batch_id is not None
        else ""
    )
    refresh_codes(
        connection,
        f"SELECT p.region_code FROM {stage} s JOIN person p ON p.id_number = s.id_number"
        + moved_out,
        {"batch": batch_id},
    )


def refresh_codes(
    connection, codes_sql: str, params: dict | None = None, years=None, files_only=False
) -> None:
    """Refresh the communities a SELECT of region codes lists (a writer's touched set)."""
    postgres = connection.dialect.name == "postgresql"
    suffix = " ON COMMIT DROP" if postgres else ""
    connection.execute(text(f"DROP TABLE IF EXISTS {TOUCHED}"))
    connection.execute(
        text(f"CREATE TEMPORARY TABLE {TOUCHED} (region_code VARCHAR(12) NOT NULL){suffix}")
    )
    connection.execute(
        text(f"INSERT INTO {TOUCHED} (region_code) SELECT DISTINCT * FROM ({codes_sql}) c"),
        params or {},
    )
    refresh(connection, communities_table=TOUCHED, years=years, files_only=files_only)
    connection.execute(text(f"DROP TABLE {TOUCHED}"))


def refresh_moves(connection, plan: str) -> None:
    """After files followed their persons (persons/moves.py): the communities they left and
    joined (`plan`: a table with from_region and to_region), and the visits of the pending
    proposals the files took along (stats/activity.py)."""
    refresh_codes(connection, f"SELECT from_region FROM {plan} UNION SELECT to_region FROM {plan}")
    activity.refresh_moved_visits(connection, plan)
