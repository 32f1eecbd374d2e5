"""The target a level sets for one child region and insurance year.

kind 'rate': a coverage rate (参保率), value in basis points (9650 = 96.50 %);
kind 'count': a number of persons insured, value in persons.
"""

from datetime import datetime

from sqlalchemy import DateTime, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow

TARGET_KINDS = (("rate", "参保率"), ("count", "参保人数"))
TARGET_KIND_LABELS = dict(TARGET_KINDS)
RATE_SCALE = 10_000  # basis points in 100 %


class RegionTarget(db.Model):
    __tablename__ = "region_target"

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[int] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def rate(self) -> float | None:
        """The target as a fraction (0.965) when it is a rate."""
        return self.value / RATE_SCALE if self.kind == "rate" else None
