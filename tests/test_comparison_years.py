"""The insurance year in the comparison: the default year, a new year's comparison carrying last
year's files over (open files carried with their history, declined ones back for the new
collection period, closed ones left in their year), and the persons an approved closure
excluded from the population that must be insured."""

from datetime import date, datetime

import pytest
from sqlalchemy import select

from portal.comparisons import operations as ops
from portal.comparisons.models import ComparisonRun
from portal.extensions import db
from portal.persons.models import Person, PersonChange, PersonFile
from portal.regions.models import Region
from portal.years import selection
from tests.factories import FUNING, a_file, enroll, files_of, make_id, person, run, worker_id
from tests.helpers import database, fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_proposal

TODAY = date(2026, 12, 2)  # the day these comparisons run on
A, B, C, D, E = (make_id(n, birth="19900101") for n in (21, 22, 23, 24, 25))


# --- the default year -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "year"),
    [
        (date(2026, 8, 31), 2026),
        (date(2026, 9, 1), 2027),  # the 2027 collection period opens
        (date(2027, 2, 28), 2027),  # its last day
        (date(2027, 3, 1), 2027),  # closed: still the year being covered
    ],
)
def test_a_comparison_started_without_a_year_compares_the_collection_periods_year(
    ctx, user, monkeypatch, today, year
):
    monkeypatch.setattr(selection, "local_today", lambda: today)
    started = ops.start_comparison(user("fn_staff"), db.session.get(Region, FUNING))
    assert started.year == year


def test_the_command_line_compares_the_current_year_by_default(app, monkeypatch):
    monkeypatch.setattr(selection, "local_today", lambda: date(2026, 12, 2))
    result = app.test_cli_runner().invoke(
        args=["compare", "--region", FUNING, "--as", "fn_staff", "--force"]
    )
    assert "比对 阜宁县 2027 年度" in result.output
    assert "参保年度（默认当前征缴期对应年度）" in app.test_cli_runner().invoke(
        args=["compare", "--help"]
    ).output.replace("\n", "").replace(" ", "")


def test_the_start_form_shows_the_year_and_offers_the_picker(app, login, monkeypatch):
    monkeypatch.setattr(selection, "local_today", lambda: date(2026, 12, 2))
    client = login("fn_staff")
    page = client.get("/comparisons/").get_data(as_text=True)
    assert "开始比对 2027 年度" in page and "当前征缴期对应年度" in page
    assert 'action="/year"' in page
    client.post("/year", data={"year": "2026", "next": "/comparisons/"})
    page = client.get("/comparisons/").get_data(as_text=True)
    assert "开始比对 2026 年度" in page and "不是当前征缴期对应年度 2027" in page
    client.post("/comparisons/", data={"region": FUNING, "force": "y"})
    (started,) = fetch(app, select(ComparisonRun))
    assert started.year == 2026  # the year the user picked


# --- carrying last year's files over ----------------------------------------------------------


def test_an_open_file_is_carried_into_the_new_year_with_its_history_not_duplicated(ctx):
    person(A)
    person(B)
    enroll(B, start=date(2027, 1, 1))  # B paid for 2027 during the collection period
    worker = worker_id()
    open_a = a_file(A, 2026, "following", worker, reason_code="away_working")
    open_b = a_file(B, 2026, "assigned", worker)
    result = run(year=2027, run_id=5, today=TODAY)
    assert (result["carried"], result["opened"], result["closed"]) == (2, 0, 1)
    db.session.refresh(open_a)
    # Moved, not copied: the same file, its state, assignee and reason kept.
    assert (open_a.year, open_a.carried_from_year, open_a.state) == (2027, 2026, "following")
    assert (open_a.assignee_id, open_a.reason_code) == (worker, "away_working")
    assert files_of(A) == [(2027, "following", 2026)]
    # B enrolled for 2027: the carried file is closed as enrolled, crediting the worker.
    db.session.refresh(open_b)
    assert (open_b.year, open_b.state, open_b.credited_user_id) == (2027, "enrolled", worker)
    history = dict(
        db.session.execute(
            select(PersonChange.person_id, PersonChange.changes).where(PersonChange.batch_id == 5)
        ).all()
    )
    assert history[open_a.person_id] == {
        "insured_status": ["unknown", "uninsured"],
        "year": [2026, 2027],
    }
    assert history[open_b.person_id] == {
        "insured_status": ["unknown", "insured"],
        "file_state": ["assigned", "enrolled"],
        "year": [2026, 2027],
    }
    again = run(year=2027, run_id=6, today=TODAY)
    assert (again["carried"], again["opened"], again["closed"]) == (0, 0, 0)
    assert files_of(A) == [(2027, "following", 2026)]


