"""The transition table of an uninsured file: every allowed transition works for the roles that
may make it, every other one (wrong state, wrong role, someone else's file) is refused.

The expected roles are written out by hand from the policy's intent, not computed from it.
"""

from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.persons.codes import FILE_STATES
from portal.persons.models import PersonChange, PersonFile
from portal.workflow import transitions
from portal.workflow.transitions import TRANSITIONS, TransitionRefused
from tests.factories import XINGFU, create_person
from tests.world import ACTOR

YEAR = date.today().year

ASSIGNERS = {
    "township_supervisor",
    "county_staff",
    "county_admin",
    "city_staff",
    "city_admin",
    "province_staff",
    "province_admin",
}
# Grid workers only on files assigned to them, and supervisors; administrators do no field work.
VISITORS = {"grid_worker", "township_supervisor"}
COMPARERS = ASSIGNERS - {"township_supervisor"}
WHO = {
    "assign": ASSIGNERS,
    "reassign": ASSIGNERS,
    "unassign": ASSIGNERS,
    "follow_up": VISITORS,
    "decline": VISITORS,
    "report_paid": VISITORS,
    "propose_close": VISITORS,
    "approve_close": ASSIGNERS,
    "return_close": ASSIGNERS,
    "confirm_enrolled": COMPARERS,
    "open": COMPARERS,
    "reopen": COMPARERS,
    "carry_over": COMPARERS,
    "return_declined": COMPARERS,
}
EXPECTED_TARGET = {
    "assign": "assigned",
    "unassign": "unassigned",
    "follow_up": "following",
    "decline": "declined",
    "report_paid": "pending_confirmation",
    "propose_close": "pending_review",
    "approve_close": "exempt",
    "return_close": "following",
    "confirm_enrolled": "enrolled",
    "open": "unassigned",
    "reopen": "unassigned",  # "assigned" when the file has an assignee
    "return_declined": "unassigned",  # likewise
}
# The comparison's rows that send a file back to its worker when it has one.
EXPECTED_IF_ASSIGNED = {"reopen": "assigned", "return_declined": "assigned"}
ALLOWED_FROM = {
    "assign": {"unassigned"},
    "reassign": {"assigned", "following", "pending_confirmation", "pending_review", "declined"},
    "unassign": {"assigned", "following", "declined"},
    "follow_up": {"assigned", "following", "declined", "pending_confirmation"},
    "decline": {"assigned", "following", "declined"},
    "report_paid": {"assigned", "following", "declined"},
    "propose_close": {"assigned", "following", "declined"},
    "approve_close": {"pending_review"},
    "return_close": {"pending_review"},
    "confirm_enrolled": {
        "unassigned",
        "assigned",
        "following",
        "pending_confirmation",
        "pending_review",
        "declined",
    },
    "open": {None},  # no file for the year (transitions.NO_FILE)
    "reopen": {"enrolled"},
    "carry_over": {
        "unassigned",
        "assigned",
        "following",
        "pending_confirmation",
        "pending_review",
    },
    "return_declined": {"declined"},
}
STATES = [code for code, _ in FILE_STATES]
ROLES = sorted(ACTOR)


def test_the_table_is_the_one_written_here():
    assert {t.action for t in TRANSITIONS} == set(WHO)
    for t in TRANSITIONS:
        assert set(t.sources) == ALLOWED_FROM[t.action], t.action
        assert t.target == EXPECTED_TARGET.get(t.action), t.action
        assert t.target_if_assigned == EXPECTED_IF_ASSIGNED.get(t.action), t.action
        assert t.by_comparison == (t.permission == "comparison.run"), t.action


@pytest.fixture
def file_of(app):
    """A file in fc_grid1's community, in a given state, assigned to a given user."""
    counter = iter(range(500, 10_000))

    def make(state: str, assignee: str | None = "fc_grid1") -> int:
        made = create_person(
            app, next(counter), "测试", XINGFU, files=[(YEAR, state, assignee, None)]
        )
        with app.app_context():
            return db.session.scalar(select(PersonFile.id).where(PersonFile.person_id == made.id))

    return make


@pytest.mark.parametrize("action", sorted(WHO))
def test_every_role_in_every_state(app, file_of, action):
    # One file per state; every role tries the action on each (rolled back after each try).
    files = {state: file_of(state) for state in STATES}
    for role in ROLES:
        for state, file_id in files.items():
            with app.test_request_context():
                actor = _user(ACTOR[role])
                file = db.session.get(PersonFile, file_id)
                allowed = state in ALLOWED_FROM[action] and role in WHO[action]
                assert transitions.may(actor, file, action) is allowed, (role, state, action)
                if allowed:
                    transitions.perform(actor, file, action, cause="test")
                    expected = EXPECTED_IF_ASSIGNED.get(action) or EXPECTED_TARGET.get(
                        action, state
                    )
                    assert file.state == expected
                    entry = db.session.scalars(
                        select(PersonChange).where(PersonChange.cause == "test")
                    ).one()
                    if expected != state:
                        assert entry.changes["file_state"] == [state, expected]
                    assert entry.user_id == actor.id
                else:
                    with pytest.raises(TransitionRefused) as refused:
                        transitions.perform(actor, file, action, cause="test")
                    assert "不能" in str(refused.value) or "无权" in str(refused.value)
                    assert file.state == state
                db.session.rollback()


def _user(username):
    from portal.accounts.models import User

    return db.session.scalar(select(User).where(User.username == username))


@pytest.mark.parametrize("action", ["follow_up", "decline", "report_paid", "propose_close"])
def test_a_grid_worker_cannot_act_on_a_file_of_their_community_assigned_to_another(
    app, file_of, action
):
    file_id = file_of("assigned", assignee="fc_grid2")  # in fc_grid1's community, not theirs
    with app.test_request_context():
        actor = _user("fc_grid1")
        file = db.session.get(PersonFile, file_id)
        assert transitions.refusal(actor, file, action) == (
            f"您无权对该档案{transitions.BY_ACTION[action].label}。"
        )
        with pytest.raises(TransitionRefused):
            transitions.perform(actor, file, action, cause="test")


def test_a_state_refusal_names_the_current_state(app, file_of):
    file_id = file_of("exempt")
    with app.test_request_context():
        file = db.session.get(PersonFile, file_id)
        message = transitions.refusal(_user("fc_supervisor"), file, "assign")
        assert message == "档案当前状态为“已核销”，不能分配。"
