"""Report periods, submissions and their history (migration 0018).

- report_period: a round of reporting set by a region (a province or a city) for its subtree
  and one insurance year, with a deadline per submitting level (county, city, province).
- report_submission: one per (period, region): the region's forms as submitted (the frozen
  figures of every form, `snapshot`), its state (submitted / returned / accepted) and who moved
  it last; `version` makes two reviewers deciding at once a conflict, not a double step.
- report_event: every step (submit, return, accept) with its user, time, comment and, for a
  submission, the snapshot it froze: the history of what was reported.
"""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.persons.models import BigId
from portal.timeutil import utcnow

SUBMISSION_STATES = (("submitted", "已报送"), ("returned", "已退回"), ("accepted", "已审核通过"))
SUBMISSION_STATE_LABELS = dict(SUBMISSION_STATES)
EVENT_ACTIONS = (
    ("submit", "报送"),
    ("return", "退回"),
    ("accept", "审核通过"),
    ("reopen", "撤销审核通过"),
)
EVENT_ACTION_LABELS = dict(EVENT_ACTIONS)


class ReportPeriod(db.Model):
    __tablename__ = "report_period"
    __table_args__ = (UniqueConstraint("region_code", "year", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12))  # who set it; covers its subtree
    year: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(String(16))  # e.g. "2027", "2027-01"
    name: Mapped[str] = mapped_column(String(60))
    county_due: Mapped[date | None] = mapped_column(Date)
    city_due: Mapped[date | None] = mapped_column(Date)
    province_due: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReportSubmission(db.Model):
    __tablename__ = "report_submission"
    __table_args__ = (UniqueConstraint("period_id", "region_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("report_period.id"))
    region_code: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[dict] = mapped_column(JSON)  # form code → frozen figures as submitted
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(Integer)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(500))  # the reviewer's, on return/accept
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ReportEvent(db.Model):
    __tablename__ = "report_event"
    __table_args__ = (Index("ix_report_event_submission", "submission_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("report_submission.id"))
    action: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    comment: Mapped[str | None] = mapped_column(String(500))
    snapshot: Mapped[dict | None] = mapped_column(JSON)  # what a submit froze