def test_a_declined_file_comes_back_in_the_new_collection_period(ctx):
    person(A)
    person(B)
    a_file(A, 2026, "declined", worker_id(), reason_code="declined")
    a_file(B, 2026, "declined")  # nobody holds it any more: back to the pool
    result = run(year=2027, today=TODAY)
    assert (result["returned"], result["carried"], result["opened"]) == (2, 0, 0)
    assert files_of(A) == [(2027, "assigned", 2026)]
    assert files_of(B) == [(2027, "unassigned", 2026)]


def test_closed_files_stay_in_their_year_and_an_uninsured_person_gets_a_new_file(ctx):
    person(A)
    person(B)
    person(C)
    a_file(A, 2026, "enrolled", close_cause="comparison")
    a_file(B, 2026, "exempt", close_cause="review", reason_code="insured_elsewhere")
    a_file(C, 2026, "enrolled", close_cause="comparison")
    enroll(C, start=date(2027, 1, 1))
    result = run(year=2027, today=TODAY)
    assert (result["opened"], result["carried"], result["reopened"]) == (2, 0, 0)
    assert files_of(A) == [(2026, "enrolled", None), (2027, "unassigned", None)]
    assert files_of(B) == [(2026, "exempt", None), (2027, "unassigned", None)]
    assert files_of(C) == [(2026, "enrolled", None)]


def test_only_the_latest_earlier_file_is_carried_and_a_later_years_file_is_left_alone(ctx):
    person(A)
    person(B)
    a_file(A, 2025, "assigned")  # an older open file, closed since in 2026
    a_file(A, 2026, "enrolled", close_cause="comparison")
    a_file(B, 2028, "unassigned")  # already compared for 2028
    result = run(year=2027, today=TODAY)
    assert (result["carried"], result["opened"]) == (0, 1)
    assert files_of(A) == [(2025, "assigned", None), (2026, "enrolled", None)] + [
        (2027, "unassigned", None)
    ]
    assert files_of(B) == [(2028, "unassigned", None)]


def test_a_carried_file_carried_again_keeps_the_year_it_was_first_opened_for(ctx):
    person(A)
    a_file(A, 2026, "assigned", worker_id())
    run(year=2027, run_id=1, today=TODAY)
    run(year=2028, run_id=2, today=TODAY)
    assert files_of(A) == [(2028, "assigned", 2026)]


# --- exclusions -------------------------------------------------------------------------------


def test_an_approved_deceased_closure_excludes_the_person_from_then_on(app, login, make_proposal):
    made, visit_id = make_proposal(outcome="deceased", reason="deceased")
    client = login("fc_supervisor")
    client.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    (dead,) = fetch(app, select(Person).where(Person.id == made.person_id))
    assert dead.excluded_reason == "deceased" and dead.excluded_at is not None
    (entry,) = fetch(
        app,
        select(PersonChange).where(
            PersonChange.person_id == made.person_id, PersonChange.cause == "review"
        ),
    )
    assert entry.changes["excluded_reason"] == [None, "deceased"]
    with database(app) as session:
        session.get(Person, made.person_id).in_register = True
        dead_year = session.scalar(select(PersonFile.year).where(PersonFile.id == made.file_id))
    with app.test_request_context():
        result = run(year=dead_year + 1, today=TODAY)
        db.session.commit()
    assert (result["persons"], result["excluded"], result["opened"]) == (1, 1, 0)
    assert [f.year for f in fetch(app, select(PersonFile))] == [dead_year]


