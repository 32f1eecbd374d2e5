"""Imports every model so that the metadata (migrations, create_all in benchmarks) is complete."""

from portal.accounts.models import Grant, LoginSession, User
from portal.audit.models import AuditEvent
from portal.regions.models import Region

__all__ = ["AuditEvent", "Grant", "LoginSession", "Region", "User"]
