"""Targets: reading them, measuring progress against them, and setting them.

Scope is NOT checked here: the views check `permissions` (target.set / stats.view) for the
region first. Business rules (what a valid target is) live here, not in views or templates.
"""

from sqlalchemy import select

from portal.extensions import db
from portal.regions.models import Region
from portal.targets.models import RATE_SCALE, RegionTarget


def targets_of_children(parent_code: str, year: int) -> dict[str, RegionTarget]:
    """The targets of the child regions of `parent_code` for `year`, keyed by child code
    (children without a target are absent). One query."""
    children = select(Region.code).where(Region.parent_code == parent_code)
    rows = db.session.scalars(
        select(RegionTarget).where(
            RegionTarget.year == year, RegionTarget.region_code.in_(children)
        )
    )
    return {t.region_code: t for t in rows}


def target_of(region_code: str, year: int) -> RegionTarget | None:
    """The target the parent set for this region and year, if any."""
    return db.session.get(RegionTarget, (year, region_code))


def progress(target: RegionTarget | None, figures) -> float | None:
    """How far the region is towards its target, 1.0 = reached (may exceed 1).

    rate: coverage ÷ target rate; count: insured ÷ target count. None without a target, without
    figures, without a coverage (nobody to insure) or for a zero target (nothing to measure)."""
    if target is None or figures is None or target.value <= 0:
        return None
    if target.kind == "rate":
        coverage = figures.coverage
        if coverage is None:
            return None
        return coverage / (target.value / RATE_SCALE)
    return figures.insured / target.value


def format_rate_value(basis_points: int) -> str:
    """9650 → "96.5", 9500 → "95", 9655 → "96.55" (no trailing zeros)."""
    whole, part = divmod(basis_points, 100)
    return f"{whole}" if part == 0 else f"{whole}.{part:02d}".rstrip("0")


def target_label(target: RegionTarget | None) -> str:
    """ "96.5%" for a rate, "12,000 人" for a count, "—" without a target."""
    if target is None:
        return "—"
    if target.kind == "rate":
        return f"{format_rate_value(target.value)}%"
    return f"{target.value:,} 人"