@pytest.mark.parametrize(("outcome", "reason"), [("wrong_info", "wrong_record")])
def test_a_closure_for_another_reason_excludes_nobody(app, login, make_proposal, outcome, reason):
    made, visit_id = make_proposal(outcome=outcome, reason=reason)
    login("fc_supervisor").post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    (found,) = fetch(app, select(Person).where(Person.id == made.person_id))
    assert found.excluded_reason is None


def test_excluded_persons_get_no_file_and_leave_the_denominator(ctx):
    person(A)
    person(B)
    person(C)
    enroll(C, start=date(2027, 1, 1))
    for id_number, reason in ((A, "abroad"), (B, "other_scheme")):
        p = db.session.scalar(select(Person).where(Person.id_number == id_number))
        p.excluded_reason, p.excluded_at = reason, datetime(2026, 10, 1)
    a_file(B, 2026, "declined")  # not brought back either
    result = run(year=2027, today=TODAY)
    assert (result["persons"], result["excluded"], result["insured"]) == (3, 2, 1)
    assert (result["opened"], result["returned"]) == (0, 0)
    assert files_of(A) == [] and files_of(B) == [(2026, "declined", None)]
    assert result["townships"] == [
        {
            "code": "320923001000",
            "name": "阜城街道",
            "persons": 3,
            "excluded": 2,
            "insured": 1,
            "opened": 0,
        }
    ]


def test_an_insured_record_that_began_after_the_exclusion_clears_it(ctx):
    person(A)  # settled abroad in October 2026 — and back, insured from January 2027
    person(B)  # deceased; an old record never closed (死亡未销户) does not bring him back
    for id_number in (A, B):
        p = db.session.scalar(select(Person).where(Person.id_number == id_number))
        p.excluded_reason, p.excluded_at = "abroad", datetime(2026, 10, 1, 2)
    enroll(A, start=date(2027, 1, 1))
    enroll(B, start=date(2020, 1, 1))
    result = run(year=2027, run_id=9, today=TODAY)
    assert (result["excluded"], result["insured"], result["resumed"]) == (1, 1, 1)
    back = db.session.scalar(select(Person).where(Person.id_number == A))
    db.session.refresh(back)
    assert (back.excluded_reason, back.excluded_at, back.insured_status) == (None, None, "insured")
    (entry,) = db.session.scalars(
        select(PersonChange.changes).where(
            PersonChange.batch_id == 9, PersonChange.person_id == back.id
        )
    ).all()
    assert entry["excluded_reason"] == ["abroad", None]
    still = db.session.scalar(select(Person).where(Person.id_number == B))
    db.session.refresh(still)
    assert still.excluded_reason == "abroad"


def test_the_comparison_region_of_a_run_is_the_persons_county(ctx):
    """Persons outside the region compared are not touched (nor their files carried)."""
    person(A, region="320902001001")  # Tinghu
    a_file(A, 2026, "assigned")
    assert run(year=2027, today=TODAY)["persons"] == 0
    assert files_of(A) == [(2026, "assigned", None)]


def test_the_history_names_the_year_and_the_exclusion_in_chinese():
    from portal.persons.queries import FIELD_LABELS, format_value

    assert FIELD_LABELS["year"] == "参保年度"
    assert FIELD_LABELS["excluded_reason"] == "不计入应参保人员"
    assert format_value("excluded_reason", "deceased", False, {}) == "死亡"
    assert format_value("excluded_reason", None, False, {}) == "（空）"
    assert format_value("in_resident_list", True, False, {}) == "是"
