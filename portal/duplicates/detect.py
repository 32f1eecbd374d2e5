"""Finding duplicate enrollments (重复参保): set-based, over the whole deployment, one insurance
year at a time, in the caller's transaction (nothing here commits).

A duplicate is two or more records of one ID number with status 'normal' whose periods overlap
within the year's coverage period (years/periods.py: the calendar year). Periods are whole
days, the end date included; NULL is open-ended; a record ending the day before another starts
does not overlap it. Suspended and terminated records are never duplicates. The members of a
case are the records that overlap at least one other (of three records, one may stand apart).

How (the same statements on SQLite and PostgreSQL):
1. the ID numbers holding two or more normal records within the year (one GROUP BY over
   `enrollment`, or over the ID numbers in scope: an import's, a region's);
2. their records, and of those the ones overlapping another (a self-join of that small set),
   with the person's community;
3. per person, the keep-rules (rules.py) over the fetched tuples, in chunks; compared with the
   cases on file for the year;
4. the differences written back set-based: new cases and members, refreshed open cases,
   reopened decided ones, closed open ones that no longer overlap.

Re-detection:
- an open case gets its members and recommendation refreshed; when its set of records changes,
  its pending proposal is withdrawn (the proposal and every member's proposed action cleared);
- an open case none of whose records overlap any more (an extract terminated one) is closed as
  resolved, with no deciding user and a comment saying why;
- a decided case (not_duplicate / resolved) stays decided, unless a record that is not among its
  members now overlaps: then it reopens with that record added; its members keep their decided
  actions (the records a decision handled keep their marks) and the decision fields stay as
  the case's history;
- every change bumps the case's version (two writers: one wins), and a case changed by someone
  else since it was read is left to the next detection.

Runs: after every insured-list import for the ID numbers it staged (`after_import`, the years
being covered and collected today), in full from `portal duplicates detect`, and as the job
kind 'duplicate_detection' (payload: year, region_code or None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby

from sqlalchemy import Connection, text

from portal.database import probing, raise_work_mem, restore_work_mem, timed
from portal.duplicates.rules import Facts, Record, recommend
from portal.imports.apply import ENROLLMENT_LOCK, bulk_insert, create_temp_table, serialize
from portal.jobs import queue
from portal.regions.codes import subtree_bounds
from portal.timeutil import utcnow
from portal.years.periods import Calendar

SCOPE = "dup_scope"
CANDIDATES = "dup_candidate"
RECORDS = "dup_record"
# The normal records of the scope's ID numbers (every year): probed once per scoped run, then
# read by each year's detection instead of probing the enrollment table again.
SCOPE_RECORDS = "dup_scope_record"
# Scoped runs: the overlapping records now, and the ID numbers whose case must be looked at.
NOW = "dup_now"
NEEDED = "dup_needed"
NEW_MEMBERS = "dup_member_stage"
DROPPED = "dup_member_drop"
NEW_CASES = "dup_case_new"
CHANGED = "dup_case_change"
CHUNK = 20_000  # persons evaluated per fetched chunk
CLOSED_COMMENT = "重新检测时已不再重复：各条记录不再同时处于正常参保状态"
NORMAL_IN_YEAR = (
    "{e}.status = 'normal' AND {e}.start_date <= :ce "
    "AND ({e}.end_date IS NULL OR {e}.end_date >= :cs)"
)
RECORD_COLUMNS = (
    "id",
    "id_number",
    "scheme",
    "region_code",
    "start_date",
    "end_date",
    "category",
    "employer_region_code",
    "payment_status",
    "continuous_months",
    "benefits",
)
# What the temporary tables keep of a record: its facts and when an import last changed it.
KEPT_COLUMNS = (*RECORD_COLUMNS, "updated_at")
RECORD_TYPES = (
    "id BIGINT NOT NULL, id_number VARCHAR(18) NOT NULL, scheme VARCHAR(16) NOT NULL, "
    "region_code VARCHAR(12) NOT NULL, start_date DATE NOT NULL, end_date DATE, "
    "category VARCHAR(16), employer_region_code VARCHAR(12), payment_status VARCHAR(16), "
    "continuous_months SMALLINT, benefits BOOLEAN, updated_at TIMESTAMP"
)


@dataclass
class DetectResult:
    year: int
    found: int = 0  # persons with overlapping records now
    created: int = 0
    refreshed: int = 0  # open cases whose members or recommendation changed
    reopened: int = 0
    closed: int = 0  # open cases that no longer overlap
    regions: set[str] = field(default_factory=set)  # where the figures change

    @property
    def message(self) -> str:
        return (
            f"{self.year} 年度重复参保检测：现有重复 {self.found} 人；新发现 {self.created} 例，"
            f"更新 {self.refreshed} 例，重新打开 {self.reopened} 例，已不再重复 {self.closed} 例。"
        )


@dataclass
class _Case:
    id: int
    state: str
    version: int
    region_code: str
    kind: str
    rule: str | None
    recommended_id: int | None
    missing: str | None
    deductions: int
    person_id: int | None
    # enrollment id → (decided action, insured place)
    members: dict[int, tuple[str | None, str]] = field(default_factory=dict)


def _today_years(calendar: Calendar, today: date) -> list[int]:
    """The year being covered today and the one being collected (the same between periods)."""
    return sorted({today.year, calendar.current_year(today)})


def app_calendar() -> Calendar:
    from portal.years.selection import year_calendar

    return year_calendar()


def _scope_records(connection: Connection) -> None:
    """SCOPE_RECORDS: the normal records of the ID numbers in SCOPE (index probes)."""
    create_temp_table(connection, SCOPE_RECORDS, f"{RECORD_TYPES}, status VARCHAR(16) NOT NULL")
    columns = ", ".join((*KEPT_COLUMNS, "status"))
    picked = ", ".join(f"e.{c}" for c in (*KEPT_COLUMNS, "status"))
    with probing(connection):
        connection.execute(
            text(
                f"INSERT INTO {SCOPE_RECORDS} ({columns}) SELECT {picked} FROM {SCOPE} s "
                "JOIN enrollment e ON e.id_number = s.id_number WHERE e.status = 'normal'"
            )
        )
    connection.execute(text(f"CREATE INDEX ix_{SCOPE_RECORDS} ON {SCOPE_RECORDS} (id_number)"))
    _analyze(connection, SCOPE_RECORDS)


def _drop_scope(connection: Connection) -> None:
    for table in (SCOPE_RECORDS, SCOPE):
        connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


def after_import(connection: Connection, *, stage: str, today: date) -> list[DetectResult]:
    """Detection for the ID numbers an insured-list import staged (the import's hook)."""
    calendar = app_calendar()
    create_temp_table(connection, SCOPE, "id_number VARCHAR(18) NOT NULL")
    connection.execute(text(f"INSERT INTO {SCOPE} SELECT DISTINCT id_number FROM {stage}"))
    _analyze(connection, SCOPE)
    _scope_records(connection)
    results = [
        detect(connection, year, calendar=calendar, scoped=True)
        for year in _today_years(calendar, today)
    ]
    _drop_scope(connection)
    return results


def detect_region(
    connection: Connection,
    year: int,
    *,
    prefix: str | None = None,
    calendar: Calendar | None = None,
) -> DetectResult:
    """Detection in full (`prefix` None), or for the persons a region holds: those with a record
    insured in it, living in it, or with a case counted or a record held there."""
    if not prefix:
        return detect(connection, year, calendar=calendar)
    lo, hi = subtree_bounds(prefix)
    create_temp_table(connection, SCOPE, "id_number VARCHAR(18) NOT NULL")
    connection.execute(
        text(
            f"INSERT INTO {SCOPE} SELECT id_number FROM enrollment WHERE region_code "
            "BETWEEN :lo AND :hi UNION SELECT id_number FROM person WHERE region_code "
            "BETWEEN :lo AND :hi UNION SELECT c.id_number FROM duplicate_case c "
            "WHERE c.year = :year AND (c.region_code BETWEEN :lo AND :hi OR EXISTS (SELECT 1 "
            "FROM duplicate_member m WHERE m.case_id = c.id AND m.region_code BETWEEN :lo AND :hi))"
        ),
        {"lo": lo, "hi": hi, "year": year},
    )
    _analyze(connection, SCOPE)
    _scope_records(connection)
    result = detect(connection, year, calendar=calendar, scoped=True)
    _drop_scope(connection)
    return result


def _analyze(connection: Connection, table: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"ANALYZE {table}"))


