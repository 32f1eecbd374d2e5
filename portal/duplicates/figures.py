"""The duplicate-enrollment figures (重复参保), kept exact in `duplicate_figures` like the
community figures (portal/stats/maintain.py): every writer of duplicate_case / duplicate_member
(detection, a decision) calls `refresh` with the year and the region codes it touched, in its own
transaction, after it wrote; `rebuild` recomputes everything, `differences` compares with a
direct count (`portal stats rebuild / verify` run both with the community figures).

One row per (year, region_code), both kinds of figure keyed by a code:
- the case figures count each case once, at the code where it counts (DuplicateCase.region_code:
  the person's community when on a register, else a record's insured place — which may be a
  county- or city-level code padded to 12 digits):
  cases (found, every state), cases_employee / cases_resident / cases_cross (by kind; they sum
  to cases), open (待处理, proposed or not), resolved (已处理), not_duplicate (非重复; open +
  resolved + not_duplicate = cases), subsidy_deductions (the cases' subsidy deductions, 财政补助
  扣减, except of cases found not to be duplicates);
- records (人次) counts the member records of those cases at each record's insured place
  (DuplicateMember.region_code): a case of two counties counts one record in each.

A region's figures are the sum of the rows in its code range (subtree_bounds). A code at a
region's own level (a county-level insured place under a county) lies under none of its
children: `child_duplicates` shows it as a "本级" entry, so that children + 本级 = the region.

Why recompute rather than apply deltas: one rule, exact by construction, set-based (a code's
cases are one index range of ix_duplicate_case_region_state, its records one of
ix_duplicate_member_region). Under concurrency (PostgreSQL, READ COMMITTED) the rows are first
created (ON CONFLICT DO NOTHING), then locked in (year, region_code) order — the order every
refresh uses — and only then recomputed in one statement, whose new snapshot sees what the
previous holder of a lock committed. A writer whose cases change place (a new recommendation,
a new register community) refreshes the codes before and after: pass both.
"""

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import DateTime, bindparam, text

from portal.duplicates.models import FIGURES
from portal.extensions import db
from portal.regions import codes as region_codes
from portal.regions.codes import subtree_bounds
from portal.regions.models import Region
from portal.timeutil import utcnow

TABLE = "duplicate_figures"
TOUCHED = "duplicate_figures_touched"

# Case figures: column → SQL condition over duplicate_case c (SUM of CASE WHEN … THEN 1).
CASE_COUNTS = {
    "cases": "1 = 1",
    "cases_employee": "c.kind = 'employee'",
    "cases_resident": "c.kind = 'resident'",
    "cases_cross": "c.kind = 'cross'",
    "open": "c.state = 'open'",
    "resolved": "c.state = 'resolved'",
    "not_duplicate": "c.state = 'not_duplicate'",
}
CASE_FIELDS = (*CASE_COUNTS, "subsidy_deductions")
assert set(CASE_FIELDS) | {"records"} == set(FIGURES)


def _case_aggregate(where: str) -> str:
    """Per region_code: the case figures of the year's cases matching `where` (over c)."""
    sums = ", ".join(
        f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS {name}"
        for name, condition in CASE_COUNTS.items()
    )
    return (
        f"SELECT c.region_code, {sums}, "
        "SUM(CASE WHEN c.state <> 'not_duplicate' THEN c.subsidy_deductions ELSE 0 END) "
        "AS subsidy_deductions "
        f"FROM duplicate_case c WHERE c.year = :year AND {where} GROUP BY c.region_code"
    )


def _record_aggregate(where: str) -> str:
    """Per region_code: the member records (人次) of the year's cases insured there."""
    return (
        "SELECT m.region_code, COUNT(*) AS records FROM duplicate_member m "
        "JOIN duplicate_case c ON c.id = m.case_id "
        f"WHERE c.year = :year AND {where} GROUP BY m.region_code"
    )


