"""Scoped reads of the regions a dashboard shows: outside the user's stats.view scope, not found.

The figures themselves come from portal.stats, which checks nothing: every region reaches it
through `get_region_or_404` here.
"""

from flask import abort

from permissions import can, scope_for
from portal.regions import queries as region_queries
from portal.regions.models import Region

ACTION = "stats.view"
EXPORT_ACTION = "report.export"


def get_region_or_404(code: str, actor) -> Region:
    """A region in the actor's stats.view scope; any other code is simply not found."""
    return region_queries.get_region_or_404(code, scope_for(actor, ACTION))


def get_exportable_region_or_404(code: str, actor) -> Region:
    """A region whose figures the actor may both see and export."""
    region = get_region_or_404(code, actor)
    if not may_export(actor, region):
        abort(404)
    return region


def home_region(actor) -> Region | None:
    """The highest region the actor holds stats.view for (the first in code order on a tie)."""
    roots = region_queries.scope_roots(scope_for(actor, ACTION))
    return min(roots, key=lambda r: (r.level, r.code), default=None)


def trail(region: Region, actor) -> list[Region]:
    """The region's ancestors inside the actor's scope: a breadcrumb never above their grant."""
    return region_queries.trail(region, scope_for(actor, ACTION))


def may_export(actor, region: Region) -> bool:
    return can(actor, EXPORT_ACTION, region.code)
