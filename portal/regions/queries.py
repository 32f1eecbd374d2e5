"""Scoped reads of the region tree: a region outside the scope simply is not found."""

from flask import abort
from sqlalchemy import select

from permissions import Scope
from portal.extensions import db
from portal.regions.models import Region

SEARCH_LIMIT = 30


def get_region_or_404(code: str, scope: Scope) -> Region:
    region = db.session.scalar(
        select(Region).where(Region.code == code, scope.region_clause(Region.code))
    )
    if region is None:
        abort(404)
    return region


def scope_roots(scope: Scope) -> list[Region]:
    """The top regions of a scope (one per grant region), for a user's starting point."""
    roots = []
    for p in scope.prefixes + scope.assigned_prefixes:
        region = db.session.scalar(
            select(Region).where(Region.code == p.ljust(12, "0"), Region.level == _level(p))
        )
        if region is not None:
            roots.append(region)
    return sorted(roots, key=lambda r: r.code)


def _level(prefix: str) -> int:
    return {2: 1, 4: 2, 6: 3, 9: 4, 12: 5}[len(prefix)]


def ancestors(region: Region) -> list[Region]:
    codes = region.ancestor_codes()
    if not codes:
        return []
    found = db.session.scalars(select(Region).where(Region.code.in_(codes))).all()
    return sorted(found, key=lambda r: r.level)


def trail(region: Region, scope: Scope) -> list[Region]:
    """The region's ancestors inside the scope: a breadcrumb never above the user's grant."""
    return [a for a in ancestors(region) if scope.contains(a.code)]


def children(region: Region) -> list[Region]:
    return list(db.session.scalars(Region.children_query(region.code)))


def search(scope: Scope, text: str, limit: int = SEARCH_LIMIT) -> list[Region]:
    """Regions in scope whose name contains the text or whose code starts with it."""
    text = (text or "").strip()
    if not text:
        return []
    condition = (
        Region.code.startswith(text)
        if text.isdigit()
        else Region.name.contains(text, autoescape=True)
    )
    query = (
        select(Region)
        .where(scope.region_clause(Region.code), condition)
        .order_by(Region.level, Region.code)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def grant_regions_and_counties(actor, action: str) -> list[Region]:
    """The regions of the actor's grants that hold `action`, and the regions one level below
    them down to county level: where an office imports or compares."""
    from permissions import scope_for

    scope = scope_for(actor, action)
    roots = [g.region for g in actor.grants if scope.contains(g.region_code)]
    children = db.session.scalars(
        select(Region)
        .where(Region.parent_code.in_([r.code for r in roots]), Region.level <= 3)
        .order_by(Region.code)
    ).all()
    return [*roots, *children]
