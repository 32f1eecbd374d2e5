"""The figure catalogue of the report forms: named figures per child region of a region for an
insurance year, read from the maintained roll-ups. A form's column names these figures (or a
sum or difference of them: portal/reports/spec.py); only the providers a form names are read.

Providers and their names:
- the community roll-ups (portal/stats/figures.child_figures; portal/stats/counts.py says what
  each counts): persons, register, resident_only, excluded, must_insure, insured,
  insured_employee, insured_resident (every insured person holds a scheme: the comparison sets
  insured_scheme from the covering record, employee or resident, so the two sum to insured),
  insured_local, insured_elsewhere, government_paid, government_paid_insured,
  government_paid_gap, e_credential, lapsed, mismatched (身份信息不一致: live, records naming
  the person otherwise than the register), uninsured, open_files, total_files,
  files_<state>, open_<reason>, uninsured_<key population>;
- the duplicate roll-ups (portal/duplicates/figures.child_duplicates): dup_cases,
  dup_cases_employee / _resident / _cross, dup_open, dup_resolved, dup_not_duplicate,
  dup_records (人次), subsidy_deductions (财政补助扣减, cases found not duplicates excepted);
- per kind and state (not maintained: one grouped aggregate over the region's duplicate_case
  rows of the year, a small table): dup_<kind>_<state>, kind employee / resident / cross, state
  open / resolved / not_duplicate;
- the uninsured by the reason of their file (one grouped aggregate over the region's uninsured
  must-insure persons and their file of the year): reason_<code> for every REASONS code (an
  unknown code counts as other), reason_none (a file without a reason: 原因未登记) and
  reason_no_file (no file of the year: 未建档 — never compared, an employee in the grace
  months, …): they sum to the uninsured persons counted the same way (uninsured).

A duplicate case counted at a code of the region's own level (a county-level insured place
under a county) lies under no child: it gets a row of its own (本级, the region's code), so that
the rows sum to the region.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text

from portal.database import raise_work_mem, restore_work_mem
from portal.duplicates import figures as duplicate_figures
from portal.duplicates.models import KINDS, STATES
from portal.extensions import db
from portal.persons.codes import FILE_STATES, KEY_POPULATIONS, REASONS
from portal.regions import codes as region_codes
from portal.regions.codes import subtree_bounds
from portal.regions.models import Region
from portal.stats import figures as stat_figures
from portal.timeutil import utcnow

OWN_LEVEL = "本级"
_KNOWN_REASONS = tuple(code for code, _ in REASONS)

SCALAR_NAMES = (
    "persons",
    "register",
    "resident_only",
    "excluded",
    "must_insure",
    "insured",
    "insured_employee",
    "insured_resident",
    "insured_local",
    "insured_elsewhere",
    "government_paid",
    "government_paid_insured",
    "government_paid_gap",
    "e_credential",
    "lapsed",
    "mismatched",
    "uninsured",
    "open_files",
    "total_files",
)
FIGURE_NAMES = (
    *SCALAR_NAMES,
    *(f"files_{code}" for code, _ in FILE_STATES),
    *(f"open_{code}" for code, _ in REASONS),
    "open_none",
    *(f"uninsured_{k.code}" for k in KEY_POPULATIONS),
)
DUPLICATE_NAMES = (
    "dup_cases",
    "dup_cases_employee",
    "dup_cases_resident",
    "dup_cases_cross",
    "dup_open",
    "dup_resolved",
    "dup_not_duplicate",
    "dup_records",
    "subsidy_deductions",
)
DUPLICATE_STATE_NAMES = tuple(f"dup_{kind}_{state}" for kind, _ in KINDS for state, _ in STATES)
REASON_NAMES = (*(f"reason_{code}" for code in _KNOWN_REASONS), "reason_none", "reason_no_file")
PROVIDERS = {
    "figures": FIGURE_NAMES,
    "duplicates": DUPLICATE_NAMES,
    "duplicate_states": DUPLICATE_STATE_NAMES,
    "reasons": REASON_NAMES,
}
NAMES = frozenset(name for names in PROVIDERS.values() for name in names)
_PROVIDER_OF = {name: provider for provider, names in PROVIDERS.items() for name in names}


@dataclass
class Entry:
    """One row of the catalogue: a child region (or 本级) and its named figures."""

    code: str
    name: str
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class Catalogue:
    entries: list[Entry]
    as_of: datetime | None


def _figure_values(figures) -> dict[str, int]:
    values = {name: int(getattr(figures, name)) for name in SCALAR_NAMES}
    values |= {f"files_{k}": v for k, v in figures.files.items()}
    values |= {f"open_{k}": v for k, v in figures.open_reasons.items()}
    values |= {f"uninsured_{k}": v for k, v in figures.uninsured_keys.items()}
    return values


def _duplicate_values(figures) -> dict[str, int]:
    values = {f"dup_{k}": v for k, v in figures.as_dict().items() if f"dup_{k}" in NAMES}
    values["subsidy_deductions"] = figures.subsidy_deductions
    return values


def _group_length(region: Region) -> int | None:
    return region_codes.PREFIX_LENGTH.get(region.level + 1)


def _duplicate_states(region: Region, year: int, length: int) -> dict[str, dict[str, int]]:
    """{group (child prefix, or the region's own prefix-length code): {dup_<kind>_<state>}}."""
    lo, hi = subtree_bounds(region.prefix)
    rows = db.session.execute(
        text(
            f"SELECT SUBSTR(c.region_code, 1, {int(length)}) AS grp, c.kind, c.state, "
            "COUNT(*) AS n FROM duplicate_case c WHERE c.year = :year "
            "AND c.region_code BETWEEN :lo AND :hi GROUP BY 1, c.kind, c.state"
        ),
        {"year": int(year), "lo": lo, "hi": hi},
    )
    result: dict[str, dict[str, int]] = {}
    for grp, kind, state, count in rows:
        name = f"dup_{kind}_{state}"
        if name in DUPLICATE_STATE_NAMES:
            entry = result.setdefault(grp, dict.fromkeys(DUPLICATE_STATE_NAMES, 0))
            entry[name] += int(count)
    return result


def _reasons(region: Region, year: int, length: int) -> dict[str, dict[str, int]]:
    """{child prefix: {reason_<code>, reason_none, reason_no_file}} of the uninsured
    must-insure persons (counts.py's definition) by the reason of their file of the year."""
    lo, hi = subtree_bounds(region.prefix)
    known = ", ".join(f"'{code}'" for code in _KNOWN_REASONS)
    connection = db.session.connection()
    # A city's uninsured are a million rows to join and group: sorted in memory, and planned
    # without JIT, which spent 2.4 s of an 8 s statement compiling at 10 M persons.
    previous = raise_work_mem(connection)
    rows = connection.execute(
        text(
            f"SELECT SUBSTR(p.region_code, 1, {int(length)}) AS grp, "
            "CASE WHEN f.id IS NULL THEN 'no_file' WHEN f.reason_code IS NULL THEN 'none' "
            f"WHEN f.reason_code IN ({known}) THEN f.reason_code ELSE 'other' END AS reason, "
            "COUNT(*) AS n FROM person p "
            "LEFT JOIN person_file f ON f.person_id = p.id AND f.year = :year "
            "WHERE (p.in_register OR p.in_resident_list) AND p.excluded_reason IS NULL "
            "AND p.insured_status <> 'insured' AND p.region_code BETWEEN :lo AND :hi "
            "GROUP BY 1, 2"
        ),
        {"year": int(year), "lo": lo, "hi": hi},
    ).all()
    restore_work_mem(connection, previous)
    result: dict[str, dict[str, int]] = {}
    for grp, reason, count in rows:
        entry = result.setdefault(grp, dict.fromkeys(REASON_NAMES, 0))
        entry[f"reason_{reason}"] += int(count)
    return result


def providers_for(names) -> set[str]:
    return {_PROVIDER_OF[name] for name in names}


def catalogue(region_code: str, year: int, names=NAMES) -> Catalogue:
    """The named figures of every child region of `region_code` (zeros included, code order;
    a 本级 entry after them when a figure counts at the region's own level); a region without
    children: one entry, itself. Only the providers of `names` are read. No scope check."""
    region = db.session.get(Region, region_code)
    if region is None:
        raise LookupError(f"no region {region_code!r}")
    wanted = providers_for(names)
    length = _group_length(region)
    children = db.session.scalars(Region.children_query(region.code)).all() if length else []
    if not children:
        return _leaf(region, year, wanted)
    entries = {child.code[:length]: Entry(child.code, child.name) for child in children}
    own = Entry(region.code, OWN_LEVEL)
    stamps: list[datetime] = []
    if "figures" in wanted:
        for child, figures in stat_figures.child_figures(region.code, year):
            entries[child.code[:length]].values |= _figure_values(figures)
            if figures.as_of:
                stamps.append(figures.as_of)
    if "duplicates" in wanted:
        for child, figures in duplicate_figures.child_duplicates(region.code, year):
            target = entries[child.code[:length]] if child is not None else own
            target.values |= _duplicate_values(figures)
            if figures.as_of:
                stamps.append(figures.as_of)
    if "duplicate_states" in wanted:
        for grp, values in _duplicate_states(region, year, length).items():
            (entries[grp] if grp in entries else own).values |= values
    if "reasons" in wanted:
        for grp, values in _reasons(region, year, length).items():
            if grp in entries:  # persons sit at community codes, under exactly one child
                entries[grp].values |= values
    rows = list(entries.values())
    if own.values:
        rows.append(own)
    for entry in rows:
        for name in names:
            entry.values.setdefault(name, 0)
    return Catalogue(rows, min(stamps) if stamps else utcnow())


def _leaf(region: Region, year: int, wanted: set[str]) -> Catalogue:
    entry = Entry(region.code, region.name)
    stamps: list[datetime] = []
    if "figures" in wanted:
        figures = stat_figures.region_figures(region.code, year)
        entry.values |= _figure_values(figures)
        stamps.append(figures.as_of)
    if "duplicates" in wanted:
        figures = duplicate_figures.region_duplicates(region.code, year)
        entry.values |= _duplicate_values(figures)
    if "duplicate_states" in wanted:
        for values in _duplicate_states(region, year, len(region.code)).values():
            entry.values |= values
    if "reasons" in wanted:
        for values in _reasons(region, year, len(region.code)).values():
            entry.values |= values
    for name in NAMES:
        entry.values.setdefault(name, 0)
    return Catalogue([entry], min((s for s in stamps if s), default=utcnow()))
