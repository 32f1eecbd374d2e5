"""The comparison: files opened, closed as enrolled, lapsed re-opened, a second run is a no-op."""

from datetime import date, timedelta

from sqlalchemy import select

from portal.comparisons.operations import months_before
from portal.extensions import db
from portal.persons.models import Enrollment, Person, PersonChange
from tests.factories import COMPARED_ON as TODAY
from tests.factories import COMPARED_YEAR as YEAR
from tests.factories import enroll, file_of, make_id, person, run

A, B, C, D, E = (make_id(n, birth="19800101") for n in (11, 21, 31, 41, 51))


def test_uninsured_get_files_insured_do_not(ctx):
    person(A)
    person(B)
    person(C, region="320902001001")  # Tinghu: outside the compared county
    person(D, in_register=False)  # not in the household register
    enroll(B)
    result = run()
    assert (result["persons"], result["insured"], result["opened"]) == (2, 1, 1)
    opened = file_of(A)
    assert opened.state == "unassigned" and opened.file_type == "uninsured"
    assert opened.file_number == f"{YEAR}-320923001001-{opened.person_id}"
    assert file_of(B) is None and file_of(C) is None and file_of(D) is None
    statuses = dict(db.session.execute(select(Person.id_number, Person.insured_status)).all())
    assert statuses[A] == "uninsured" and statuses[B] == "insured" and statuses[C] == "unknown"


def test_a_second_run_changes_nothing(ctx):
    person(A)
    person(B)
    enroll(B)
    run(run_id=1)
    changes = db.session.query(PersonChange).count()
    again = run(run_id=2)
    assert (again["opened"], again["closed"], again["reopened"]) == (0, 0, 0)
    assert db.session.query(PersonChange).count() == changes


def test_enrollment_closes_the_file_as_enrolled(ctx):
    person(A)
    run(run_id=1)
    f = file_of(A)
    f.assignee_id = 10
    f.state = "assigned"
    enroll(A)
    result = run(run_id=2)
    assert result["closed"] == 1
    db.session.refresh(f)
    assert (f.state, f.close_cause, f.closed_by_run_id, f.credited_user_id) == (
        "enrolled",
        "comparison",
        2,
        10,
    )
    history = db.session.scalars(
        select(PersonChange.changes).where(PersonChange.batch_id == 2)
    ).all()
    assert history == [
        {"insured_status": ["uninsured", "insured"], "file_state": ["assigned", "enrolled"]}
    ]


def test_the_last_visitor_is_credited_and_pending_files_are_confirmed(ctx):
    # A worker reported "paid today" (pending confirmation); the supervisor (id 10) holds the
    # file, the worker who visited (id 11) made the conversion: the comparison credits them.
    person(A)
    run(run_id=1)
    f = file_of(A)
    f.assignee_id, f.last_visitor_id, f.state = 10, 11, "pending_confirmation"
    enroll(A)
    assert run(run_id=2)["closed"] == 1
    db.session.refresh(f)
    assert (f.state, f.credited_user_id) == ("enrolled", 11)


def test_enrollment_of_another_year_does_not_count(ctx):
    person(A)
    enroll(A, start=date(2024, 1, 1), end=date(2025, 12, 31))
    assert run()["opened"] == 1


def test_lapsed_employee_reopens_as_lapsed(ctx):
    person(A)
    enroll(A, scheme="employee")
    run(run_id=1)
    assert file_of(A) is None
    # The employer stopped paying in June: more than 3 months ago, the record is terminated.
    db.session.execute(
        Enrollment.__table__.update().values(status="terminated", end_date=date(2026, 6, 30))
    )
    result = run(run_id=2)
    assert result["opened"] == 1
    assert file_of(A).file_type == "lapsed"


def test_closed_file_reopens_when_coverage_lapses(ctx):
    person(A)
    run(run_id=1)
    enroll(A, scheme="employee")
    run(run_id=2)
    assert file_of(A).state == "enrolled"
    db.session.execute(
        Enrollment.__table__.update().values(status="terminated", end_date=date(2026, 5, 31))
    )
    result = run(run_id=3)
    f = file_of(A)
    db.session.refresh(f)
    assert result["reopened"] == 1
    assert (f.state, f.file_type, f.closed_at) == ("unassigned", "lapsed", None)


def test_recently_stopped_employee_is_in_grace(ctx):
    person(A)
    enroll(A, scheme="employee", status="suspended", end=TODAY - timedelta(days=20))
    assert run()["opened"] == 0


def test_months_before_handles_month_ends():
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 3) == date(2025, 10, 15)


def test_the_command_line_runs_a_comparison_as_a_user(app):
    from portal.audit.models import AuditEvent
    from tests.helpers import account, database, fetch

    with database(app):
        person(A)  # nobody insured: the guard refuses unless confirmed (test_comparison_guard)
    result = app.test_cli_runner().invoke(
        args=["compare", "--region", "320923000000", "--as", "fn_staff", "--year", str(YEAR)]
        + ["--force"]
    )
    assert result.exit_code == 0, result.output
    assert "新建未参保档案 1" in result.output
    (event,) = fetch(app, select(AuditEvent).where(AuditEvent.action == "comparison.run"))
    assert event.actor_id == account(app, "fn_staff").id


def test_the_command_line_refuses_a_user_without_the_right(app):
    result = app.test_cli_runner().invoke(
        args=["compare", "--region", "320923000000", "--as", "fc_supervisor"]
    )
    assert result.exit_code != 0
    assert "您无权对该区划运行比对" in result.output


def test_a_first_comparison_keeps_its_openings_on_the_files_and_the_history_shows_them(ctx, user):
    """A person compared for the first time (status unknown since the import) gets a file and no
    history row: a first comparison of a city opens a million alike. The history still shows
    the change, by the run's user; a person judged before gets a row as ever."""
    from portal.comparisons.models import ComparisonRun
    from portal.persons.queries import history_of

    staff = user("fn_staff")
    db.session.add(ComparisonRun(id=7, region_code="320923000000", year=YEAR, user_id=staff.id))
    first, judged = person(A), person(B)
    judged.insured_status = "insured"  # covered at an earlier comparison, not this year
    run(run_id=7)
    assert (file_of(A).opened_by_run_id, file_of(B).opened_by_run_id) == (7, None)
    rows = db.session.execute(select(PersonChange.person_id, PersonChange.changes)).all()
    assert rows == [
        (
            judged.id,
            {"insured_status": ["insured", "uninsured"], "file_state": [None, "unassigned"]},
        )
    ]
    (entry,) = history_of(first)
    assert (entry.cause, entry.who, entry.at) == ("比对", staff.display_name, file_of(A).opened_at)
    assert [(f.label, f.old, f.new) for f in entry.fields] == [
        ("参保状态", "未比对", "未参保"),
        ("档案状态", "（空）", "待分配"),
    ]
    enroll(A)
    run(run_id=8)  # enrolled since: the closing is a history row, newer than the opening
    closing, opening = history_of(first)
    assert ("档案状态", "待分配", "已参保") in [(f.label, f.old, f.new) for f in closing.fields]
    assert opening == entry
