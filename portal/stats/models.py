"""The maintained aggregate: the headline counts of one community for one insurance year.

One row per (insurance year, community code), one integer column per count of
portal/stats/counts.py (COLUMNS: the person-level counts, files_<state>, open_<reason> — the
reasons as individual columns so that a region's figures are plain SUMs), and when the row was
last recomputed. The key leads with the year: a region's figures are one range scan of the key
(`year = :year AND region_code BETWEEN :lo AND :hi`), a city ~2,500 rows, a province ~21 k. The
rows carry their community code: a city-partitioned or distributed deployment keeps them with
the persons they count. Kept exact by portal/stats/maintain.py.
"""

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, SmallInteger, String, Table, false

from portal.extensions import db
from portal.stats.counts import COLUMNS


class CommunityFigures(db.Model):
    __table__ = Table(
        "community_figures",
        db.metadata,
        Column("year", SmallInteger, primary_key=True),
        Column("region_code", String(12), primary_key=True),
        Column("refreshed_at", DateTime, nullable=False),
        *(Column(name, Integer, nullable=False, server_default="0") for name in COLUMNS),
    )


# The trend figures kept per (region, day): see migration 0014 and portal/stats/snapshots.py.
TREND_COUNTS = (
    "persons",
    "excluded",
    "insured",
    "open_files",
    "files",
    "government_paid",
    "government_paid_insured",
    "e_credential",
    "visits",
    "conversions",
)


class DailyFigures(db.Model):
    __table__ = Table(
        "daily_figures",
        db.metadata,
        Column("region_code", String(12), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("year", SmallInteger, nullable=False),
        *(Column(name, Integer, nullable=False, server_default="0") for name in TREND_COUNTS),
        Column("filled", Boolean, nullable=False, server_default=false()),
        Column("taken_at", DateTime, nullable=False),
    )


class CommunityActivity(db.Model):
    """Visits and conversions of one community on one (China-time) day."""

    __table__ = Table(
        "community_activity",
        db.metadata,
        Column("day", Date, primary_key=True),
        Column("region_code", String(12), primary_key=True),
        Column("visits", Integer, nullable=False, server_default="0"),
        Column("conversions", Integer, nullable=False, server_default="0"),
    )
