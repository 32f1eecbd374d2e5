"""The four-eyes decision on a duplicate-enrollment case (重复参保): who sees which case and which
of its records, who may propose, who may confirm, and what a confirmed decision changes.

Visibility. A case is in the worklist of every region holding one of its records: the actor's
`duplicate.handle` scope applied to duplicate_member.region_code (the record's insured place).
The actor's own side is the records whose insured place lies in that scope: those are shown in
full (masked as usual); of the other side's records the actor learns the region and the scheme,
nothing else (the views never load those enrollment rows).

Four eyes. A decision (keep / terminate / suspend per record, with a reason) or "not a duplicate"
(非重复) is proposed by a user holding one of the records and takes effect only when a second user
confirms it: not the proposer, and either holding a record the proposer's region does not hold
(the other side) or holding every record of the case (a level above both sides; a colleague when
all records lie in one region). The same user may return (退回) the proposal with a comment: the
records stay untouched and the case is open again. `confirm_refusal` is that rule, in one place.

Applying. A confirmed decision sets each record's status (terminated / suspended; a kept record
stays as it is), marks it (handled_case_id, handled_action, handled_at, status_before: never
deleted), records the members' actions, resolves the case, writes the person's history and
refreshes the duplicate figures, in the request's one transaction. "Not a duplicate" changes no
record.

Two users at once. Every form carries the case version it showed; DuplicateCase.version is the
mapper's version_id_col, and the case row is flushed first (its UPDATE … WHERE version = ? takes
the row lock): the loser's flush matches no row, its transaction rolls back whole, and it is told
what the winner did (`DecisionConflict`). Nothing is applied twice.
"""

from dataclasses import dataclass

from flask import abort
from sqlalchemy import case as sql_case
from sqlalchemy import exists, select
from sqlalchemy.orm.exc import StaleDataError

from permissions import Scope, scope_for
from portal.accounts.models import User
from portal.audit import operations as audit
from portal.duplicates.models import (
    ACTION_LABELS,
    KIND_LABELS,
    DuplicateCase,
    DuplicateMember,
)
from portal.extensions import db
from portal.masking import mask_id_number
from portal.persons import codes as person_codes
from portal.persons.models import Enrollment, Person, PersonChange
from portal.regions import codes as region_codes
from portal.regions.models import Region
from portal.timeutil import format_local, utcnow

ACTION = "duplicate.handle"
REASON_MAX = 500
ACTIONS = tuple(ACTION_LABELS)
# The worklist's states: the case's state, with an open case split by whether a proposal waits.
STAGES = (
    ("pending", "待处理"),
    ("awaiting", "待确认"),
    ("resolved", "已处理"),
    ("not_duplicate", "非重复"),
)
STAGE_LABELS = dict(STAGES)
# The worklist's state filter: the stages, and every open case (the dashboard's 待处理 links).
STAGE_FILTERS = (("open", "未办结（待处理和待确认）"), *STAGES)
PROPOSALS = {"decide": "处理意见", "not_duplicate": "非重复参保"}
# The case page's history (its audit events), step by step.
HISTORY_LABELS = {
    "duplicate.propose": "提出意见",
    "duplicate.confirm": "确认",
    "duplicate.return": "退回",
    "duplicate.withdraw": "撤回意见",
}
STATUS_AFTER = {"terminate": "terminated", "suspend": "suspended"}


class DecisionRefused(Exception):
    """The actor may not do this, or the input is incomplete: the message says why (Chinese)."""


class DecisionConflict(Exception):
    """Someone else changed the case first: the message says what they did (Chinese)."""


# --- reading ----------------------------------------------------------------------------------


def handle_scope(actor) -> Scope:
    return scope_for(actor, ACTION)


def visible_condition(scope: Scope, region_prefix: str | None = None):
    """Cases holding a record in the scope (and, with a prefix, in that region)."""
    condition = scope.clause(DuplicateMember.region_code)
    member = select(DuplicateMember.case_id).where(
        DuplicateMember.case_id == DuplicateCase.id, condition
    )
    if region_prefix:
        member = member.where(
            DuplicateMember.region_code.between(*region_codes.subtree_bounds(region_prefix))
        )
    return exists(member)


@dataclass(frozen=True)
class Filters:
    year: int
    stage: str = ""
    kind: str = ""
    region_prefix: str = ""  # a region of the actor's scope, as its prefix