def _recompute(connection, year: int, touched: bool, prefix: str = "") -> None:
    """Create the missing rows of `year` (of the TOUCHED codes, else of every code under
    `prefix` holding a case or a record of the year), lock the year's rows (of those codes) in
    key order, and recompute them from the base tables in one statement (a row left without
    cases: zeros)."""
    lo, hi = subtree_bounds(prefix)
    params = {"year": int(year), "now": utcnow(), "lo": lo, "hi": hi}

    def where(column: str) -> str:
        if touched:
            return f"{column} IN (SELECT region_code FROM {TOUCHED})"
        return f"{column} BETWEEN :lo AND :hi"

    def execute(sql: str):
        statement = text(sql)
        if ":now" in sql:
            statement = statement.bindparams(bindparam("now", type_=DateTime()))
        return connection.execute(statement, params)

    if touched:
        wanted = f"SELECT region_code FROM {TOUCHED}"
    else:
        wanted = (
            "SELECT c.region_code FROM duplicate_case c WHERE c.year = :year "
            f"AND {where('c.region_code')} UNION SELECT m.region_code FROM duplicate_member m "
            f"JOIN duplicate_case c ON c.id = m.case_id WHERE c.year = :year "
            f"AND {where('m.region_code')}"
        )
    execute(
        f"INSERT INTO {TABLE} (year, region_code, refreshed_at) "
        f"SELECT :year, w.region_code, :now FROM ({wanted}) w WHERE 1 = 1 "
        "ON CONFLICT (year, region_code) DO NOTHING"
    )
    rows = f"{TABLE}.year = :year AND {where(f'{TABLE}.region_code')}"
    if connection.dialect.name == "postgresql":
        execute(
            f"SELECT 1 FROM {TABLE} WHERE {rows} ORDER BY {TABLE}.year, {TABLE}.region_code "
            "FOR UPDATE"
        ).all()
    names = ", ".join(FIGURES)
    values = [f"COALESCE(ca.{name}, 0)" for name in CASE_FIELDS] + ["COALESCE(ra.records, 0)"]
    updates = ", ".join(f"{name} = excluded.{name}" for name in FIGURES)
    execute(
        f"INSERT INTO {TABLE} (year, region_code, refreshed_at, {names}) "
        f"SELECT r.year, r.region_code, :now, {', '.join(values)} "
        f"FROM (SELECT year, region_code FROM {TABLE} WHERE {rows}) r "
        f"LEFT JOIN ({_case_aggregate(where('c.region_code'))}) ca "
        "ON ca.region_code = r.region_code "
        f"LEFT JOIN ({_record_aggregate(where('m.region_code'))}) ra "
        "ON ra.region_code = r.region_code WHERE 1 = 1 "
        "ON CONFLICT (year, region_code) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
        f"{updates}"
    )


def _touched(connection, region_codes: Iterable[str] | None, codes_sql, params) -> bool:
    """Fill the temporary table of touched codes; False when it is empty."""
    postgres = connection.dialect.name == "postgresql"
    suffix = " ON COMMIT DROP" if postgres else ""
    connection.execute(text(f"DROP TABLE IF EXISTS {TOUCHED}"))
    connection.execute(
        text(
            f"CREATE TEMPORARY TABLE {TOUCHED} (region_code VARCHAR(12) NOT NULL PRIMARY KEY)"
            f"{suffix}"
        )
    )
    if codes_sql is not None:
        connection.execute(
            text(
                f"INSERT INTO {TOUCHED} (region_code) SELECT DISTINCT w.region_code "
                f"FROM ({codes_sql}) w WHERE w.region_code IS NOT NULL"
            ),
            params or {},
        )
    codes = sorted({code for code in region_codes or () if code})
    if codes:
        present = ""
        if codes_sql is not None:
            present = f" WHERE NOT EXISTS (SELECT 1 FROM {TOUCHED} t WHERE t.region_code = :c)"
        statement = text(f"INSERT INTO {TOUCHED} (region_code) SELECT :c{present}")
        for code in codes:  # a few codes (a decision's); a big set comes as codes_sql
            connection.execute(statement, {"c": code})
    return connection.execute(text(f"SELECT 1 FROM {TOUCHED} LIMIT 1")).first() is not None


