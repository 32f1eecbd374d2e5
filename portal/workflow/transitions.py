"""Every allowed transition of an uninsured file, and who may make it.

States are in portal/persons/codes.py. Views and services never set `PersonFile.state` on their
own: one file moves through `perform`, and set-based work (bulk assignment, the comparison) takes
its source states from `sources(action)` and its target from the row (`target_for`), so this
table is the only place that says what may happen to a file. The comparison's rows
(by_comparison) open a file where there is none (the source NO_FILE), confirm enrollment, reopen
a file the comparison closed when the coverage lapses, carry an open file of an earlier year into
the year compared and bring a declined one back for the new collection period.

Who may act is a permissions/ action checked for the file's region; a grid worker's grants hold
it only for files assigned to them.
"""

from dataclasses import dataclass

from permissions import ANY, ASSIGNED, can
from portal.extensions import db
from portal.persons.codes import FILE_STATE_LABELS, OPEN_FILE_STATES
from portal.persons.models import PersonChange, PersonFile

# The source "state" of opening a file: the person has no file for the year.
NO_FILE = None


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[str | None]
    target: str | None  # None: the state is kept (a reassignment, a carry-over)
    permission: str  # the permissions/ action the actor must hold in the file's region
    by_comparison: bool = False  # made by the comparison job, never from a page
    # The state instead of `target` when the file has an assignee: a file the comparison
    # reopens or brings back goes to its worker (待走访), else to the pool (待分配).
    target_if_assigned: str | None = None

    def target_for(self, assignee_id) -> str | None:
        if assignee_id is not None and self.target_if_assigned is not None:
            return self.target_if_assigned
        return self.target


def _states(*codes: str) -> frozenset[str]:
    return frozenset(codes)


_VISITABLE = _states("assigned", "following", "declined")

TRANSITIONS: tuple[Transition, ...] = (
    Transition("assign", "分配", _states("unassigned"), "assigned", "file.assign"),
    Transition(
        "reassign",
        "改派",
        _states("assigned", "following", "pending_confirmation", "pending_review", "declined"),
        None,
        "file.assign",
    ),
    Transition(
        "unassign",
        "收回待分配",
        _states("assigned", "following", "declined"),
        "unassigned",
        "file.assign",
    ),
    Transition(
        "follow_up",
        "走访（继续跟进）",
        _VISITABLE | {"pending_confirmation"},
        "following",
        "visit.record",
    ),
    Transition("decline", "走访（拒绝参保）", _VISITABLE, "declined", "visit.record"),
    Transition(
        "report_paid",
        "走访（已缴费/已参保，待比对确认）",
        _VISITABLE,
        "pending_confirmation",
        "visit.record",
    ),
    Transition("propose_close", "提出核销", _VISITABLE, "pending_review", "visit.propose_close"),
    Transition(
        "approve_close", "审核通过（核销）", _states("pending_review"), "exempt", "file.review"
    ),
    Transition(
        "return_close", "退回重新走访", _states("pending_review"), "following", "file.review"
    ),
    Transition(
        "open",
        "比对新建档案",
        frozenset({NO_FILE}),
        "unassigned",
        "comparison.run",
        by_comparison=True,
    ),
    Transition(
        "confirm_enrolled",
        "比对确认已参保",
        frozenset(OPEN_FILE_STATES),
        "enrolled",
        "comparison.run",
        by_comparison=True,
    ),
    # A file the comparison closed as enrolled, whose coverage lapsed within the year.
    Transition(
        "reopen",
        "比对重新打开（参保中断）",
        _states("enrolled"),
        "unassigned",
        "comparison.run",
        by_comparison=True,
        target_if_assigned="assigned",
    ),
    # An open file of an earlier year, into the year compared: state, assignee and history kept.
    Transition(
        "carry_over",
        "结转至新参保年度",
        frozenset(OPEN_FILE_STATES) - {"declined"},
        None,
        "comparison.run",
        by_comparison=True,
    ),
    # A person who declined comes back in the next collection period.
    Transition(
        "return_declined",
        "新征缴期重新走访（曾拒绝参保）",
        _states("declined"),
        "unassigned",
        "comparison.run",
        by_comparison=True,
        target_if_assigned="assigned",
    ),
)
BY_ACTION = {t.action: t for t in TRANSITIONS}


class TransitionRefused(Exception):
    """A transition that is not allowed, with a Chinese message for the user."""


def sources(action: str) -> frozenset[str | None]:
    return BY_ACTION[action].sources


def may(actor, file: PersonFile, action: str) -> bool:
    """May `actor` make `action` on `file` now (its state and the actor's grants)?"""
    transition = BY_ACTION[action]
    if file.state not in transition.sources:
        return False
    obj = ASSIGNED if file.assignee_id is not None and file.assignee_id == actor.id else ANY
    return can(actor, transition.permission, file.region_code, obj)


def refusal(actor, file: PersonFile, action: str) -> str | None:
    """Why `action` is refused (Chinese), or None when it is allowed."""
    transition = BY_ACTION[action]
    if file.state not in transition.sources:
        state = FILE_STATE_LABELS.get(file.state, file.state)
        return f"档案当前状态为“{state}”，不能{transition.label}。"
    if not may(actor, file, action):
        return f"您无权对该档案{transition.label}。"
    return None


def perform(
    actor,
    file: PersonFile,
    action: str,
    *,
    cause: str,
    changes: dict | None = None,
    batch_id: int | None = None,
) -> PersonChange:
    """Move one file (no commit): check, set the state, record the change in the history.

    `changes` are further fields already set by the caller, as {field: [old, new]}.
    """
    message = refusal(actor, file, action)
    if message:
        raise TransitionRefused(message)
    target = BY_ACTION[action].target_for(file.assignee_id)
    recorded = dict(changes or {})
    if target is not None and target != file.state:
        recorded["file_state"] = [file.state, target]
        file.state = target
    entry = PersonChange(
        person_id=file.person_id,
        region_code=file.region_code,
        user_id=actor.id,
        cause=cause,
        batch_id=batch_id,
        changes=recorded,
    )
    db.session.add(entry)
    return entry
