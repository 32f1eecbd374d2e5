"""Reading the audit trail (auditors only), always through the audit.view scope."""

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import false, select

from permissions import scope_for
from portal.audit.models import AuditEvent
from portal.regions.codes import PREFIX_LENGTH, is_valid_code, subtree_bounds
from portal.timeutil import CHINA

EXPORT_LIMIT = 50_000  # rows of one Excel export


@dataclass
class AuditFilters:
    action: str = ""
    result: str = ""
    username: str = ""
    region: str = ""  # a region code: its events and those of the regions below it
    date_from: date | None = None
    date_to: date | None = None

    def active(self) -> dict:
        """The filters in use, as the export's audit record keeps them (dates as text)."""
        return {k: str(v) for k, v in asdict(self).items() if v}


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time.min) - CHINA


def _prefix(code: str) -> str:
    """The shortest level prefix a padded code keeps (320923000000 → 320923)."""
    for length in sorted(PREFIX_LENGTH.values()):
        if set(code[length:]) <= {"0"}:
            return code[:length]
    return code


def events_query(actor, filters: AuditFilters):
    scope = scope_for(actor, "audit.view")
    query = select(AuditEvent).where(
        scope.clause(AuditEvent.region_code, unplaced_visible_at_top=True)
    )
    if filters.region:
        if is_valid_code(filters.region):
            bounds = subtree_bounds(_prefix(filters.region))
            query = query.where(AuditEvent.region_code.between(*bounds))
        else:
            query = query.where(false())
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.result:
        query = query.where(AuditEvent.result == filters.result)
    if filters.username:
        query = query.where(AuditEvent.actor_username == filters.username.strip().lower())
    if filters.date_from:
        query = query.where(AuditEvent.at >= _utc_start(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEvent.at < _utc_start(filters.date_to) + timedelta(days=1))
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
