"""The person file (一人一档): persons, their uninsured files, enrollments and change history.

Every large table carries the region code it is scoped by (`region_code`, 12 digits) so that it can
be filtered by `permissions.scope_for(...).clause(Model.region_code)` and partitioned by city later.
"""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

# 64-bit keys on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Person(db.Model):
    """One person of the whole-population file, keyed by the normalised 18-character ID."""

    __tablename__ = "person"
    # Half of each page left free: the comparison's status update of every person stays HOT
    # (heap-only, no index entries); see migration 0006.
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(1))  # GB/T 2261.1: 1 male, 2 female
    birth_date: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20))
    # The community that manages the file (residence); the scope column.
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    hukou_region_code: Mapped[str | None] = mapped_column(String(12))
    address: Mapped[str | None] = mapped_column(String(200))
    in_register: Mapped[bool] = mapped_column(Boolean, default=False)
    in_resident_list: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    key_populations: Mapped[int] = mapped_column(Integer, default=0)  # bit mask, see codes.py
    e_credential: Mapped[bool] = mapped_column(Boolean, default=False)
    insured_status: Mapped[str] = mapped_column(String(16), default="unknown")
    insured_scheme: Mapped[str | None] = mapped_column(String(16))
    insured_region_code: Mapped[str | None] = mapped_column(String(12))
    # Out of the population that must be insured (应参保人员) since an approved closure: deceased,
    # abroad or other_scheme (persons/codes.EXCLUSION_REASONS). No new file in a later year and
    # out of the coverage denominator until a later list shows otherwise.
    excluded_reason: Mapped[str | None] = mapped_column(String(16))
    excluded_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The import batch that created the person (no FK: bulk table). The history shows the
    # creation from it rather than from a million "created" rows written by one import.
    created_batch_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    files: Mapped[list["PersonFile"]] = relationship(
        back_populates="person",
        order_by="PersonFile.year.desc()",
        primaryjoin="Person.id == foreign(PersonFile.person_id)",
    )


