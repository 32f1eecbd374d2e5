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

from portal.extensions import db
from portal.regions import codes as region_codes
from portal.regions.models import Region
from portal.stats.counts import Counts, direct_counts
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


def _community_counts(prefix: str, year: int) -> tuple[dict[str, Counts], datetime | None]:
    """Counts per community under `prefix`, and the time they are as of."""
    return direct_counts(db.session.connection(), prefix, year), utcnow()


def region_figures(region_code: str, year: int) -> Figures:
    """The figures of one region (any level) for insurance year `year`. No scope check."""
    region = _region(region_code)
    communities, as_of = _community_counts(region.prefix, year)
    total = Figures(as_of=as_of)
    for counts in communities.values():
        total = total + _figures(counts, as_of)
    return total


def child_figures(region_code: str, year: int) -> list[tuple[Region, Figures]]:
    """(child region, its figures) for every child region of `region_code`, in code order, zeros
    included; they sum to region_figures(region_code, year). No scope check."""
    region = _region(region_code)
    children = db.session.scalars(Region.children_query(region.code)).all()
    communities, as_of = _community_counts(region.prefix, year)
    by_prefix = {region_codes.prefix(child.code, child.level): child for child in children}
    lengths = sorted({len(p) for p in by_prefix})
    totals = {child.code: Figures(as_of=as_of) for child in children}
    for code, counts in communities.items():
        for length in lengths:
            child = by_prefix.get(code[:length])
            if child is not None:
                totals[child.code] = totals[child.code] + _figures(counts, as_of)
                break
    return [(child, totals[child.code]) for child in children]


__all__ = ["Figures", "child_figures", "region_figures"]
