"""Comparison runs: who compared which region for which insurance year, and what changed."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, SmallInteger, String, false
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
    # Last year's open files carried into this year, and declined ones back for this period.
    carried: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    returned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Persons out of the population that must be insured (deceased, abroad, other scheme).
    excluded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Persons whose insured record gives a name other than the register's (身份信息不一致).
    mismatched: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Open files moved to the person's new community by this run.
    moved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The guard's findings before the run ({"code": ..., "message": ..., "figures": {...}} each)
    # and whether the user confirmed the run over them.
    checks: Mapped[list | None] = mapped_column(JSON)
    forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Coverage per township after the run: [{"code", "persons", "insured", "opened"}, ...].
    townships: Mapped[list | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
