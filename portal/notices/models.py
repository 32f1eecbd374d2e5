"""Ranking notices (通报) kept month by month (migration 0018).

One row per issuing region and month: the region's child regions ranked as at `taken_at`
(`rows`: each child's figures, rank, progress to target and the ranks it moved), and the
region's own summary (`summary`). `final` marks the end-of-month notice the scheduled job
issued; a notice issued on demand during the month is not final and is replaced by the next.
"""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Index, Integer, SmallInteger, String, false
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.persons.models import BigId
from portal.timeutil import utcnow


class RankingNotice(db.Model):
    __tablename__ = "ranking_notice"
    __table_args__ = (Index("ix_ranking_notice_region_month", "region_code", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12))  # the issuing (parent) region
    year: Mapped[int] = mapped_column(SmallInteger)  # the insurance year ranked
    month: Mapped[date] = mapped_column(Date)  # the first day of the month it covers
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    taken_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    taken_by_id: Mapped[int | None] = mapped_column(Integer)  # None: the scheduled job
    rows: Mapped[list] = mapped_column(JSON)
    summary: Mapped[dict] = mapped_column(JSON)