def refresh(
    connection,
    year: int,
    region_codes: Iterable[str] | str = (),
    *,
    codes_sql: str | None = None,
    params: dict | None = None,
) -> None:
    """Recompute the duplicate figures of `year` at the codes a writer touched (no commit):
    `region_codes` (a code or some codes: the cases' DuplicateCase.region_code and their
    records' DuplicateMember.region_code, before and after the change) and/or `codes_sql`, a
    SELECT of a region_code column (with `params`) for a big touched set (a detection run)."""
    if isinstance(region_codes, str):
        region_codes = [region_codes]
    if _touched(connection, region_codes, codes_sql, params):
        _recompute(connection, year, True)
    connection.execute(text(f"DROP TABLE IF EXISTS {TOUCHED}"))


def codes_of_cases(connection, case_ids: Iterable[int]) -> set[str]:
    """The codes where the cases count: their own and their records' (what `refresh` needs;
    call before a change that moves them, and pass these with the new ones)."""
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        return set()
    listed = ", ".join(str(i) for i in ids)
    rows = connection.execute(
        text(
            f"SELECT region_code FROM duplicate_case WHERE id IN ({listed}) UNION "
            f"SELECT region_code FROM duplicate_member WHERE case_id IN ({listed})"
        )
    )
    return {row[0] for row in rows}


def years(connection) -> list[int]:
    """The years having cases or figure rows."""
    rows = connection.execute(
        text(f"SELECT DISTINCT year FROM duplicate_case UNION SELECT DISTINCT year FROM {TABLE}")
    )
    return sorted(int(row[0]) for row in rows)


def rebuild(connection, year: int | None = None, prefix: str = "") -> list[int]:
    """Recompute every row (under `prefix`; of `year`, else of every year having cases or rows)
    from the base tables, set-based; rows of codes without cases any more become zeros;
    returns the years."""
    chosen = [int(year)] if year is not None else years(connection)
    for each in chosen:
        _recompute(connection, each, False, prefix)
    return chosen


def direct_counts(connection, year: int, prefix: str = "") -> dict[str, dict[str, int]]:
    """{code: {figure: count}} for every code under `prefix` holding a case or a record of
    `year`, counted straight from duplicate_case and duplicate_member."""
    lo, hi = subtree_bounds(prefix)
    params = {"year": int(year), "lo": lo, "hi": hi}
    result: dict[str, dict[str, int]] = {}
    for row in connection.execute(
        text(_case_aggregate("c.region_code BETWEEN :lo AND :hi")), params
    ).mappings():
        entry = result.setdefault(row["region_code"], dict.fromkeys(FIGURES, 0))
        for name in CASE_FIELDS:
            entry[name] = int(row[name] or 0)
    for row in connection.execute(
        text(_record_aggregate("m.region_code BETWEEN :lo AND :hi")), params
    ).mappings():
        entry = result.setdefault(row["region_code"], dict.fromkeys(FIGURES, 0))
        entry["records"] = int(row["records"])
    return result


def differences(connection, year: int, prefix: str = "") -> dict[str, dict[str, tuple]]:
    """Every code under `prefix` whose stored row for `year` differs from a direct count:
    {code: {figure: (stored, counted)}} (a missing row is stored as zeros)."""
    lo, hi = subtree_bounds(prefix)
    stored = {
        row["region_code"]: {name: int(row[name]) for name in FIGURES}
        for row in connection.execute(
            text(f"SELECT * FROM {TABLE} WHERE year = :year AND region_code BETWEEN :lo AND :hi"),
            {"year": int(year), "lo": lo, "hi": hi},
        ).mappings()
    }
    counted = direct_counts(connection, year, prefix)
    zero = dict.fromkeys(FIGURES, 0)
    result = {}
    for code in sorted(set(stored) | set(counted)):
        have, want = stored.get(code, zero), counted.get(code, zero)
        diff = {name: (have[name], want[name]) for name in FIGURES if have[name] != want[name]}
        if diff:
            result[code] = diff
    return result