def stage_condition(stage: str):
    if stage == "open":
        return DuplicateCase.state == "open"
    if stage == "pending":
        return (DuplicateCase.state == "open") & DuplicateCase.proposed_by_id.is_(None)
    if stage == "awaiting":
        return (DuplicateCase.state == "open") & DuplicateCase.proposed_by_id.is_not(None)
    return DuplicateCase.state == stage


def worklist_query(actor, filters: Filters):
    """The actor's cases of the year: awaiting confirmation first, then open, then the rest."""
    scope = handle_scope(actor)
    query = select(DuplicateCase).where(
        DuplicateCase.year == filters.year,
        visible_condition(scope, filters.region_prefix or None),
    )
    if filters.stage in dict(STAGE_FILTERS):
        query = query.where(stage_condition(filters.stage))
    if filters.kind in KIND_LABELS:
        query = query.where(DuplicateCase.kind == filters.kind)
    order = sql_case((stage_condition("awaiting"), 0), (stage_condition("pending"), 1), else_=2)
    return query.order_by(order, DuplicateCase.id.desc())


def get_case_or_404(case_id: int, actor) -> DuplicateCase:
    """One case holding a record in the actor's scope; else 404 (and a rate-limited audit)."""
    found = db.session.scalar(
        select(DuplicateCase).where(
            DuplicateCase.id == case_id, visible_condition(handle_scope(actor))
        )
    )
    if found is None:
        audit.denied("duplicate_case", case_id, actor=actor)
        abort(404)
    return found


def members_of(case_ids) -> dict[int, list[DuplicateMember]]:
    """The member records of some cases (one query), in a stable order."""
    ids = list({int(i) for i in case_ids})
    result: dict[int, list[DuplicateMember]] = {i: [] for i in ids}
    if not ids:
        return result
    rows = db.session.scalars(
        select(DuplicateMember)
        .where(DuplicateMember.case_id.in_(ids))
        .order_by(
            DuplicateMember.case_id, DuplicateMember.region_code, DuplicateMember.enrollment_id
        )
    )
    for member in rows:
        result[member.case_id].append(member)
    return result


def stage_of(case: DuplicateCase) -> str:
    if case.state == "open":
        return "awaiting" if case.proposed_by_id else "pending"
    return case.state


def proposal_kind(case: DuplicateCase, members: list[DuplicateMember]) -> str | None:
    """The waiting proposal: 'decide', 'not_duplicate' (every record kept), or None."""
    if case.state != "open" or not case.proposed_by_id:
        return None
    if all(m.proposed_action == "keep" for m in members):
        return "not_duplicate"
    return "decide"


def own_members(scope: Scope, members: list[DuplicateMember]) -> list[DuplicateMember]:
    return [m for m in members if scope.contains(m.region_code)]


def _prefix_of(code: str | None) -> str | None:
    """The prefix of a region code (its level from the region table), for the proposer's side."""
    if not code:
        return None
    region = db.session.get(Region, code)
    return region.prefix if region is not None else code


def _proposer_side(actor, scope: Scope, members: list[DuplicateMember]) -> str:
    """The region the proposer acts for: the highest of the actor's grants holding a record."""
    own = own_members(scope, members)
    prefixes = sorted(
        (p for p in scope.prefixes if any(m.region_code.startswith(p) for m in own)), key=len
    )
    return region_codes.pad(prefixes[0]) if prefixes else actor.region_code


def confirm_refusal(actor, case: DuplicateCase, members: list[DuplicateMember]) -> str | None:
    """Why the actor may not confirm (or return) the waiting proposal; None when they may.

    The second user is not the proposer and holds a record the proposer's region does not hold
    (the other side), or holds every record of the case (a level above both)."""
    if case.state != "open" or not case.proposed_by_id:
        return "该案件没有待确认的处理意见。"
    if case.proposed_by_id == actor.id:
        return "不能确认或退回自己提出的处理意见：须由对方区划或共同上级的另一位用户确认。"
    scope = handle_scope(actor)
    mine = own_members(scope, members)
    if not mine:
        return "您所在区划没有该案件的参保记录。"
    side = _prefix_of(case.proposer_region_code) or ""
    others = [m for m in members if not (side and m.region_code.startswith(side))]
    if any(m in mine for m in others) or len(mine) == len(members):
        return None
    return "该处理意见由本区划提出，须由对方区划或共同上级的用户确认。"


