"""Comparison runs: who compared which region for which insurance year, and what changed."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class ComparisonRun(db.Model):
    """One run of the comparison over one region; counts of what it did."""

    __tablename__ = "comparison_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    year: Mapped[int] = mapped_column(SmallInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    persons: Mapped[int] = mapped_column(Integer, default=0)
    insured: Mapped[int] = mapped_column(Integer, default=0)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
