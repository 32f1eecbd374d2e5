"""Fixtures of the desk tests: files, grid workers, proposed closures (pytest_plugins)."""

import itertools

import pytest
from sqlalchemy import select

from portal.accounts.models import Grant, User
from portal.visits.models import Visit
from tests.desk_helpers import XINGFU, Made
from tests.evidence_helpers import attach_evidence
from tests.factories import create_task
from tests.helpers import database


@pytest.fixture
def make_file(app):
    """make_file(region, state, assignee username, key_populations=, reason=, due=) → Made."""
    numbers = itertools.count(1)

    def _make(
        region=XINGFU,
        state="unassigned",
        assignee=None,
        *,
        key_populations=0,
        reason=None,
        due=None,
        name=None,
    ):
        task = create_task(
            app,
            name or f"测试{next(numbers):03d}",
            assignee=assignee,
            region=region,
            state=state,
            key_populations=key_populations,
            reason_code=reason,
            due_date=due,
        )
        return Made(task.file_id, task.person_id, task.id_number)

    return _make


@pytest.fixture
def make_worker(app):
    """make_worker(username, *communities, active=True) → the new grid worker's id."""

    def _make(username, *communities, active=True):
        with database(app) as session:
            worker = User(
                username=username,
                display_name=f"{username}网格员",
                region_code=communities[0],
                password_hash="x",
                must_change_password=False,
                active=active,
            )
            for code in communities:
                worker.grants.append(Grant(role="grid_worker", region_code=code))
            session.add(worker)
            session.flush()
            return worker.id

    return _make


@pytest.fixture
def make_proposal(app, make_file):
    """A closure proposed by fc_grid1 (file pending review, visit pending) → (Made, visit id)."""

    def _make(
        region=XINGFU, outcome="deceased", reason="deceased", note="家属告知已去世", evidence=1
    ):
        """evidence: how many images the proposal carries (a required-evidence outcome
        without any needs a waiver reason to be approved)."""
        made = make_file(region, "pending_review", "fc_grid1")
        with database(app) as session:
            worker = session.scalar(select(User.id).where(User.username == "fc_grid1"))
            visit = Visit(
                file_id=made.file_id,
                person_id=made.person_id,
                region_code=region,
                user_id=worker,
                method="in_person",
                outcome=outcome,
                reason_code=reason,
                note=note,
                idempotency_key=f"k-{made.file_id}",
                review_state="pending",
            )
            session.add(visit)
            session.flush()
            if evidence:
                attach_evidence(
                    session,
                    visit_id=visit.id,
                    file_id=made.file_id,
                    region=region,
                    user_id=worker,
                    count=evidence,
                )
            return made, visit.id

    return _make