def detect(
    connection: Connection,
    year: int,
    *,
    calendar: Calendar | None = None,
    scoped: bool = False,
) -> DetectResult:
    """Detect, refresh and close the cases of `year`: of every ID number, or (`scoped`) of the
    ID numbers in the temporary table SCOPE."""
    calendar = calendar or app_calendar()
    coverage = calendar.coverage_period(year)
    params = {"cs": coverage[0], "ce": coverage[1], "year": year}
    serialize(connection, ENROLLMENT_LOCK)  # after imports' records, before the next import's
    work_mem = raise_work_mem(connection)
    result = DetectResult(year)
    try:
        _find_records(connection, params, scoped)
        if scoped:
            found = _needed(connection, params)
        existing = _existing_cases(connection, year, scoped)
        plan = _Plan(year, coverage, existing, result)
        for chunk in _member_chunks(connection, params, scoped):
            plan.compare(chunk, scoped)
        plan.close_the_rest()
        plan.write(connection)
        if scoped:
            result.found = found
    finally:
        for table in (CANDIDATES, RECORDS, NOW, NEEDED):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        restore_work_mem(connection, work_mem)
    _refresh_figures(connection, year, result.regions)
    return result


def _find_records(connection: Connection, params: dict, scoped: bool) -> None:
    """CANDIDATES: ID numbers with two or more normal records in the year; RECORDS: their
    normal records in the year."""
    create_temp_table(connection, CANDIDATES, "id_number VARCHAR(18) NOT NULL")
    # Scoped (an import's few ID numbers): their records, probed once (_scope_records).
    source = f"{SCOPE_RECORDS} e" if scoped else "enrollment e"
    connection.execute(
        text(
            f"INSERT INTO {CANDIDATES} SELECT e.id_number FROM {source} "
            f"WHERE {NORMAL_IN_YEAR.format(e='e')} GROUP BY e.id_number HAVING COUNT(*) > 1"
        ),
        params,
    )
    _analyze(connection, CANDIDATES)
    create_temp_table(connection, RECORDS, RECORD_TYPES)
    columns = ", ".join(KEPT_COLUMNS)
    picked = ", ".join(f"e.{c}" for c in KEPT_COLUMNS)
    connection.execute(
        text(
            f"INSERT INTO {RECORDS} ({columns}) SELECT {picked} FROM {CANDIDATES} c "
            f"JOIN {source} ON e.id_number = c.id_number WHERE {NORMAL_IN_YEAR.format(e='e')}"
        ),
        params,
    )
    connection.execute(text(f"CREATE INDEX ix_{RECORDS} ON {RECORDS} (id_number)"))
    _analyze(connection, RECORDS)


