"""The result page (coverage of the region and per township, links to the files the run opened)
and the workflow table driving the comparison's state changes."""

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from portal.comparisons import operations as ops
from portal.comparisons.models import ComparisonRun
from portal.extensions import db
from portal.persons.models import Enrollment, PersonChange
from portal.regions.models import Region
from portal.workflow import transitions
from portal.years import selection
from tests.factories import (
    FUNING,
    WUTAN,
    XINGFU,
    a_file,
    enroll,
    file_of,
    files_of,
    make_id,
    person,
    populate,
    run_jobs,
    worker_id,
)
from tests.factories import run as run_2026
from tests.helpers import database, fetch

A = make_id(11, birth="19800101")  # as in tests/test_comparisons.py
B = make_id(27, birth="19900101")


@pytest.fixture(autouse=True)
def december_2026(monkeypatch):
    monkeypatch.setattr(selection, "local_today", lambda: date(2026, 12, 2))


def test_the_result_page_shows_coverage_per_township_and_links_to_the_opened_files(app, login):
    with database(app) as session:
        populate(session, insured=4, uninsured=1, region=XINGFU)
        populate(session, insured=2, uninsured=1, region=WUTAN, start=100)
    client = login("fn_staff")
    client.post("/comparisons/", data={"region": FUNING})
    run_jobs(app)
    (run,) = fetch(app, select(ComparisonRun))
    assert run.state == "succeeded", run.message
    assert (run.persons, run.excluded, run.insured, run.opened) == (8, 0, 6, 2)
    assert run.checks == [] and not run.forced
    assert [(t["name"], t["persons"], t["insured"], t["opened"]) for t in run.townships] == [
        ("阜城街道", 5, 4, 1),
        ("吴滩街道", 3, 2, 1),
    ]
    page = client.get(f"/comparisons/{run.id}").get_data(as_text=True)
    assert "参保率" in page and "<strong>75.0%</strong>" in page
    assert "各乡镇（街道）参保率" in page
    assert "80.0%" in page and "66.7%" in page
    assert "/desk/320923001000?state=unassigned" in page
    assert "/desk/320923002000?state=unassigned" in page
    assert "/persons/?insured_status=uninsured&amp;file_state=unassigned" in page
    assert "参保率" in page and "75.0%" in client.get("/comparisons/").get_data(as_text=True)
    desk = client.get("/desk/320923001000?state=unassigned")
    assert desk.status_code == 200
    persons = client.get("/persons/?insured_status=uninsured&file_state=unassigned")
    assert persons.status_code == 200 and "共 2 条" in persons.get_data(as_text=True)


def test_a_supervisor_reads_no_run(app, login):
    """Township supervisors do not run comparisons: a run's page is not theirs to read."""
    with database(app) as session:
        populate(session, insured=4, uninsured=1, region=XINGFU)
    client = login("fn_staff")
    client.post("/comparisons/", data={"region": FUNING})
    run_jobs(app)
    (run,) = fetch(app, select(ComparisonRun))
    page = login("fc_supervisor").get(f"/comparisons/{run.id}")
    assert page.status_code in (403, 404)  # supervisors do not run comparisons


# --- the workflow table drives the comparison -------------------------------------------------


def test_the_sql_comes_from_the_table():
    assert ops.in_sources("open", "s") == "(s IS NULL)"
    assert ops.in_sources("return_declined", "s") == "(s IN ('declined'))"
    assert ops.target_of("reopen", "a", "s") == (
        "CASE WHEN a IS NULL THEN 'unassigned' ELSE 'assigned' END"
    )
    assert ops.target_of("carry_over", "a", "s") == "s"  # the state is kept
    assert ops.target_of("confirm_enrolled", "a", "s") == "'enrolled'"


def test_a_reopened_file_goes_to_its_worker_and_the_history_says_so(ctx):
    person(A)
    run_2026(run_id=1)
    f = file_of(A)
    f.assignee_id, f.state = worker_id(), "assigned"
    enroll(A, scheme="employee")
    run_2026(run_id=2)
    db.session.execute(
        Enrollment.__table__.update().values(status="terminated", end_date=date(2026, 5, 31))
    )
    assert run_2026(run_id=3)["reopened"] == 1
    db.session.refresh(f)
    assert f.state == "assigned"
    (changes,) = db.session.scalars(
        select(PersonChange.changes).where(PersonChange.batch_id == 3)
    ).all()
    assert changes["file_state"] == ["enrolled", "assigned"]  # never "reopened"


def test_changing_a_row_changes_what_the_comparison_does(ctx, monkeypatch):
    person(A)
    person(B)
    worker = worker_id()
    a_file(A, 2026, "following", worker)
    # Suppose the table said a file being followed up is not carried over:
    row = transitions.BY_ACTION["carry_over"]
    monkeypatch.setitem(
        transitions.BY_ACTION, "carry_over", replace(row, sources=row.sources - {"following"})
    )
    # … and a declined file always went back to the pool:
    row = transitions.BY_ACTION["return_declined"]
    monkeypatch.setitem(
        transitions.BY_ACTION, "return_declined", replace(row, target_if_assigned=None)
    )
    a_file(B, 2026, "declined", worker)
    result = ops.compare(
        db.session.get(Region, FUNING),
        2027,
        run_id=1,
        user_id=None,
        today=date(2026, 12, 2),
    )
    assert (result["carried"], result["returned"], result["opened"]) == (0, 1, 1)
    assert files_of(A) == [(2026, "following", None), (2027, "unassigned", None)]
    assert files_of(B) == [(2027, "unassigned", 2026)]
