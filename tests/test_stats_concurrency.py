"""Concurrent visits and a comparison (PostgreSQL): the maintained figures lose or double nothing.

This test commits for real (each thread has its own session and connection), so it runs outside
the per-test transaction and removes what it created afterwards.
"""

import threading
import uuid
from datetime import date

import pytest
from sqlalchemy import bindparam, select, text

from portal.accounts.models import User
from portal.comparisons.operations import compare
from portal.extensions import db
from portal.persons.models import Enrollment, Person, PersonFile
from portal.regions.models import Region
from portal.stats import activity, maintain
from portal.stats.figures import region_figures
from portal.timeutil import local_today
from portal.visits import operations as visit_ops
from tests.factories import make_id

pytestmark = pytest.mark.no_db

FUCHENG = "320923001000"
XINGFU, XINSHENG = "320923001001", "320923001002"
YEAR = 2026
VISITS = 24


def _id(n: int) -> str:
    return make_id(n, birth="19770303")


def _setup(app) -> list[int]:
    """Persons of two communities on the register: 24 with a file assigned to fc_grid1 (the
    visits), 20 insured (enrollments: the comparison confirms them), 10 with nothing yet."""
    with app.app_context():
        worker = db.session.scalar(select(User.id).where(User.username == "fc_grid1"))
        file_ids = []
        for n in range(54):
            community = XINGFU if n % 3 else XINSHENG
            if n < VISITS:
                community = XINGFU
            person = Person(
                id_number=_id(n),
                name=f"并发{n}",
                sex="1",
                birth_date=date(1977, 3, 3),
                region_code=community,
                in_register=True,
                insured_status="uninsured",
            )
            db.session.add(person)
            db.session.flush()
            if n < VISITS:
                file = PersonFile(
                    person_id=person.id,
                    region_code=community,
                    year=YEAR,
                    file_number=f"C-{uuid.uuid4().hex[:20]}",
                    state="assigned",
                    assignee_id=worker,
                )
                db.session.add(file)
                db.session.flush()
                file_ids.append(file.id)
            elif n < VISITS + 20:
                db.session.add(
                    Enrollment(
                        id_number=person.id_number,
                        scheme="resident",
                        region_code="320923000000",
                        start_date=date(YEAR, 1, 1),
                        status="normal",
                    )
                )
        maintain.rebuild(db.session.connection())
        db.session.commit()
        return file_ids


def _cleanup(app) -> None:
    with app.app_context():
        numbers = [_id(n) for n in range(54)]
        for sql in (
            "DELETE FROM visit WHERE person_id IN (SELECT id FROM person WHERE id_number IN :n)",
            "DELETE FROM person_change WHERE person_id IN "
            "(SELECT id FROM person WHERE id_number IN :n)",
            "DELETE FROM person_file WHERE person_id IN "
            "(SELECT id FROM person WHERE id_number IN :n)",
            "DELETE FROM enrollment WHERE id_number IN :n",
            "DELETE FROM person WHERE id_number IN :n",
            "DELETE FROM community_figures",
            "DELETE FROM community_activity",
        ):
            statement = text(sql)
            if ":n" in sql:
                statement = statement.bindparams(bindparam("n", expanding=True))
                db.session.execute(statement, {"n": numbers})
            else:
                db.session.execute(statement)
        db.session.commit()


def test_concurrent_visits_and_a_comparison(app, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has a single writer; concurrency is PostgreSQL's question")
    file_ids = _setup(app)
    errors: list = []
    outcomes = {}

    def visit(ids):
        try:
            start.wait(timeout=30)
            for file_id in ids:
                with app.test_request_context():
                    file = db.session.get(PersonFile, file_id)
                    worker = db.session.get(User, file.assignee_id)
                    outcome = "unreachable" if file_id % 2 else "paid_today"
                    visit_ops.record_visit(
                        worker,
                        file,
                        visit_ops.VisitInput(
                            method="home",
                            outcome=outcome,
                            idempotency_key=str(uuid.uuid4()),
                            version=file.version,
                        ),
                    )
                    db.session.commit()
                    outcomes[file_id] = outcome
                    db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    def comparison():
        try:
            start.wait(timeout=30)
            with app.test_request_context():
                compare(
                    db.session.get(Region, FUCHENG),
                    YEAR,
                    run_id=9001,
                    user_id=None,
                    today=date(YEAR, 11, 1),
                )
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    chunks = [file_ids[i :: VISITS // 3 - 1] for i in range(VISITS // 3 - 1)]
    threads = [threading.Thread(target=visit, args=(chunk,)) for chunk in chunks]
    threads.append(threading.Thread(target=comparison))
    start = threading.Barrier(len(threads))
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert len(outcomes) == VISITS
        with app.app_context():
            connection = db.session.connection()
            for year in maintain.built_years(connection):
                assert maintain.differences(connection, prefix="320923001", year=year) == {}
            # Every visit counted once on its day (concurrent visits of one community queue on
            # its row), and the comparison's recount of the conversions lost none of them.
            assert activity.differences(connection, prefix="320923001") == {}
            today = local_today()
            assert activity.activity(FUCHENG, today, today) == (VISITS, 0)
            figures = region_figures(FUCHENG, YEAR)
            paid = sum(1 for o in outcomes.values() if o == "paid_today")
            assert figures.files["pending_confirmation"] == paid
            assert figures.files["following"] == VISITS - paid
            assert figures.open_reasons["lost_contact"] == VISITS - paid
            assert (figures.persons, figures.insured) == (54, 20)
            db.session.remove()
    finally:
        _cleanup(app)
