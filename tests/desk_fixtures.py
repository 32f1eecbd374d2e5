"""Fixtures of the desk tests: files, grid workers, proposed closures (pytest_plugins)."""

import itertools

import pytest
from sqlalchemy import select

from portal.accounts.models import Grant, User
from portal.persons.idnumbers import birth_date, check_character, sex
from portal.persons.models import Person, PersonFile
from portal.visits.models import Visit
from tests.desk_helpers import XINGFU, YEAR, Made
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
        n = next(numbers)
        first17 = f"320923{19800101 + n % 28:08d}{n:03d}"
        id_number = first17 + check_character(first17)
        with database(app) as session:
            person = Person(
                id_number=id_number,
                name=name or f"测试{n:03d}",
                sex=sex(id_number),
                birth_date=birth_date(id_number),
                region_code=region,
                insured_status="uninsured",
                key_populations=key_populations,
            )
            session.add(person)
            session.flush()
            assignee_id = None
            if assignee:
                assignee_id = session.scalar(select(User.id).where(User.username == assignee))
            file = PersonFile(
                person_id=person.id,
                region_code=region,
                year=YEAR,
                file_number=f"T-{region}-{person.id}",
                state=state,
                assignee_id=assignee_id,
                reason_code=reason,
                due_date=due,
            )
            session.add(file)
            session.flush()
            return Made(file.id, person.id, id_number)

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

    def _make(region=XINGFU, outcome="deceased", reason="deceased", note="家属告知已去世"):
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
            return made, visit.id

    return _make
