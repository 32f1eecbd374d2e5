"""The short form of a dashboard that a staff user's or supervisor's home page opens with."""

from dataclasses import dataclass

from portal.dashboard import regions, table
from portal.regions.models import Region
from portal.stats.figures import region_figures
from portal.years.selection import current_year


@dataclass(frozen=True)
class Summary:
    region: Region
    year: int
    headline: table.Headline
    links: table.Links


def home_summary(actor, year: int) -> Summary | None:
    """The headline figures of the actor's own top region, or None without stats.view."""
    region = regions.home_region(actor)
    if region is None:
        return None
    figures = region_figures(region.code, year)
    links = table.Links(actor, year, linked_to_lists=year == current_year())
    return Summary(region, year, table.headline(figures), links)
