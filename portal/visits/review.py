"""The supervisor's review of a proposed closure: approve (the file is closed as exempt) or
send it back to the worker with a comment. Every decision goes into the file's history.

An approved closure for a reason that takes the person out of the population that must be
insured (persons/codes.EXCLUSION_REASONS: deceased, settled abroad, another scheme) marks the
person excluded in the same transaction: no comparison opens a file for them again, and they
leave the coverage denominator, until a later insured record shows otherwise
(comparisons/operations.py clears the mark)."""

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from permissions import scope_for
from portal.audit import operations as audit
from portal.extensions import db
from portal.persons.codes import EXCLUSION_REASON_LABELS
from portal.persons.models import Person, PersonFile
from portal.stats import maintain as stats
from portal.timeutil import utcnow
from portal.visits import evidence, evidence_rules
from portal.visits.models import Visit
from portal.workflow import transitions

DECISIONS = {"approve": ("approve_close", "approved"), "return": ("return_close", "returned")}


class ReviewRefused(Exception):
    """A decision that cannot be made, with a Chinese message."""


# Four eyes (双人复核): whoever proposed a closure cannot approve it; a supervisor who records a
# closing visit themselves needs another reviewer. Returning one's own proposal stays allowed.
OWN_PROPOSAL = "须由他人审核"
OWN_PROPOSAL_REFUSED = "该核销申请由您本人提出，须由他人审核，您不能自行通过。"


def proposed_by(actor, visit: Visit) -> bool:
    """Did `actor` propose this closure (record its visit)?"""
    return visit.user_id == actor.id


def pending_query(actor):
    """Proposals waiting for the actor's review, oldest first, within the file.review scope."""
    scope = scope_for(actor, "file.review")
    return (
        select(Visit)
        .where(Visit.review_state == "pending", scope.clause(Visit.region_code))
        .order_by(Visit.at, Visit.id)
    )


def get_pending_or_404(visit_id: int, actor) -> Visit:
    visit = db.session.scalar(pending_query(actor).where(Visit.id == visit_id).order_by(None))
    if visit is None:
        audit.denied("review", visit_id, actor=actor)
        abort(404)
    return visit


def decide(actor, visit: Visit, decision: str, comment: str = "", waiver: str = "") -> PersonFile:
    """Approve or return one proposal (no commit).

    Approving a proposal whose outcome requires evidence (visits/evidence_rules.py) and has
    none takes a waiver reason (豁免原因): kept on the visit, in the history and the audit."""
    if decision not in DECISIONS:
        raise ReviewRefused("请选择“通过”或“退回”。")
    comment = comment.strip()
    if decision == "return" and not comment:
        raise ReviewRefused("退回时请写明原因，网格员会看到这条意见。")
    action, review_state = DECISIONS[decision]
    if action == "approve_close" and proposed_by(actor, visit):
        raise ReviewRefused(OWN_PROPOSAL_REFUSED)
    images = evidence.count_of(visit.id)
    waiver = waiver.strip()[:500]
    if action != "approve_close" or not evidence_rules.needs_waiver(visit.outcome, images):
        waiver = ""  # returned, or the evidence is there (or not required): nothing to waive
    elif not waiver:
        raise ReviewRefused(evidence_rules.waiver_message(visit.outcome))
    file = db.session.get(PersonFile, visit.file_id)
    message = transitions.refusal(actor, file, action)
    if message:
        raise ReviewRefused(message)
    changes = {"review": [None, review_state]}
    if comment:
        changes["review_comment"] = [None, comment[:500]]
    if waiver:
        changes["evidence_waiver"] = [None, waiver]
    person = None
    if action == "approve_close":
        file.closed_at, file.close_cause = utcnow(), "review"
        if visit.reason_code:
            file.reason_code = visit.reason_code
        if visit.reason_code in EXCLUSION_REASON_LABELS:
            person = db.session.get(Person, file.person_id)
            changes["excluded_reason"] = [person.excluded_reason, visit.reason_code]
    try:
        with db.session.begin_nested():
            transitions.perform(
                actor, file, action, cause="review", changes=changes, batch_id=visit.id
            )
            visit.review_state = review_state
            visit.reviewer_id, visit.reviewed_at = actor.id, utcnow()
            visit.review_comment = comment[:500] or None
            visit.evidence_waiver = waiver or None
            if person is not None:
                person.excluded_reason, person.excluded_at = visit.reason_code, utcnow()
            # UPDATE … WHERE version = <read>: a change committed meanwhile matches nothing.
            db.session.flush()
            stats.refresh(db.session.connection(), community=file.region_code)
    except StaleDataError:
        db.session.rollback()
        raise ReviewRefused("档案刚被其他人修改，请刷新页面后重新审核。") from None
    detail = {"decision": review_state, "outcome": visit.outcome, "worker_id": visit.user_id}
    if comment:
        detail["comment"] = comment[:200]  # masked by the audit writer if it holds a number
    detail["evidence"] = images
    if waiver:
        detail["waiver"] = waiver[:200]
    audit.record(
        "file.review",
        actor=actor,
        target_type="file",
        target_id=file.id,
        target_label=file.file_number,
        region_code=file.region_code,
        detail=detail,
    )
    return file