class PersonFile(db.Model):
    """The uninsured file of one person for one insurance year, and its workflow state."""

    __tablename__ = "person_file"
    __table_args__ = (
        UniqueConstraint("person_id", "year"),
        Index("ix_person_file_region_state", "region_code", "state"),
        # The grid worker's task list: their files in the states of work. Assigned files only:
        # the files a comparison opens (a million at once) are all unassigned (migration 0009).
        Index(
            "ix_person_file_assignee_state",
            "assignee_id",
            "state",
            postgresql_where=text("assignee_id IS NOT NULL"),
            sqlite_where=text("assignee_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Looked up by (person_id, year): the unique constraint's index serves it. No foreign-key
    # constraint on the bulk tables: persons are never deleted, the set-based code joins from
    # person, and a per-row FK check makes bulk inserts 3–4× slower (bench/import_household.py).
    person_id: Mapped[int] = mapped_column(BigId)
    region_code: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(SmallInteger)
    # "{year}-{region}-{person id}" (comparisons/operations.py), unique because (person_id,
    # year) is; shown and exported, never looked up: no index of its own (migration 0009).
    file_number: Mapped[str] = mapped_column(String(32))
    file_type: Mapped[str] = mapped_column(String(16), default="uninsured")
    reason_code: Mapped[str | None] = mapped_column(String(32))
    # Whether the person is in a government-paid key population (person.key_populations), copied
    # here because the grid worker's task list sorts by it: reading a thousand persons to order
    # a page of fifty cost more than the rest of the page. Every writer of key_populations calls
    # persons.government_paid.refresh_files in the same transaction.
    government_paid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    filing_flag: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(24), default="unassigned")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    due_date: Mapped[date | None] = mapped_column(Date)  # set by the supervisor when assigning
    follow_up_on: Mapped[date | None] = mapped_column(Date)  # the last visit's next follow-up
    last_visit_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Credited with the conversion when a comparison closes the file (else the assignee).
    last_visitor_id: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The insurance year the file was first opened for, when a later year's comparison carried
    # it over (its `year` is then the later one; the history keeps every step).
    carried_from_year: Mapped[int | None] = mapped_column(SmallInteger)
    # The comparison run that opened the file at the person's first comparison (insured status
    # unknown → uninsured). That run wrote no history row for it: the history shows the change
    # from here (persons/queries.history_of; migration 0010).
    opened_by_run_id: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    close_cause: Mapped[str | None] = mapped_column(String(32))
    closed_by_run_id: Mapped[int | None] = mapped_column(Integer)
    credited_user_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    person: Mapped[Person] = relationship(
        back_populates="files", primaryjoin="Person.id == foreign(PersonFile.person_id)"
    )


class Enrollment(db.Model):
    """One enrollment record (参保记录) from the insured extract."""

    __tablename__ = "enrollment"
    __table_args__ = (
        # Also the index for looking records up by ID number.
        UniqueConstraint("id_number", "scheme", "region_code", "start_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18))
    # The insured place (参保地), padded to 12 digits: the scope column.
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    scheme: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    # The name the extract gives, normalised (often empty: the ID number is the key). A name that
    # differs from the register's is an identity mismatch (身份信息不一致), never a refusal.
    name: Mapped[str | None] = mapped_column(String(64))
    # Who vouches for a record whose insured place lies outside the importing user's scope: the
    # region prefix (Region.prefix) of the importing batch's region. The record counts for a
    # person only when that prefix holds the person's region (a resident insured elsewhere,
    # 异地参保). NULL: imported by an office holding the insured place itself, which counts for
    # whoever the person is.
    vouched_prefix: Mapped[str | None] = mapped_column(String(12))
    batch_id: Mapped[int | None] = mapped_column(Integer)  # the import batch (no FK: bulk table)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # What the duplicate keep-rules read (portal/duplicates/rules.py), where the extract gives it.
    category: Mapped[str | None] = mapped_column(String(16))  # duplicates/codes.CATEGORIES
    employer: Mapped[str | None] = mapped_column(String(100))  # employer or school
    employer_region_code: Mapped[str | None] = mapped_column(String(12))  # 就业地 / 学籍地
    payment_status: Mapped[str | None] = mapped_column(String(16))
    paid_until: Mapped[date | None] = mapped_column(Date)
    continuous_months: Mapped[int | None] = mapped_column(SmallInteger)  # 连续参保月数
    benefits: Mapped[bool | None] = mapped_column(Boolean)  # currently paying benefits (享受待遇)
    # A decided duplicate case's handling of the record: marked, never deleted.
    handled_case_id: Mapped[int | None] = mapped_column(BigId)
    handled_action: Mapped[str | None] = mapped_column(String(16))  # keep / terminate / suspend
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)
    status_before: Mapped[str | None] = mapped_column(String(16))  # its status before handling


class FileMove(db.Model):
    """An open file that followed its person to another community (移入 / 移出)."""

    __tablename__ = "file_move"
    __table_args__ = (
        Index("ix_file_move_to", "to_region_code", "year"),
        Index("ix_file_move_from", "from_region_code", "year"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_id: Mapped[int] = mapped_column(BigId)  # no FK: see PersonFile.person_id
    person_id: Mapped[int] = mapped_column(BigId, index=True)
    year: Mapped[int] = mapped_column(SmallInteger)
    from_region_code: Mapped[str] = mapped_column(String(12))
    to_region_code: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    cause: Mapped[str] = mapped_column(String(16))  # import / edit / comparison
    batch_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    # The assignee before the move, and whether they kept the file (they cover both communities).
    old_assignee_id: Mapped[int | None] = mapped_column(Integer)
    kept_assignee: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PersonChange(db.Model):
    """What changed on a person or file, when, by whom, and what caused it."""

    __tablename__ = "person_change"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigId, index=True)  # no FK: see PersonFile.person_id
    region_code: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(16))  # import / comparison / edit / visit
    batch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # {"field": [old, new], …}
    changes: Mapped[dict] = mapped_column(JSON)
