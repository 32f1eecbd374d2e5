"""A file's government-paid flag follows its person's key populations: the worker's list order.

The task list orders by person_file.government_paid (a copy of the person's key populations, see
portal/persons/government_paid.py); each writer of key populations must keep it in step, or a
newly flagged 特困 person would wait at the bottom of someone's list.
"""

import re

from sqlalchemy import select

from portal.comparisons.models import ComparisonRun
from portal.persons import codes
from portal.persons.models import Person, PersonFile
from tests.factories import (
    create_task,
    key_population_workbook,
    names_in_list,
    run_jobs,
    upload_kind,
)
from tests.helpers import database, fetch

POVERTY = codes.KEY_POPULATION_BY_CODE["extreme_poverty"].bit


def _edit_form(client, person_id) -> dict:
    html = client.get(f"/persons/{person_id}/edit").get_data(as_text=True)
    fields = dict(re.findall(r'name="(version|token)" type="hidden" value="([^"]*)"', html))
    region = re.search(r'<option selected value="(\d{12})"', html)
    return {**fields, "region_code": region.group(1) if region else ""}


def test_a_key_population_import_and_an_edit_move_the_file_on_the_list(app, login):
    create_task(app, "早到期", due_date=None)
    later = create_task(app, "后来特困")
    worker = login("fc_grid1")
    assert names_in_list(worker.get("/tasks/").get_data(as_text=True)) == ["早到期", "后来特困"]

    staff = login("fn_staff")
    workbook = key_population_workbook([(later.name, later.id_number, "特困供养人员")])
    upload_kind(staff, "key_population", workbook, name="特困.xlsx")
    run_jobs(app)
    assert names_in_list(worker.get("/tasks/").get_data(as_text=True)) == ["后来特困", "早到期"]

    supervisor = login("fc_supervisor")
    form = _edit_form(supervisor, later.person_id)
    response = supervisor.post(
        f"/persons/{later.person_id}/edit", data={**form, "key_populations": ["student"]}
    )
    assert response.status_code == 302
    assert names_in_list(worker.get("/tasks/").get_data(as_text=True)) == ["早到期", "后来特困"]


def test_the_comparison_opens_files_with_the_flag_of_their_persons(app, login):
    from tests.factories import household_workbook, upload

    staff = login("fn_staff")
    upload(staff, household_workbook())
    run_jobs(app)
    with database(app) as session:
        first = session.scalars(select(Person).order_by(Person.id)).first()
        first.key_populations = POVERTY | codes.KEY_POPULATION_BY_CODE["student"].bit
        first_id = first.id
    # Nobody insured: the guard (comparisons/guard.py) is confirmed, as a user would.
    staff.post("/comparisons/", data={"region": "320923000000", "force": "y"})
    run_jobs(app)
    assert fetch(app, select(ComparisonRun.opened))[0] > 1
    flags = {f.person_id: f.government_paid for f in fetch(app, select(PersonFile))}
    assert flags.pop(first_id) is True
    assert set(flags.values()) == {False}
