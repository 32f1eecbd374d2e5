"""The headline figures of the campaign counted straight from the base tables, per community.

One definition, used three ways: `direct_counts` (the truth `stats verify` and the tests compare
with), the maintained table's refresh (portal/stats/maintain.py runs the same aggregates into
`community_figures`) and `stats rebuild`.

What is counted (person-level counts do not depend on the insurance year; file counts do):
- persons: on the household register or the resident list (the comparison's population);
  `register` of them on the register, `resident_only` on the resident list only;
- excluded: of those, out of the population that must be insured (person.excluded_reason);
  must_insure = persons − excluded;
- insured: must-insure persons whose latest comparison found them insured
  (insured_status = 'insured'), split by scheme (employee / resident) and by place: local when
  the insured place lies in the person's own county (first 6 digits), elsewhere otherwise;
  uninsured = must_insure − insured (not yet compared, or compared uninsured);
- government_paid / government_paid_insured: must-insure persons in a government-paid key
  population (key_populations & GOVERNMENT_PAID_MASK), and the insured among them;
- e_credential: insured persons whose medical-insurance e-credential is activated (the rate's
  denominator is `insured`: only an insured person can activate one);
- lapsed: must-insure persons flagged 断缴人员 (an employee whose contributions stopped);
- uninsured_keys[code]: uninsured must-insure persons in each key population (KEY_POPULATIONS;
  a person in several counts in each), the not-enrolled form's columns;
- mismatched: persons with an enrollment record that applies to them (the comparison's APPLIES
  rule: no voucher, or vouched by a region holding the person) naming them otherwise than the
  register (身份信息不一致, the comparison's definition: names compared without whitespace).
  Live, not as of the last comparison: an insured-list import changes it;
- files[state]: the files of the year in the community, one count per FILE_STATES code;
- open_reasons[reason]: the open files of the year (OPEN_FILE_STATES) by reason_code, one count
  per REASONS code plus "none" (no reason recorded; an unknown code counts as "other").
"""

from dataclasses import dataclass, field, fields

from sqlalchemy import text

from portal.comparisons.operations import APPLIES, NAME_SPACES
from portal.database import code_list
from portal.persons.codes import (
    FILE_STATES,
    GOVERNMENT_PAID_MASK,
    KEY_POPULATION_BY_CODE,
    KEY_POPULATIONS,
    OPEN_FILE_STATES,
    REASONS,
)
from portal.regions.codes import subtree_bounds

STATE_CODES = tuple(code for code, _ in FILE_STATES)
REASON_CODES = tuple(code for code, _ in REASONS) + ("none",)
KEY_CODES = tuple(k.code for k in KEY_POPULATIONS)

# Person-level counts: name → SQL (over person p, the population only).
_INSURED = "p.insured_status = 'insured' AND p.excluded_reason IS NULL"
_GOV = f"(p.key_populations & {GOVERNMENT_PAID_MASK}) <> 0"


def _normalized(column: str) -> str:
    expression = column
    for index in range(len(NAME_SPACES)):
        expression = f"REPLACE({expression}, :space{index}, '')"
    return expression


