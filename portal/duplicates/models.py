"""Duplicate-enrollment cases, their member records and their maintained figures (migration 0017).

A case is one person's (ID number's) two or more normal enrollment records whose periods overlap
in an insurance year; one case per person and year. `region_code` is where the case counts in
the figures: the person's community when the person is on a register, else the recommended
(or first) record's insured place. Every region holding one of the records sees the case
(duplicate_member.region_code is the scope column).
"""

from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.persons.models import BigId
from portal.timeutil import utcnow

KINDS = (("employee", "职工医保制度内"), ("resident", "居民医保制度内"), ("cross", "跨制度"))
KIND_LABELS = dict(KINDS)
STATES = (("open", "待处理"), ("not_duplicate", "非重复"), ("resolved", "已处理"))
STATE_LABELS = dict(STATES)
ACTIONS = (("keep", "保留"), ("terminate", "终止"), ("suspend", "暂停"))
ACTION_LABELS = dict(ACTIONS)
FIGURES = (
    "cases",
    "cases_employee",
    "cases_resident",
    "cases_cross",
    "open",
    "resolved",
    "not_duplicate",
    "subsidy_deductions",
    "records",
)


class DuplicateCase(db.Model):
    __tablename__ = "duplicate_case"
    __table_args__ = (
        UniqueConstraint("year", "id_number"),
        Index("ix_duplicate_case_region_state", "region_code", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger)
    id_number: Mapped[str] = mapped_column(String(18))
    person_id: Mapped[int | None] = mapped_column(BigId)
    region_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open")
    rule: Mapped[str | None] = mapped_column(String(32))  # duplicates/rules.py rule code
    recommended_id: Mapped[int | None] = mapped_column(BigId)  # the record to keep
    missing: Mapped[str | None] = mapped_column(String(32))  # the fact the rules lacked
    subsidy_deductions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    detected_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    proposal_reason: Mapped[str | None] = mapped_column(String(500))
    proposed_by_id: Mapped[int | None] = mapped_column(Integer)
    proposed_at: Mapped[datetime | None] = mapped_column(DateTime)
    proposer_region_code: Mapped[str | None] = mapped_column(String(12))
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_comment: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class DuplicateMember(db.Model):
    __tablename__ = "duplicate_member"
    __table_args__ = (
        Index("ix_duplicate_member_region", "region_code", "case_id"),
        Index("ix_duplicate_member_enrollment", "enrollment_id"),
    )

    case_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12))  # the record's insured place
    scheme: Mapped[str] = mapped_column(String(16))
    proposed_action: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(16))


class DuplicateFigures(db.Model):
    """Per (year, region_code): cases counted where they count (DuplicateCase.region_code),
    records (人次) where they are insured. Kept exact like community_figures."""

    __table__ = Table(
        "duplicate_figures",
        db.metadata,
        Column("year", SmallInteger, primary_key=True),
        Column("region_code", String(12), primary_key=True),
        Column("refreshed_at", DateTime, nullable=False),
        *(Column(name, Integer, nullable=False, server_default="0") for name in FIGURES),
    )