def _member_chunks(
    connection: Connection, params: dict, scoped: bool = False
) -> Iterable[list[tuple]]:
    """The records overlapping another record of the same person within the year, with the
    person's id, community and whether they are on a register, and when the record and the
    person last changed; ordered by ID number; in chunks of whole persons."""
    rows = _overlapping(connection, params, scoped)
    chunk: list[tuple] = []
    for _id_number, group in groupby(rows, key=lambda r: r[1]):
        chunk.append(tuple(group))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# A record of RECORDS a overlapping another record of the same person in the year.
OVERLAPS = (
    f"EXISTS (SELECT 1 FROM {RECORDS} b WHERE b.id_number = a.id_number "
    "AND b.id <> a.id AND a.start_date <= COALESCE(b.end_date, :ce) "
    "AND b.start_date <= COALESCE(a.end_date, :ce))"
)


def _overlapping_sql() -> str:
    """The overlapping records of RECORDS with their person: the record's columns (KEPT_COLUMNS),
    the person's id, community, whether listed and when last changed."""
    picked = ", ".join(f"a.{c}" for c in KEPT_COLUMNS)
    return (
        f"SELECT {picked}, p.id AS person_id, p.region_code AS person_region, "
        "CASE WHEN p.in_register OR p.in_resident_list THEN 1 ELSE 0 END AS listed, "
        "p.updated_at AS person_updated_at "
        f"FROM {RECORDS} a LEFT JOIN person p ON p.id_number = a.id_number WHERE {OVERLAPS}"
    )


