"""The figures API of the dashboards: the headline figures of any region for an insurance year.

Scope is NOT checked here: the views check `permissions` (can / scope_for) for the region
before calling. These functions only read.

A region's figures are the sum of its communities' counts (portal/stats/counts.py says what each
count means); `child_figures` gives one entry per child region, zeros included, in code order,
and the children sum exactly to the parent's `region_figures` (persons and files sit at
community codes, which every lie under exactly one child).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, text

from portal.extensions import db
from portal.regions import codes as region_codes
from portal.regions.codes import subtree_bounds
from portal.regions.models import Region
from portal.stats.counts import COLUMNS, Counts, direct_counts
from portal.stats.maintain import TABLE
from portal.timeutil import utcnow


@dataclass(eq=False)
class Figures(Counts):
    """Counts of a region plus when they were computed (`as_of`, naive UTC: the oldest refresh
    of the community rows summed; show it as "数据截至 HH:MM" in China time)."""

    as_of: datetime | None = None

    @property
    def coverage(self) -> float | None:
        """Insured ÷ must be insured (参保率), None when nobody must be."""
        return self.insured / self.must_insure if self.must_insure else None

    @property
    def government_paid_gap(self) -> int:
        """Government-paid key-population persons who must be insured and are not."""
        return self.government_paid - self.government_paid_insured

    @property
    def government_paid_coverage(self) -> float | None:
        if not self.government_paid:
            return None
        return self.government_paid_insured / self.government_paid

    @property
    def e_credential_rate(self) -> float | None:
        """Activated e-credentials ÷ insured."""
        return self.e_credential / self.insured if self.insured else None

    def __add__(self, other: Counts) -> "Figures":
        if not isinstance(other, Counts):
            return NotImplemented
        total = Figures()
        self._add_into(total, other)
        stamps = [s for s in (self.as_of, getattr(other, "as_of", None)) if s is not None]
        total.as_of = min(stamps) if stamps else None
        return total


def _region(region_code: str) -> Region:
    region = db.session.get(Region, region_code)
    if region is None:
        raise LookupError(f"no region {region_code!r}")
    return region


def _figures(counts: Counts, as_of: datetime | None) -> Figures:
    figures = Figures(as_of=as_of)
    figures.set_columns(counts.as_columns())
    return figures


def _year_built(connection, year: int) -> bool:
    return (
        connection.execute(
            text(f"SELECT 1 FROM {TABLE} WHERE year = :year LIMIT 1"), {"year": year}
        ).first()
        is not None
    )


def _sums(connection, prefix: str, year: int, group_length: int | None) -> dict[str, Figures]:
    """Sum the maintained rows under `prefix` for `year` (one range scan of the key), in one
    total (key "") or grouped by the first `group_length` digits of the community code."""
    lo, hi = subtree_bounds(prefix)
    key = f"SUBSTR(region_code, 1, {int(group_length)})" if group_length else "''"
    sums = ", ".join(f"SUM({name}) AS {name}" for name in COLUMNS)
    group = f" GROUP BY {key}" if group_length else ""
    rows = connection.execute(
        text(
            f"SELECT {key} AS grp, MIN(refreshed_at) AS as_of, {sums} FROM {TABLE} "
            f"WHERE year = :year AND region_code BETWEEN :lo AND :hi{group}"
        ).columns(as_of=DateTime()),
        {"year": year, "lo": lo, "hi": hi},
    ).mappings()
    result = {}
    for row in rows:
        if row["as_of"] is None:  # no row in the range (the total of nothing)
            continue
        figures = Figures(as_of=row["as_of"])
        figures.set_columns(row)
        result[row["grp"]] = figures
    return result


def _direct(connection, prefix: str, year: int, group_length: int | None) -> dict[str, Figures]:
    """The same from the base tables: a year nobody maintains yet (see maintain.py)."""
    as_of = utcnow()
    result: dict[str, Figures] = {}
    for code, counts in direct_counts(connection, prefix, year).items():
        key = code[:group_length] if group_length else ""
        result[key] = result.get(key, Figures(as_of=as_of)) + _figures(counts, as_of)
    return result


def _grouped(prefix: str, year: int, group_length: int | None) -> dict[str, Figures]:
    connection = db.session.connection()
    if _year_built(connection, year):
        return _sums(connection, prefix, year, group_length)
    return _direct(connection, prefix, year, group_length)


def region_figures(region_code: str, year: int) -> Figures:
    """The figures of one region (any level) for insurance year `year`. No scope check."""
    region = _region(region_code)
    return _grouped(region.prefix, year, None).get("") or Figures(as_of=utcnow())


def child_figures(region_code: str, year: int) -> list[tuple[Region, Figures]]:
    """(child region, its figures) for every child region of `region_code`, in code order, zeros
    included; they sum to region_figures(region_code, year). No scope check."""
    region = _region(region_code)
    children = db.session.scalars(Region.children_query(region.code)).all()
    if not children:
        return []
    length = region_codes.PREFIX_LENGTH[region.level + 1]
    groups = _grouped(region.prefix, year, length)
    zero_as_of = min((f.as_of for f in groups.values() if f.as_of), default=utcnow())
    return [
        (child, groups.get(child.code[:length]) or Figures(as_of=zero_as_of)) for child in children
    ]


__all__ = ["Figures", "child_figures", "region_figures"]