def propose_refusal(actor, case: DuplicateCase, members: list[DuplicateMember]) -> str | None:
    if case.state != "open":
        return "该案件已办结，不能再提出处理意见。"
    if case.proposed_by_id:
        return "该案件已有待确认的处理意见，请先确认或退回。"
    if not own_members(handle_scope(actor), members):
        return "您所在区划没有该案件的参保记录，不能提出处理意见。"
    return None


def suggested_actions(case: DuplicateCase, members: list[DuplicateMember]) -> dict[int, str]:
    """The form's defaults: a waiting proposal's actions, else the recommendation's (keep the
    recommended record; the others terminated, or suspended where the rule suspends)."""
    if any(m.proposed_action for m in members):
        return {m.enrollment_id: m.proposed_action or "" for m in members}
    if not case.recommended_id:
        return {m.enrollment_id: "" for m in members}
    other = "suspend" if _rule_suspends(case) else "terminate"
    return {
        m.enrollment_id: "keep" if m.enrollment_id == case.recommended_id else other
        for m in members
    }


def _rule_suspends(case: DuplicateCase) -> bool:
    """Does the case's rule suspend (暂停) rather than terminate the other records?"""
    from portal.duplicates.rules import RULE_BY_CODE

    rule = RULE_BY_CODE.get(case.rule or "")
    return rule is not None and rule.others == "suspend"


# --- writing ----------------------------------------------------------------------------------


def _check_version(case: DuplicateCase, version) -> None:
    try:
        shown = int(version)
    except (TypeError, ValueError):
        shown = None
    if shown != case.version:
        raise DecisionConflict(outcome_text(case))