# The dashboard's reading -------------------------------------------------------------------


@dataclass
class DuplicateFigures:
    """The duplicate figures of a region (or of a 本级 entry): see the module docstring."""

    cases: int = 0
    cases_employee: int = 0
    cases_resident: int = 0
    cases_cross: int = 0
    open: int = 0
    resolved: int = 0
    not_duplicate: int = 0
    subsidy_deductions: int = 0
    records: int = 0
    as_of: datetime | None = None

    def __add__(self, other: "DuplicateFigures") -> "DuplicateFigures":
        total = DuplicateFigures()
        for name in FIGURES:
            setattr(total, name, getattr(self, name) + getattr(other, name))
        stamps = [s for s in (self.as_of, other.as_of) if s is not None]
        total.as_of = min(stamps) if stamps else None
        return total

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIGURES}

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in FIGURES)


assert tuple(f.name for f in fields(DuplicateFigures))[: len(FIGURES)] == FIGURES


def _sums(connection, prefix: str, year: int, group_length: int | None):
    lo, hi = subtree_bounds(prefix)
    key = f"SUBSTR(region_code, 1, {int(group_length)})" if group_length else "''"
    sums = ", ".join(f"SUM({name}) AS {name}" for name in FIGURES)
    group = f" GROUP BY {key}" if group_length else ""
    rows = connection.execute(
        text(
            f"SELECT {key} AS grp, MIN(refreshed_at) AS as_of, {sums} FROM {TABLE} "
            f"WHERE year = :year AND region_code BETWEEN :lo AND :hi{group}"
        ).columns(as_of=DateTime()),
        {"year": int(year), "lo": lo, "hi": hi},
    ).mappings()
    result = {}
    for row in rows:
        if row["as_of"] is None:
            continue
        figures = DuplicateFigures(as_of=row["as_of"])
        for name in FIGURES:
            setattr(figures, name, int(row[name] or 0))
        result[row["grp"]] = figures
    return result


OWN_LEVEL = "本级"


def _region(region_code: str) -> Region:
    region = db.session.get(Region, region_code)
    if region is None:
        raise LookupError(f"no region {region_code!r}")
    return region


def region_duplicates(region_code: str, year: int) -> DuplicateFigures:
    """The duplicate figures of one region (any level) for `year`: the sum over its code range.
    No scope check (the views check the region first)."""
    region = _region(region_code)
    found = _sums(db.session.connection(), region.prefix, year, None).get("")
    return found or DuplicateFigures(as_of=utcnow())


def child_duplicates(region_code: str, year: int) -> list[tuple[object, DuplicateFigures]]:
    """(child region, its figures) for every child region in code order, zeros included, then
    (None, figures) for the codes of the region's range under none of its children (本级: an
    insured place at the region's own level, or a code the region table lacks) when there are
    any; the entries sum to region_duplicates(region_code, year). No scope check."""
    region = _region(region_code)
    children = db.session.scalars(Region.children_query(region.code)).all()
    if not children:
        return []
    length = region_codes.PREFIX_LENGTH[region.level + 1]
    groups = _sums(db.session.connection(), region.prefix, year, length)
    result = [(child, groups.pop(child.code[:length], DuplicateFigures())) for child in children]
    own = DuplicateFigures()
    for figures in groups.values():
        own = own + figures
    if own:
        result.append((None, own))
    return result


__all__ = [
    "DuplicateFigures",
    "child_duplicates",
    "codes_of_cases",
    "differences",
    "direct_counts",
    "rebuild",
    "refresh",
    "region_duplicates",
]