def _overlapping(connection: Connection, params: dict, scoped: bool):
    """Rows: RECORD_COLUMNS, person id, community, listed, record and person updated_at."""
    record = ", ".join(f"n.{c}" for c in RECORD_COLUMNS)
    # Scoped: only the persons _needed() picked (the ones whose case may change), from NOW.
    source = (
        f"{NOW} n WHERE n.id_number IN (SELECT id_number FROM {NEEDED})"
        if scoped
        else f"({_overlapping_sql()}) n"
    )
    return connection.execute(
        text(
            f"SELECT {record}, n.person_id, n.person_region, n.listed, n.updated_at, "
            f"n.person_updated_at FROM {source} ORDER BY n.id_number, n.start_date, n.id"
        ),
        params,
    ).all()


def _needed(connection: Connection, params: dict) -> int:
    """Scoped runs: NEEDED ← the ID numbers whose case may change, found in SQL so that the
    persons an import did not change (most of a re-sent extract) are neither fetched nor
    evaluated: no case yet; an open case whose overlapping records differ from its members
    (an undecided member gone, a record not a member), or one of whose records or person
    changed since the case was last written (an import sets `updated_at` only on the records
    it changes); a decided case with a record beyond its members; an open case none of whose
    records overlap now (to be closed). Returns the persons with overlapping records now."""
    create_temp_table(
        connection,
        NOW,
        f"{RECORD_TYPES}, person_id BIGINT, person_region VARCHAR(12), listed INTEGER, "
        "person_updated_at TIMESTAMP",
    )
    with probing(connection):  # the persons by index: a register holds millions
        connection.execute(text(f"INSERT INTO {NOW} {_overlapping_sql()}"), params)
    connection.execute(text(f"CREATE INDEX ix_{NOW} ON {NOW} (id_number, id)"))
    _analyze(connection, NOW)
    create_temp_table(connection, NEEDED, "id_number VARCHAR(18) NOT NULL")
    member = "SELECT 1 FROM duplicate_member m WHERE m.case_id = c.id"
    record_now = f"SELECT 1 FROM {NOW} x WHERE x.id_number = n.id_number"
    changed_since = "(x.updated_at > c.updated_at OR x.person_updated_at > c.updated_at)"
    # Planned freely (hash joins): the year's cases are few beside the records.
    connection.execute(
        text(
            f"INSERT INTO {NEEDED} SELECT n.id_number FROM (SELECT DISTINCT id_number "
            f"FROM {NOW}) n LEFT JOIN duplicate_case c ON c.year = :year "
            "AND c.id_number = n.id_number WHERE c.id IS NULL "
            f"OR EXISTS ({record_now} AND NOT EXISTS ({member} AND m.enrollment_id = x.id)) "
            "OR (c.state = 'open' AND ("
            f"EXISTS ({record_now} AND {changed_since}) "
            f"OR EXISTS ({member} AND m.action IS NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {NOW} x WHERE x.id_number = n.id_number "
            "AND x.id = m.enrollment_id))))"
        ),
        params,
    )
    connection.execute(
        text(
            f"INSERT INTO {NEEDED} SELECT c.id_number FROM duplicate_case c "
            f"WHERE c.year = :year AND c.state = 'open' AND c.id_number IN "
            f"(SELECT id_number FROM {SCOPE}) AND NOT EXISTS "
            f"(SELECT 1 FROM {NOW} x WHERE x.id_number = c.id_number)"
        ),
        params,
    )
    connection.execute(text(f"CREATE INDEX ix_{NEEDED} ON {NEEDED} (id_number)"))
    _analyze(connection, NEEDED)
    return int(
        connection.execute(text(f"SELECT COUNT(DISTINCT id_number) FROM {NOW}")).scalar() or 0
    )