# A record naming the person otherwise (the comparison's rule), over enrollment e and person p.
_NAMED_OTHERWISE = (
    f"e.name <> '' AND e.name <> p.name AND e.name <> {_normalized('p.name')} AND {APPLIES}"
)
PERSON_COUNTS = {
    "persons": "1 = 1",
    "register": "p.in_register",
    "resident_only": "NOT p.in_register",
    "excluded": "p.excluded_reason IS NOT NULL",
    "insured": _INSURED,
    "insured_employee": f"{_INSURED} AND p.insured_scheme = 'employee'",
    "insured_resident": f"{_INSURED} AND p.insured_scheme = 'resident'",
    "insured_local": f"{_INSURED} AND "
    "SUBSTR(p.insured_region_code, 1, 6) = SUBSTR(p.region_code, 1, 6)",
    "insured_elsewhere": f"{_INSURED} AND (p.insured_region_code IS NULL OR "
    "SUBSTR(p.insured_region_code, 1, 6) <> SUBSTR(p.region_code, 1, 6))",
    "government_paid": f"p.excluded_reason IS NULL AND {_GOV}",
    "government_paid_insured": f"{_INSURED} AND {_GOV}",
    "e_credential": f"{_INSURED} AND p.e_credential",
    "lapsed": "p.excluded_reason IS NULL AND (p.key_populations & "
    f"{KEY_POPULATION_BY_CODE['lapsed_payer'].bit}) <> 0",
}
# Counted from the records that name someone (mismatch_aggregate): most carry no name, and
# probing the records of every person cost more than the rest of the counts together.
PERSON_FIELDS = (*PERSON_COUNTS, "mismatched")
# Uninsured must-insure persons per key population: maintained like the rest (uninsured_<code>).
_UNINSURED = "p.excluded_reason IS NULL AND p.insured_status <> 'insured'"
KEY_COUNTS = {
    f"uninsured_{k.code}": f"{_UNINSURED} AND (p.key_populations & {k.bit}) <> 0"
    for k in KEY_POPULATIONS
}
KEY_FIELDS = tuple(KEY_COUNTS)
# File counts of one year: column name → SQL (over person_file f).
_OPEN = f"f.state IN ({code_list(OPEN_FILE_STATES)})"
_KNOWN = code_list(code for code, _ in REASONS if code != "other")
FILE_COUNTS = {f"files_{state}": f"f.state = '{state}'" for state in STATE_CODES}
FILE_COUNTS |= {
    f"open_{code}": f"{_OPEN} AND f.reason_code = '{code}'"
    for code, _ in REASONS
    if code != "other"
}
FILE_COUNTS["open_other"] = (
    f"{_OPEN} AND f.reason_code IS NOT NULL AND f.reason_code NOT IN ({_KNOWN})"
)
FILE_COUNTS["open_none"] = f"{_OPEN} AND f.reason_code IS NULL"
# The contact funnel (files → visited → agreed → enrolled): files of the year visited at least
# once, and of those the ones whose person agreed (paid or reported paid: waiting for the
# comparison's confirmation, or confirmed enrolled).
FUNNEL_CODES = ("visited", "agreed")
_VISITED = "f.last_visit_at IS NOT NULL"
FILE_COUNTS["files_visited"] = _VISITED
FILE_COUNTS["files_agreed"] = f"{_VISITED} AND f.state IN ('pending_confirmation', 'enrolled')"
FILE_FIELDS = tuple(FILE_COUNTS)
# The maintained table's count columns, in the order maintain.py computes them: the person
# aggregate (PERSON_COUNTS, then KEY_COUNTS), the mismatch aggregate, the file aggregate.
COLUMNS = (*PERSON_COUNTS, *KEY_FIELDS, "mismatched", *FILE_FIELDS)
# Parameters every statement built from these fragments needs.
NAME_PARAMS = {f"space{index}": space for index, space in enumerate(NAME_SPACES)}


def _sums(counts: dict[str, str]) -> str:
    return ", ".join(
        f"SUM(CASE WHEN {sql} THEN 1 ELSE 0 END) AS {name}" for name, sql in counts.items()
    )


def person_aggregate(where: str) -> str:
    """SQL: one row per community (region_code + PERSON_COUNTS) of the population persons
    whose region_code satisfies `where` (a condition on p.region_code)."""
    return (
        f"SELECT p.region_code AS region_code, {_sums(PERSON_COUNTS | KEY_COUNTS)} FROM person p "
        f"WHERE (p.in_register OR p.in_resident_list) AND {where} GROUP BY p.region_code"
    )


def mismatch_aggregate(where: str) -> str:
    """SQL: one row per community (region_code, mismatched) of the population persons whose
    region_code satisfies `where` with a record naming them otherwise (身份信息不一致)."""
    return (
        "SELECT p.region_code AS region_code, COUNT(DISTINCT p.id) AS mismatched "
        "FROM enrollment e JOIN person p ON p.id_number = e.id_number "
        f"WHERE e.name IS NOT NULL AND {_NAMED_OTHERWISE} "
        f"AND (p.in_register OR p.in_resident_list) AND {where} GROUP BY p.region_code"
    )


def file_aggregate(where: str) -> str:
    """SQL: one row per (community, year) (region_code, year + FILE_FIELDS) of the files whose
    region_code and year satisfy `where` (a condition on f.region_code and f.year)."""
    return (
        f"SELECT f.region_code AS region_code, f.year AS year, {_sums(FILE_COUNTS)} "
        f"FROM person_file f WHERE {where} GROUP BY f.region_code, f.year"
    )


