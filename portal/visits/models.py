"""One visit of a grid worker to a person, and the review of the closure it may propose."""

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.persons.models import BigId
from portal.timeutil import utcnow


class Visit(db.Model):
    __tablename__ = "visit"
    __table_args__ = (
        # A submit retried by a flaky network or a double tap carries the same key: one visit.
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_visit_file_at", "file_id", "at"),
        Index("ix_visit_user_at", "user_id", "at"),
        # The review queue: pending proposals of a region.
        Index("ix_visit_region_review", "region_code", "review_state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int] = mapped_column(BigId)  # no FK: see PersonFile.person_id
    person_id: Mapped[int] = mapped_column(BigId)
    region_code: Mapped[str] = mapped_column(String(12))  # the file's community: the scope
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(24))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    idempotency_key: Mapped[str] = mapped_column(String(36))
    # A closing outcome is a proposal: pending → approved / returned by a supervisor.
    review_state: Mapped[str | None] = mapped_column(String(16))
    reviewer_id: Mapped[int | None] = mapped_column(Integer)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    review_comment: Mapped[str | None] = mapped_column(String(500))
    # The worker helped the person activate the medical-insurance e-credential on this visit.
    activated_e_credential: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Approved without the evidence its outcome requires: the reviewer's reason (豁免原因,
    # visits/evidence_rules.py).
    evidence_waiver: Mapped[str | None] = mapped_column(String(500))


class VisitEvidence(db.Model):
    """One image (a photo or scan) attached to a visit: a death certificate, a screenshot of an
    insurance record elsewhere… (portal/visits/evidence.py).

    The image itself is in the file store (portal/storage) under ``storage_key``, re-encoded
    as JPEG without metadata; its thumbnail under the same key with ``-thumb`` before the
    suffix. While the worker is still filling in the form the row is pending: ``visit_id`` is
    NULL and ``form_key`` is the form's idempotency key (the hidden field that links it).
    Attached evidence is kept as long as the visit, i.e. the file's history: the retention of
    uploads (`portal files purge`) does not touch it; pending rows never attached are purged.
    """

    __tablename__ = "visit_evidence"
    __table_args__ = (
        Index("ix_visit_evidence_visit", "visit_id"),
        # The pending uploads of one form: (uploader, idempotency key).
        Index("ix_visit_evidence_pending", "uploaded_by_id", "form_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visit_id: Mapped[int | None] = mapped_column(BigId)  # NULL while pending
    file_id: Mapped[int] = mapped_column(BigId, index=True)  # no FK: see PersonFile.person_id
    region_code: Mapped[str] = mapped_column(String(12))  # the file's community: the scope
    form_key: Mapped[str | None] = mapped_column(String(36))
    storage_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