def _clean_reason(text: str | None, empty: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DecisionRefused(empty)
    if len(text) > REASON_MAX:
        raise DecisionRefused(f"内容不能超过{REASON_MAX}字。")
    return text


def _flush_case(case: DuplicateCase) -> None:
    """Write the case row first, alone: its versioned UPDATE is where two users meet. The loser's
    transaction is rolled back (nothing of it may stay) and told what the winner did."""
    case_id = case.id
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        fresh = db.session.get(DuplicateCase, case_id, populate_existing=True)
        raise DecisionConflict(outcome_text(fresh)) from None


def propose(
    actor,
    case: DuplicateCase,
    members: list[DuplicateMember],
    actions: dict[int, str],
    reason: str,
    *,
    version,
) -> None:
    """Propose a decision: one action per record (at least one kept, at least one terminated
    or suspended) and a reason."""
    _check_version(case, version)
    refusal = propose_refusal(actor, case, members)
    if refusal:
        raise DecisionRefused(refusal)
    chosen = {m.enrollment_id: actions.get(m.enrollment_id) or "" for m in members}
    if any(action not in ACTIONS for action in chosen.values()):
        raise DecisionRefused("请为每条参保记录选择处理方式（保留、终止或暂停）。")
    if "keep" not in chosen.values():
        raise DecisionRefused("至少保留一条参保记录。")
    if set(chosen.values()) == {"keep"}:
        raise DecisionRefused(
            "没有终止或暂停任何参保记录：如不属于重复参保，请选择“认定为非重复参保”。"
        )
    reason = _clean_reason(reason, "请填写处理理由。")
    _write_proposal(actor, case, members, chosen, reason, "decide")


def propose_not_duplicate(
    actor, case: DuplicateCase, members: list[DuplicateMember], reason: str, *, version
) -> None:
    """Propose that the records are not a duplicate (every record kept as it is)."""
    _check_version(case, version)
    refusal = propose_refusal(actor, case, members)
    if refusal:
        raise DecisionRefused(refusal)
    reason = _clean_reason(reason, "请填写认定为非重复参保的理由。")
    kept = {m.enrollment_id: "keep" for m in members}
    _write_proposal(actor, case, members, kept, reason, "not_duplicate")


def _write_proposal(actor, case, members, chosen, reason, kind) -> None:
    scope = handle_scope(actor)
    case.proposed_by_id = actor.id
    case.proposed_at = utcnow()
    case.proposal_reason = reason
    case.proposer_region_code = _proposer_side(actor, scope, members)
    case.decision_comment = None
    _flush_case(case)
    for member in members:
        member.proposed_action = chosen[member.enrollment_id]
    _audit(actor, "duplicate.propose", case, members, proposal=kind, reason=reason)
    db.session.flush()


def confirm(
    actor, case: DuplicateCase, members: list[DuplicateMember], *, version, comment: str = ""
) -> str:
    """Confirm the waiting proposal and apply it; returns what was confirmed ('decide' or
    'not_duplicate')."""
    _check_version(case, version)
    refusal = confirm_refusal(actor, case, members)
    if refusal:
        raise DecisionRefused(refusal)
    comment = (comment or "").strip()
    if len(comment) > REASON_MAX:
        raise DecisionRefused(f"意见不能超过{REASON_MAX}字。")
    kind = proposal_kind(case, members)
    now = utcnow()
    case.state = "not_duplicate" if kind == "not_duplicate" else "resolved"
    case.decided_by_id = actor.id
    case.decided_at = now
    case.decision_comment = comment or None
    _flush_case(case)
    for member in members:
        member.action = member.proposed_action
    if kind == "decide":
        _apply(case, members, now, actor)
    _audit(actor, "duplicate.confirm", case, members, proposal=kind, comment=comment or None)
    db.session.flush()
    _refresh_figures(case, members)
    return kind


def _apply(case, members, now, actor) -> None:
    """Set and mark each record (never deleted) and note it in the person's history."""
    ids = [m.enrollment_id for m in members]
    records = {
        e.id: e
        for e in db.session.scalars(
            select(Enrollment).where(Enrollment.id.in_(ids)).with_for_update()
        )
    }
    before, after = [], []
    names = _region_names({m.region_code for m in members})
    for member in members:
        record = records.get(member.enrollment_id)
        if record is None:
            continue
        scheme = person_codes.SCHEME_LABELS.get(record.scheme, record.scheme)
        label = f"{scheme}（{names.get(record.region_code, record.region_code)}）"
        old = record.status
        record.status_before = old
        record.handled_case_id = case.id
        record.handled_action = member.action
        record.handled_at = now
        record.status = STATUS_AFTER.get(member.action, old)
        status = person_codes.ENROLLMENT_STATUS_LABELS
        before.append(f"{label}{status.get(old, old)}")
        after.append(
            f"{label}{status.get(record.status, record.status)}"
            f"（{ACTION_LABELS.get(member.action, member.action)}）"
        )
    person = _person_of(case)
    if person is not None:
        db.session.add(
            PersonChange(
                person_id=person.id,
                region_code=person.region_code,
                at=now,
                user_id=actor.id,
                cause="duplicate",
                batch_id=None,
                changes={
                    "duplicate_enrollments": [
                        f"案件 #{case.id}：" + "；".join(before),
                        f"案件 #{case.id}：" + "；".join(after),
                    ]
                },
            )
        )


def _person_of(case: DuplicateCase) -> Person | None:
    if case.person_id:
        person = db.session.get(Person, case.person_id)
        if person is not None:
            return person
    return db.session.scalar(select(Person).where(Person.id_number == case.id_number))


def return_proposal(
    actor, case: DuplicateCase, members: list[DuplicateMember], comment: str, *, version
) -> None:
    """Send the waiting proposal back with a comment: no record changes, the case is open."""
    _check_version(case, version)
    refusal = confirm_refusal(actor, case, members)
    if refusal:
        raise DecisionRefused(refusal)
    comment = _clean_reason(comment, "退回时请填写意见。")
    kind = proposal_kind(case, members)
    case.proposed_by_id = None
    case.proposed_at = None
    case.proposal_reason = None
    case.proposer_region_code = None
    case.decided_by_id = actor.id
    case.decided_at = utcnow()
    case.decision_comment = comment
    _flush_case(case)
    for member in members:
        member.proposed_action = None
    _audit(actor, "duplicate.return", case, members, proposal=kind, comment=comment)
    db.session.flush()


def withdraw_refusal(actor, case: DuplicateCase) -> str | None:
    """Why the actor may not withdraw the waiting proposal; None when they may (its proposer,
    while nobody has confirmed or returned it)."""
    if case.state != "open" or not case.proposed_by_id:
        return "该案件没有待确认的处理意见。"
    if case.proposed_by_id != actor.id:
        return "只有提出人可以撤回处理意见。"
    return None


def withdraw_proposal(actor, case: DuplicateCase, members: list[DuplicateMember], *, version):
    """The proposer takes the waiting proposal back: no record changes, the case is open for a
    new proposal by either side."""
    _check_version(case, version)
    refusal = withdraw_refusal(actor, case)
    if refusal:
        raise DecisionRefused(refusal)
    kind = proposal_kind(case, members)
    reason = case.proposal_reason
    case.proposed_by_id = None
    case.proposed_at = None
    case.proposal_reason = None
    case.proposer_region_code = None
    _flush_case(case)
    for member in members:
        member.proposed_action = None
    _audit(actor, "duplicate.withdraw", case, members, proposal=kind, reason=reason)
    db.session.flush()


def _refresh_figures(case: DuplicateCase, members: list[DuplicateMember]) -> None:
    from portal.duplicates import figures

    codes = {case.region_code} | {m.region_code for m in members}
    figures.refresh(db.session.connection(), case.year, sorted(codes))


# --- words ------------------------------------------------------------------------------------


def _region_names(codes) -> dict[str, str]:
    from portal.persons.queries import region_names

    return region_names(set(codes))


def _user_name(user_id: int | None) -> str:
    if not user_id:
        return "系统"
    user = db.session.get(User, user_id)
    return user.display_name if user is not None else f"用户 #{user_id}"


def outcome_text(case: DuplicateCase | None) -> str:
    """What happened to the case, for the user whose step came too late (Chinese)."""
    tail = "您的操作未执行，请查看案件的最新情况。"
    if case is None:
        return "该案件已不存在。" + tail
    members = members_of([case.id])[case.id]
    if case.state == "resolved":
        what = f"已由{_user_name(case.decided_by_id)}于{format_local(case.decided_at)}确认处理"
        names = _region_names({m.region_code for m in members})
        done = "，".join(
            f"{person_codes.SCHEME_LABELS.get(m.scheme, m.scheme)}（"
            f"{names.get(m.region_code, m.region_code)}）{ACTION_LABELS.get(m.action, '—')}"
            for m in members
        )
        return f"该案件{what}：{done}。{tail}"
    if case.state == "not_duplicate":
        who = _user_name(case.decided_by_id)
        return f"该案件已由{who}于{format_local(case.decided_at)}确认为非重复参保。{tail}"
    if case.proposed_by_id:
        who = _user_name(case.proposed_by_id)
        kind = PROPOSALS[proposal_kind(case, members) or "decide"]
        return f"{who}已于{format_local(case.proposed_at)}提出{kind}，等待确认。{tail}"
    if case.decided_by_id and case.decision_comment:
        who = _user_name(case.decided_by_id)
        return (
            f"上一处理意见已由{who}于{format_local(case.decided_at)}退回："
            f"{case.decision_comment}。{tail}"
        )
    return "该案件刚刚已被他人更新。" + tail


def _common_region(codes) -> str | None:
    """The smallest region holding every code (the auditors of that region see the event)."""
    codes = [c for c in codes if c]
    if not codes:
        return None
    for level in (5, 4, 3, 2, 1):
        length = region_codes.PREFIX_LENGTH[level]
        prefixes = {c[:length] for c in codes}
        if len(prefixes) == 1:
            return region_codes.pad(prefixes.pop())
    return None


def _audit(actor, action, case, members, **detail) -> None:
    by_action: dict[str, list[int]] = {}
    for member in members:
        chosen = member.action if action == "duplicate.confirm" else member.proposed_action
        if action == "duplicate.return":
            chosen = None
        if chosen:
            by_action.setdefault(chosen, []).append(member.enrollment_id)
    audit.record(
        action,
        actor=actor,
        target_type="duplicate_case",
        target_id=case.id,
        target_label=f"{case.year}年度 {mask_id_number(case.id_number)}",
        region_code=_common_region([m.region_code for m in members]) or case.region_code,
        detail={
            "year": case.year,
            "duplicate_kind": case.kind,
            **{k: v for k, v in detail.items() if v is not None},
            **({a: by_action[a] for a in ACTIONS if a in by_action}),
        },
    )


def record_conflict(actor, action: str, case: DuplicateCase) -> None:
    """A step that came too late (another user's came first): audited as a failure."""
    audit.record(
        action,
        "failure",
        actor=actor,
        target_type="duplicate_case",
        target_id=case.id,
        target_label=f"{case.year}年度 {mask_id_number(case.id_number)}",
        region_code=_common_region([m.region_code for m in members_of([case.id])[case.id]])
        or case.region_code,
        detail={"year": case.year, "conflict": True},
    )