@dataclass
class Counts:
    """The figures of one community (or a sum of communities) for one insurance year."""

    persons: int = 0
    register: int = 0
    resident_only: int = 0
    excluded: int = 0
    insured: int = 0
    insured_employee: int = 0
    insured_resident: int = 0
    insured_local: int = 0
    insured_elsewhere: int = 0
    government_paid: int = 0  # must-insure persons in a government-paid key population
    government_paid_insured: int = 0
    e_credential: int = 0  # insured persons with an activated e-credential
    lapsed: int = 0  # must-insure persons flagged 断缴人员
    mismatched: int = 0
    uninsured_keys: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KEY_CODES, 0))
    files: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATE_CODES, 0))
    open_reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASON_CODES, 0))
    funnel: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FUNNEL_CODES, 0))

    @property
    def must_insure(self) -> int:
        return self.persons - self.excluded

    @property
    def uninsured(self) -> int:
        return self.must_insure - self.insured

    @property
    def open_files(self) -> int:
        return sum(self.open_reasons.values())

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    def _add_into(self, total: "Counts", other: "Counts") -> None:
        for name in PERSON_FIELDS:
            setattr(total, name, getattr(self, name) + getattr(other, name))
        total.files = {k: self.files[k] + other.files[k] for k in STATE_CODES}
        total.open_reasons = {k: self.open_reasons[k] + other.open_reasons[k] for k in REASON_CODES}
        total.funnel = {k: self.funnel[k] + other.funnel[k] for k in FUNNEL_CODES}
        total.uninsured_keys = {
            k: self.uninsured_keys[k] + other.uninsured_keys[k] for k in KEY_CODES
        }

    def __add__(self, other: "Counts") -> "Counts":
        if not isinstance(other, Counts):
            return NotImplemented
        total = Counts()
        self._add_into(total, other)
        return total

    def as_columns(self) -> dict[str, int]:
        """The maintained table's columns (files_<state>, open_<reason>)."""
        columns = {name: getattr(self, name) for name in PERSON_FIELDS}
        columns |= {f"uninsured_{k}": v for k, v in self.uninsured_keys.items()}
        columns |= {f"files_{k}": v for k, v in self.files.items()}
        columns |= {f"open_{k}": v for k, v in self.open_reasons.items()}
        columns |= {f"files_{k}": v for k, v in self.funnel.items()}
        return columns

    @classmethod
    def from_columns(cls, row) -> "Counts":
        """From a mapping holding the table's columns (missing or NULL values count 0)."""
        counts = cls()
        counts.set_columns(row)
        return counts

    def set_columns(self, row) -> None:
        for name in PERSON_FIELDS:
            setattr(self, name, int(row.get(name) or 0))
        self.files = {k: int(row.get(f"files_{k}") or 0) for k in STATE_CODES}
        self.open_reasons = {k: int(row.get(f"open_{k}") or 0) for k in REASON_CODES}
        self.funnel = {k: int(row.get(f"files_{k}") or 0) for k in FUNNEL_CODES}
        self.uninsured_keys = {k: int(row.get(f"uninsured_{k}") or 0) for k in KEY_CODES}

    def __eq__(self, other) -> bool:
        if not isinstance(other, Counts):
            return NotImplemented
        return self.as_columns() == other.as_columns()


_DICTS = {"files", "open_reasons", "funnel", "uninsured_keys"}
assert set(Counts.__dataclass_fields__) == set(PERSON_FIELDS) | _DICTS
assert [f.name for f in fields(Counts) if f.name not in _DICTS] == list(PERSON_FIELDS)


def direct_counts(connection, prefix: str, year: int) -> dict[str, Counts]:
    """The counts of every community under the region `prefix` holding persons or files of
    `year`, straight from the base tables: two grouped queries (persons, files)."""
    lo, hi = subtree_bounds(prefix)
    params = {"lo": lo, "hi": hi, "year": year, **NAME_PARAMS}
    result: dict[str, dict] = {}
    for sql in (
        person_aggregate("p.region_code BETWEEN :lo AND :hi"),
        mismatch_aggregate("p.region_code BETWEEN :lo AND :hi"),
        file_aggregate("f.region_code BETWEEN :lo AND :hi AND f.year = :year"),
    ):
        for row in connection.execute(text(sql), params).mappings():
            result.setdefault(row["region_code"], {}).update(row)
    return {code: Counts.from_columns(row) for code, row in sorted(result.items())}