def _existing_cases(connection: Connection, year: int, scoped: bool) -> dict[str, _Case]:
    """The cases on file for the year (scoped: of the ID numbers _needed() picked), with their
    members."""
    where = f" AND c.id_number IN (SELECT id_number FROM {NEEDED})" if scoped else ""
    cases: dict[str, _Case] = {}
    by_id: dict[int, _Case] = {}
    for row in connection.execute(
        text(
            "SELECT c.id_number, c.id, c.state, c.version, c.region_code, c.kind, c.rule, "
            "c.recommended_id, c.missing, c.subsidy_deductions, c.person_id "
            f"FROM duplicate_case c WHERE c.year = :year{where}"
        ),
        {"year": year},
    ).all():
        case = _Case(*row[1:])
        cases[row[0]] = by_id[case.id] = case
    if cases:
        for case_id, enrollment_id, action, region in connection.execute(
            text(
                "SELECT m.case_id, m.enrollment_id, m.action, m.region_code "
                "FROM duplicate_member m JOIN duplicate_case c ON c.id = m.case_id "
                f"WHERE c.year = :year{where}"
            ),
            {"year": year},
        ).all():
            by_id[case_id].members[enrollment_id] = (action, region)
    return cases


def _unchanged(case: _Case, rows: tuple[tuple, ...]) -> bool:
    """A full detection leaves a decided case as it is unless a record beyond its members
    overlaps now (open cases are evaluated every time)."""
    return case.state != "open" and {r[0] for r in rows} <= case.members.keys()


def _record(row: tuple) -> Record:
    return Record(
        id=row[0],
        scheme=row[2],
        region_code=row[3],
        start_date=_day(row[4]),
        end_date=_day(row[5]),
        category=row[6],
        employer_region_code=row[7],
        payment_status=row[8],
        continuous_months=row[9],
        benefits=None if row[10] is None else bool(row[10]),
    )


