"""重新检测 from the worklist: a full duplicate detection (job kind 'duplicate_detection', run by
portal/duplicates/detect.py) requested by county-and-above staff, and its progress."""

from sqlalchemy import select

from permissions import scope_for
from portal.audit import operations as audit
from portal.extensions import db
from portal.jobs import queue
from portal.jobs.models import STATE_LABELS, Job
from portal.regions import codes as region_codes
from portal.years.selection import parse_year

KIND = "duplicate_detection"
ACTION = "duplicate.handle"
__all__ = ["KIND", "STATE_LABELS", "DetectionRefused", "latest", "request"]


class DetectionRefused(Exception):
    """Why no detection was started (Chinese)."""


def latest(actor) -> Job | None:
    """The newest detection job of the actor's scope (its progress on the worklist)."""
    scope = scope_for(actor, ACTION)
    return db.session.scalar(
        select(Job)
        .where(Job.kind == KIND, scope.clause(Job.region_code))
        .order_by(Job.id.desc())
        .limit(1)
    )


def request(actor, year_value) -> Job:
    """Enqueue a full detection of the year (over every enrollment record: a person's records
    in other counties count too). One at a time: while one waits or runs, none is added."""
    year = parse_year(year_value)
    if year is None:
        raise DetectionRefused("请选择有效的参保年度。")
    scope = scope_for(actor, ACTION)
    if scope.is_empty:
        raise DetectionRefused("您没有发起重复参保检测的权限。")
    running = db.session.scalar(
        select(Job.id).where(Job.kind == KIND, Job.state.in_(("queued", "running"))).limit(1)
    )
    if running is not None:
        raise DetectionRefused("已有重复参保检测正在进行，请稍后查看结果。")
    # The job is filed under the actor's widest region (who may follow it).
    region = region_codes.pad(sorted(scope.prefixes, key=len)[0])
    job = queue.enqueue(KIND, {"year": year, "region_code": None}, region_code=region, user=actor)
    audit.record(
        "duplicate.detect",
        actor=actor,
        target_type="job",
        target_id=job.id,
        region_code=region,
        detail={"year": year, "region": region},
    )
    return job
