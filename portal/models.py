"""Imports every model so that the metadata (migrations, create_all in benchmarks) is complete."""

from portal.accounts.models import Grant, LoginSession, User
from portal.audit.models import AuditEvent
from portal.comparisons.models import ComparisonRun
from portal.duplicates.models import DuplicateCase, DuplicateFigures, DuplicateMember
from portal.imports.models import ColumnMapping, ImportBatch
from portal.jobs.models import Job, ScheduledRun
from portal.notices.models import RankingNotice
from portal.persons.models import Enrollment, Person, PersonChange, PersonFile
from portal.regions.models import Region
from portal.reports.models import ReportEvent, ReportPeriod, ReportSubmission
from portal.stats.models import CommunityActivity, CommunityFigures, DailyFigures
from portal.storage.models import StoredFile, StoredFileChunk
from portal.targets.models import RegionTarget
from portal.visits.models import Visit, VisitEvidence

__all__ = [
    "AuditEvent",
    "ColumnMapping",
    "CommunityActivity",
    "CommunityFigures",
    "ComparisonRun",
    "DailyFigures",
    "DuplicateCase",
    "DuplicateFigures",
    "DuplicateMember",
    "Enrollment",
    "Grant",
    "ImportBatch",
    "Job",
    "LoginSession",
    "Person",
    "PersonChange",
    "PersonFile",
    "RankingNotice",
    "Region",
    "ReportEvent",
    "ReportPeriod",
    "ReportSubmission",
    "RegionTarget",
    "ScheduledRun",
    "StoredFile",
    "StoredFileChunk",
    "User",
    "Visit",
    "VisitEvidence",
]