def _day(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite's text dates in a temporary table


class _Plan:
    """The differences between the cases found now and the cases on file, to be written."""

    def __init__(self, year: int, coverage, existing: dict[str, _Case], result: DetectResult):
        self.year = year
        self.coverage = coverage
        self.existing = existing
        self.result = result
        self.seen: set[str] = set()
        self.new_cases: list[tuple[int, dict]] = []
        self.changes: list[tuple[int, dict]] = []
        self.new_members: list[tuple[int, dict]] = []
        self.dropped: list[tuple[int, dict]] = []

    def compare(self, chunk: list[tuple[tuple, ...]], scoped: bool = False) -> None:
        for rows in chunk:
            self._person(rows, scoped)

    def _person(self, rows: tuple[tuple, ...], scoped: bool) -> None:
        id_number = rows[0][1]
        self.seen.add(id_number)
        self.result.found += 1
        case = self.existing.get(id_number)
        # Scoped: _needed() already left out the persons whose case cannot change.
        if case is not None and not scoped and _unchanged(case, rows):
            return
        records = tuple(_record(r) for r in rows)
        person_id, community, listed = rows[0][11], rows[0][12], rows[0][13]
        facts = Facts(records, community if listed else None, self.coverage)
        rec = recommend(facts)
        if listed:
            region = community
        else:
            kept = next((r for r in records if r.id == rec.recommended_id), records[0])
            region = kept.region_code
        found = {r.id: r for r in records}
        values = {
            "id_number": id_number,
            "person_id": person_id,
            "region_code": region,
            "kind": rec.kind,
            "rule": rec.rule,
            "recommended_id": rec.recommended_id,
            "missing": rec.missing,
            "subsidy_deductions": rec.subsidy_deductions,
        }
        members = [
            {"id_number": id_number, "enrollment_id": r.id, "region_code": r.region_code,
             "scheme": r.scheme}
            for r in records
        ]  # fmt: skip
        if case is None:
            self.new_cases.append((0, values))
            self.new_members += [(0, m) for m in members]
            self.result.created += 1
            self.result.regions |= {region, *(r.region_code for r in records)}
            return
        if case.state != "open":
            added = [m for m in members if m["enrollment_id"] not in case.members]
            if not added:
                return  # decided, and no record beyond its members: it stays decided
            self._change(case, values, reopen=True, withdraw=True)
            self.new_members += [(0, m) for m in added]
            self.result.reopened += 1
            self.result.regions |= {case.region_code, region, *(m["region_code"] for m in added)}
            return
        # Its records changed: one overlapping that is not a member yet, or an undecided member
        # that no longer overlaps (members a decision handled stay, with their marks).
        unhandled = {e for e, (action, _r) in case.members.items() if action is None}
        set_changed = bool(found.keys() - case.members.keys() or unhandled - found.keys())
        same = (
            case.region_code, case.kind, case.rule, case.recommended_id, case.missing,
            case.deductions, case.person_id,
        ) == (
            region, rec.kind, rec.rule, rec.recommended_id, rec.missing,
            rec.subsidy_deductions, person_id,
        )  # fmt: skip
        if same and not set_changed:
            return
        self._change(case, values, withdraw=set_changed)
        if set_changed:
            self.dropped += [
                (0, {"case_id": case.id, "enrollment_id": e}) for e in unhandled - found.keys()
            ]
            self.new_members += [(0, m) for m in members if m["enrollment_id"] not in case.members]
        self.result.refreshed += 1
        self.result.regions |= {case.region_code, region}
        self.result.regions |= {r for _a, r in case.members.values()}
        self.result.regions |= {r.region_code for r in records}

    def _change(self, case: _Case, values: dict, *, reopen=False, withdraw=False, close=False):
        self.changes.append(
            (
                0,
                {
                    **values,
                    "case_id": case.id,
                    "version": case.version,
                    "reopening": reopen,
                    "withdrawing": withdraw,
                    "closing": close,
                },
            )
        )

    def close_the_rest(self) -> None:
        """Open cases in scope whose records no longer overlap."""
        for id_number, case in self.existing.items():
            if case.state != "open" or id_number in self.seen:
                continue
            values = {
                "id_number": id_number,
                "person_id": case.person_id,
                "region_code": case.region_code,
                "kind": case.kind,
                "rule": case.rule,
                "recommended_id": case.recommended_id,
                "missing": case.missing,
                "subsidy_deductions": case.deductions,
            }
            self._change(case, values, close=True)
            self.result.closed += 1
            self.result.regions |= {case.region_code, *(r for _a, r in case.members.values())}

    def write(self, connection: Connection) -> None:
        now = utcnow()
        params = {"now": now, "year": self.year, "comment": CLOSED_COMMENT}
        case_columns = (
            "id_number, person_id, region_code, kind, rule, recommended_id, missing, "
            "subsidy_deductions"
        )
        case_types = (
            "id_number VARCHAR(18) NOT NULL, person_id BIGINT, region_code VARCHAR(12) NOT NULL, "
            "kind VARCHAR(16) NOT NULL, rule VARCHAR(32), recommended_id BIGINT, "
            "missing VARCHAR(32), subsidy_deductions INTEGER NOT NULL"
        )
        fields = tuple(c.strip() for c in case_columns.split(","))
        if self.changes:
            stale = self._write_changes(connection, case_types, fields, params)
        else:
            stale = []
        if self.new_cases:
            create_temp_table(connection, NEW_CASES, f"row_number INTEGER, {case_types}")
            bulk_insert(connection, NEW_CASES, fields, self.new_cases)
            connection.execute(
                timed(
                    f"INSERT INTO duplicate_case (year, {case_columns}, state, detected_at, "
                    f"updated_at, version) SELECT :year, {case_columns}, 'open', :now, :now, 1 "
                    f"FROM {NEW_CASES}"
                ),
                params,
            )
            connection.execute(text(f"DROP TABLE {NEW_CASES}"))
        if self.new_members:
            member_fields = ("id_number", "enrollment_id", "region_code", "scheme")
            create_temp_table(
                connection,
                NEW_MEMBERS,
                "row_number INTEGER, id_number VARCHAR(18) NOT NULL, enrollment_id BIGINT NOT "
                "NULL, region_code VARCHAR(12) NOT NULL, scheme VARCHAR(16) NOT NULL",
            )
            bulk_insert(connection, NEW_MEMBERS, member_fields, self.new_members)
            # Only for cases still as read (a case someone else changed meanwhile is skipped).
            skipped = f" AND c.id NOT IN ({_ids(stale)})" if stale else ""
            connection.execute(
                text(
                    "INSERT INTO duplicate_member (case_id, enrollment_id, region_code, scheme) "
                    f"SELECT c.id, m.enrollment_id, m.region_code, m.scheme FROM {NEW_MEMBERS} m "
                    "JOIN duplicate_case c ON c.year = :year AND c.id_number = m.id_number "
                    f"WHERE TRUE{skipped} ON CONFLICT (case_id, enrollment_id) DO NOTHING"
                ),
                params,
            )
            connection.execute(text(f"DROP TABLE {NEW_MEMBERS}"))
        if self.changes:
            connection.execute(text(f"DROP TABLE {CHANGED}"))

    def _write_changes(self, connection: Connection, case_types: str, fields, params) -> list:
        """Write the changed cases; returns the ids of those left alone (changed meanwhile)."""
        create_temp_table(
            connection,
            CHANGED,
            "row_number INTEGER, case_id BIGINT NOT NULL, version INTEGER NOT NULL, "
            "reopening BOOLEAN NOT NULL, withdrawing BOOLEAN NOT NULL, closing BOOLEAN NOT NULL, "
            f"{case_types}",
        )
        bulk_insert(
            connection,
            CHANGED,
            ("case_id", "version", "reopening", "withdrawing", "closing", *fields),
            self.changes,
        )
        # A case someone changed since it was read (a decision at the same moment) is left as
        # they left it; on PostgreSQL its row is locked first, so that it cannot change after.
        lock = " FOR UPDATE OF c" if connection.dialect.name == "postgresql" else ""
        stale = [
            case_id
            for case_id, now_version, read_version in connection.execute(
                text(
                    f"SELECT c.id, c.version, u.version FROM duplicate_case c JOIN {CHANGED} u "
                    f"ON u.case_id = c.id ORDER BY c.id{lock}"
                )
            )
            if now_version != read_version
        ]
        if stale:
            connection.execute(text(f"DELETE FROM {CHANGED} WHERE case_id IN ({_ids(stale)})"))
        live = "u.case_id = duplicate_case.id"
        if self.dropped:
            create_temp_table(
                connection,
                DROPPED,
                "row_number INTEGER, case_id BIGINT NOT NULL, enrollment_id BIGINT NOT NULL",
            )
            bulk_insert(connection, DROPPED, ("case_id", "enrollment_id"), self.dropped)
            connection.execute(
                text(
                    "DELETE FROM duplicate_member WHERE action IS NULL AND EXISTS (SELECT 1 FROM "
                    f"{DROPPED} d JOIN {CHANGED} u ON u.case_id = d.case_id "
                    "WHERE d.case_id = duplicate_member.case_id "
                    "AND d.enrollment_id = duplicate_member.enrollment_id)"
                )
            )
            connection.execute(text(f"DROP TABLE {DROPPED}"))
        connection.execute(
            text(
                "UPDATE duplicate_member SET proposed_action = NULL WHERE case_id IN "
                f"(SELECT case_id FROM {CHANGED} WHERE withdrawing)"
            )
        )
        connection.execute(
            timed(
                "UPDATE duplicate_case SET person_id = u.person_id, region_code = u.region_code, "
                "kind = u.kind, rule = u.rule, recommended_id = u.recommended_id, "
                "missing = u.missing, subsidy_deductions = u.subsidy_deductions, "
                "state = CASE WHEN u.closing THEN 'resolved' WHEN u.reopening THEN 'open' "
                "ELSE duplicate_case.state END, "
                "decided_at = CASE WHEN u.closing THEN :now ELSE duplicate_case.decided_at END, "
                "decided_by_id = CASE WHEN u.closing THEN NULL "
                "ELSE duplicate_case.decided_by_id END, "
                "decision_comment = CASE WHEN u.closing THEN :comment "
                "ELSE duplicate_case.decision_comment END, "
                "proposal_reason = CASE WHEN u.withdrawing THEN NULL "
                "ELSE duplicate_case.proposal_reason END, "
                "proposed_by_id = CASE WHEN u.withdrawing THEN NULL "
                "ELSE duplicate_case.proposed_by_id END, "
                "proposed_at = CASE WHEN u.withdrawing THEN NULL "
                "ELSE duplicate_case.proposed_at END, "
                "proposer_region_code = CASE WHEN u.withdrawing THEN NULL "
                "ELSE duplicate_case.proposer_region_code END, "
                "updated_at = :now, version = duplicate_case.version + 1 "
                f"FROM {CHANGED} u WHERE {live}"
            ),
            params,
        )
        return stale


def _ids(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def _refresh_figures(connection: Connection, year: int, regions: set[str]) -> None:
    """The maintained figures (duplicates/figures.py) where cases or their records changed."""
    if regions:
        from portal.duplicates import figures

        figures.refresh(connection, year, sorted(regions))


# --- for the UI and explain() ------------------------------------------------------------


def case_facts(case) -> Facts:
    """The facts of a case's records as they are now (a DuplicateCase): for an open case its
    normal records (a reopened case's terminated ones left out), for a decided one all."""
    from sqlalchemy import select

    from portal.duplicates.models import DuplicateMember
    from portal.extensions import db
    from portal.persons.models import Enrollment, Person

    query = (
        select(Enrollment, DuplicateMember.action)
        .join(DuplicateMember, DuplicateMember.enrollment_id == Enrollment.id)
        .where(DuplicateMember.case_id == case.id)
        .order_by(Enrollment.start_date, Enrollment.id)
    )
    rows = db.session.execute(query).all()
    if case.state == "open" and any(e.status == "normal" for e, _action in rows):
        rows = [(e, action) for e, action in rows if e.status == "normal"]
    records = tuple(
        Record(
            e.id, e.scheme, e.region_code, e.start_date, e.end_date, e.category,
            e.employer_region_code, e.payment_status, e.continuous_months, e.benefits,
        )
        for e, _action in rows
    )  # fmt: skip
    person = db.session.scalar(select(Person).where(Person.id_number == case.id_number))
    listed = person is not None and (person.in_register or person.in_resident_list)
    return Facts(
        records, person.region_code if listed else None, app_calendar().coverage_period(case.year)
    )


# --- the job -------------------------------------------------------------------------------


@queue.job_kind("duplicate_detection")
def run_detection(job, progress) -> str:
    """Payload: {"year": Y or None (the current year), "region_code": code or None (all)}."""
    from portal.extensions import db
    from portal.regions.models import Region
    from portal.years.selection import current_year

    payload = job.payload or {}
    year = payload.get("year") or current_year()
    prefix = None
    if payload.get("region_code"):
        region = db.session.get(Region, payload["region_code"])
        if region is None:
            raise queue.JobError("区划不存在。")
        prefix = region.prefix
    progress(0, None, f"正在检测 {year} 年度重复参保", force=True)
    result = detect_region(db.session.connection(), int(year), prefix=prefix)
    return result.message
