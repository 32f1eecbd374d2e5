"""Reading the audit trail (auditors only), always through the audit.view scope."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from permissions import scope_for
from portal.audit.models import AuditEvent
from portal.timeutil import CHINA


@dataclass
class AuditFilters:
    action: str = ""
    result: str = ""
    username: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time.min) - CHINA


def events_query(actor, filters: AuditFilters):
    scope = scope_for(actor, "audit.view")
    query = select(AuditEvent).where(
        scope.clause(AuditEvent.region_code, unplaced_visible_at_top=True)
    )
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
