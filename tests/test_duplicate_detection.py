"""Detecting duplicate enrollments (issue 20, part 2): overlap edge cases, cases across
counties, incremental detection after an insured import, re-detection of open and decided
cases, the CLI and the job. Runs on SQLite and on PostgreSQL (TEST_DATABASE_URL)."""

from datetime import date, datetime

import pytest
from sqlalchemy import select

from portal.duplicates import detect
from portal.duplicates.models import DuplicateCase, DuplicateMember
from portal.extensions import db
from portal.persons.models import Enrollment, Person
from portal.years.periods import Calendar
from tests.factories import latest_batch, make_id, run_jobs, upload_kind, workbook
from tests.helpers import database, fetch

YEAR = 2027
FUNING = "320923000000"
XINGFU = "320923001001"  # a community of Funing
TINGHU = "320902000000"
TINGHU_COMMUNITY = "320902001001"
D = date


def person(id_number: str, region: str = XINGFU, listed: bool = True) -> None:
    db.session.add(
        Person(
            id_number=id_number,
            name="测试",
            sex="1",
            birth_date=date(1980, 1, 1),
            region_code=region,
            in_register=listed,
        )
    )
    db.session.flush()


def record(id_number, scheme, place, start, end=None, status="normal", **facts) -> int:
    row = Enrollment(
        id_number=id_number,
        scheme=scheme,
        region_code=place,
        start_date=start,
        end_date=end,
        status=status,
        **facts,
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def run(year: int = YEAR) -> detect.DetectResult:
    result = detect.detect(db.session.connection(), year, calendar=Calendar())
    db.session.expire_all()
    return result


def case_of(id_number: str, year: int = YEAR) -> DuplicateCase | None:
    return db.session.scalar(
        select(DuplicateCase).where(
            DuplicateCase.id_number == id_number, DuplicateCase.year == year
        )
    )


def members(case: DuplicateCase) -> dict[int, tuple]:
    rows = db.session.scalars(select(DuplicateMember).where(DuplicateMember.case_id == case.id))
    return {m.enrollment_id: (m.region_code, m.scheme, m.action) for m in rows}


ID = [make_id(n, birth="19800101") for n in range(1, 40)]


@pytest.mark.parametrize(
    "periods, duplicate",
    [
        # touching: one ends the day before the other starts
        (((D(2027, 1, 1), D(2027, 6, 30)), (D(2027, 7, 1), None)), False),
        # one day in common
        (((D(2027, 1, 1), D(2027, 7, 1)), (D(2027, 7, 1), None)), True),
        # both open-ended, one from long ago
        (((D(2015, 3, 1), None), (D(2027, 1, 1), None)), True),
        # overlapping only before the year
        (((D(2026, 1, 1), D(2026, 12, 31)), (D(2026, 6, 1), D(2026, 12, 31))), False),
        # overlapping only after the year
        (((D(2028, 1, 1), None), (D(2028, 1, 1), None)), False),
        # the year's last day in common
        (((D(2020, 1, 1), D(2027, 12, 31)), (D(2027, 12, 31), None)), True),
    ],
)
def test_overlap_within_the_year(ctx, periods, duplicate):
    (a_start, a_end), (b_start, b_end) = periods
    record(ID[0], "employee", TINGHU, a_start, a_end)
    record(ID[0], "resident", FUNING, b_start, b_end)
    result = run()
    assert (case_of(ID[0]) is not None) is duplicate
    assert result.found == int(duplicate)


def test_suspended_and_terminated_records_are_not_duplicates(ctx):
    record(ID[0], "employee", TINGHU, D(2020, 1, 1), status="suspended")
    record(ID[0], "resident", FUNING, D(2027, 1, 1))
    record(ID[1], "resident", TINGHU, D(2021, 1, 1), status="terminated")
    record(ID[1], "resident", FUNING, D(2027, 1, 1))
    run()
    assert case_of(ID[0]) is None and case_of(ID[1]) is None


def test_three_records_one_apart_and_different_years(ctx):
    a = record(ID[0], "resident", FUNING, D(2027, 1, 1), D(2027, 3, 31))
    b = record(ID[0], "resident", TINGHU, D(2027, 2, 1), D(2027, 4, 30))
    record(ID[0], "employee", TINGHU, D(2027, 6, 1), D(2027, 7, 31))
    run()
    case = case_of(ID[0])
    assert set(members(case)) == {a, b} and case.kind == "resident"
    assert case_of(ID[0], 2026) is None
    # 2026 is a year of its own: a case there only from records overlapping in 2026.
    record(ID[1], "resident", FUNING, D(2026, 1, 1), D(2026, 12, 31))
    record(ID[1], "resident", TINGHU, D(2026, 1, 1), D(2026, 12, 31))
    run(2026)
    assert case_of(ID[1], 2026) is not None and case_of(ID[1], YEAR) is None


def test_a_case_across_two_counties(ctx):
    person(ID[0], TINGHU_COMMUNITY)
    funing = record(ID[0], "resident", FUNING, D(2021, 1, 1))
    tinghu = record(ID[0], "resident", TINGHU, D(2027, 1, 1))
    result = run()
    assert (result.found, result.created) == (1, 1)
    case = case_of(ID[0])
    assert (case.kind, case.state, case.rule) == ("resident", "open", "resident")
    assert case.recommended_id == tinghu and case.missing is None
    assert case.region_code == TINGHU_COMMUNITY  # the person's community
    assert case.person_id is not None and case.subsidy_deductions == 1
    assert members(case) == {
        funing: (FUNING, "resident", None),
        tinghu: (TINGHU, "resident", None),
    }


def test_kinds_and_the_region_of_a_person_on_no_register(ctx):
    person(ID[0], XINGFU, listed=False)
    record(ID[0], "employee", TINGHU, D(2020, 1, 1), continuous_months=40)
    record(ID[0], "resident", FUNING, D(2027, 1, 1))
    record(ID[1], "employee", TINGHU, D(2020, 1, 1))
    record(ID[1], "employee", FUNING, D(2022, 1, 1))
    run()
    cross, employee = case_of(ID[0]), case_of(ID[1])
    assert (cross.kind, cross.rule) == ("cross", "cross_employee_year")
    assert cross.region_code == TINGHU  # the kept record's place: the person is on no list
    assert (employee.kind, employee.missing, employee.recommended_id) == (
        "employee",
        "employment_place",
        None,
    )
    assert employee.region_code == TINGHU  # no recommendation: the first record's place


def test_redetection_refreshes_open_cases_and_closes_those_no_longer_duplicate(ctx):
    a = record(ID[0], "resident", FUNING, D(2021, 1, 1))
    b = record(ID[0], "resident", TINGHU, D(2027, 1, 1))
    run()
    case = case_of(ID[0])
    assert case.missing == "residence" and case.version == 1
    # Nothing changed: nothing written.
    result = run()
    assert (result.found, result.created, result.refreshed) == (1, 0, 0)
    assert case_of(ID[0]).version == 1
    # The person turns up on the register in Tinghu: the recommendation follows.
    person(ID[0], TINGHU_COMMUNITY)
    case.proposal_reason, case.proposed_by_id = "保留亭湖区", 1
    db.session.flush()
    assert run().refreshed == 1
    case = case_of(ID[0])
    assert (case.recommended_id, case.region_code) == (b, TINGHU_COMMUNITY)
    assert case.proposal_reason == "保留亭湖区"  # the same records: the proposal stands
    # A third record: members change, the proposal is withdrawn.
    c = record(ID[0], "employee", TINGHU, D(2027, 3, 1))
    run()
    case = case_of(ID[0])
    assert set(members(case)) == {a, b, c} and case.kind == "cross"
    assert case.proposal_reason is None and case.proposed_by_id is None
    # The extract terminates two of them: the case is no longer a duplicate.
    for id_ in (a, c):
        db.session.get(Enrollment, id_).status = "terminated"
    db.session.flush()
    result = run()
    assert result.closed == 1
    case = case_of(ID[0])
    assert case.state == "resolved" and case.decided_by_id is None
    assert "不再重复" in case.decision_comment


def test_a_decided_case_stays_decided_unless_a_new_record_overlaps(ctx):
    a = record(ID[0], "resident", FUNING, D(2021, 1, 1))
    b = record(ID[0], "resident", TINGHU, D(2027, 1, 1))
    run()
    case = case_of(ID[0])
    case.state, case.decided_by_id, case.decided_at = "not_duplicate", 1, datetime(2027, 1, 5)
    db.session.flush()
    result = run()
    assert (result.found, result.reopened, result.refreshed) == (1, 0, 0)
    assert case_of(ID[0]).state == "not_duplicate"
    # A resolved case: one record terminated and marked; re-detection leaves it so.
    case = case_of(ID[0])
    case.state = "resolved"
    db.session.execute(
        DuplicateMember.__table__.update()
        .where(DuplicateMember.case_id == case.id)
        .values(action="keep")
    )
    terminated = db.session.get(Enrollment, b)
    terminated.status, terminated.handled_case_id, terminated.handled_action = (
        "terminated",
        case.id,
        "terminate",
    )
    db.session.flush()
    run()
    assert case_of(ID[0]).state == "resolved"
    # A new record overlapping the kept one: the case reopens with it, history kept.
    c = record(ID[0], "employee", TINGHU, D(2027, 5, 1), continuous_months=24)
    result = run()
    assert result.reopened == 1
    case = case_of(ID[0])
    assert case.state == "open" and case.decided_by_id == 1
    found = members(case)
    assert set(found) == {a, b, c} and found[c][2] is None and found[a][2] == "keep"
    assert case.recommended_id == c and case.kind == "cross"
    assert db.session.get(Enrollment, b).handled_action == "terminate"


def test_a_region_scoped_run_touches_only_its_persons(ctx):
    record(ID[0], "resident", FUNING, D(2021, 1, 1))
    record(ID[0], "resident", XINGFU, D(2027, 1, 1))
    record(ID[1], "resident", "310115000000", D(2021, 1, 1))
    record(ID[1], "resident", "310101000000", D(2027, 1, 1))
    detect.detect_region(db.session.connection(), YEAR, prefix="320923", calendar=Calendar())
    db.session.expire_all()
    assert case_of(ID[0]) is not None and case_of(ID[1]) is None


def test_cli_and_job(app):
    with database(app):
        record(ID[0], "resident", FUNING, D(2021, 1, 1))
        record(ID[0], "resident", TINGHU, D(2027, 1, 1))
    result = app.test_cli_runner().invoke(args=["duplicates", "detect", "--year", str(YEAR)])
    assert result.exit_code == 0, result.output
    assert "新发现 1 例" in result.output
    with database(app):
        record(ID[1], "resident", FUNING, D(2021, 1, 1))
        record(ID[1], "resident", TINGHU, D(2027, 1, 1))
        from portal.jobs import queue

        queue.enqueue("duplicate_detection", {"year": YEAR, "full": True}, region_code=FUNING)
    run_jobs(app)
    found = fetch(app, select(DuplicateCase.id_number).where(DuplicateCase.year == YEAR))
    assert sorted(found) == sorted([ID[0], ID[1]])


def test_an_insured_import_detects_for_the_persons_it_touched(app, login):
    from portal.years.selection import current_year

    untouched, touched, single = ID[10], ID[11], ID[12]
    with database(app):
        # Already duplicated, but in no list imported now: left for a full detection.
        record(untouched, "resident", FUNING, D(2021, 1, 1))
        record(untouched, "resident", TINGHU, D(2021, 1, 1))
        # Insured in Tinghu as an employee; the Funing extract brings the resident record.
        record(touched, "employee", TINGHU, D(2015, 1, 1), employer_region_code=TINGHU)
    header = ["身份证号", "险种", "参保地", "参保日期", "人员类别", "享受待遇"]
    rows = [
        (touched, "居民医保", "320923", "2021-01-01", "灵活就业", "否"),
        (single, "居民医保", "320923", "2021-01-01", None, None),
    ]
    upload_kind(login("fn_staff"), "insured", workbook(header, rows))
    run_jobs(app)
    assert latest_batch(app).state == "succeeded"
    with app.app_context():
        year = current_year()
    cases = fetch(app, select(DuplicateCase).where(DuplicateCase.year == year))
    assert [c.id_number for c in cases] == [touched]
    assert (cases[0].kind, cases[0].rule, cases[0].missing) == (
        "cross",
        "cross_flexible",
        "benefits",
    )


def scoped_run() -> detect.DetectResult:
    """The scoped path (an import's or a region's): what changed is found in SQL first."""
    result = detect.detect_region(
        db.session.connection(), YEAR, prefix="320923", calendar=Calendar()
    )
    db.session.expire_all()
    return result


def test_a_scoped_run_evaluates_only_what_changed_and_misses_no_change(ctx):
    person(ID[20], XINGFU)
    a = record(ID[20], "resident", FUNING, D(2021, 1, 1))
    b = record(ID[20], "resident", TINGHU, D(2027, 1, 1))
    person(ID[21], XINGFU)
    record(ID[21], "employee", FUNING, D(2021, 1, 1))
    record(ID[21], "employee", TINGHU, D(2027, 1, 1))
    assert scoped_run().created == 2
    first = case_of(ID[20])
    assert (first.recommended_id, first.version) == (a, 1)  # lives in Funing: the Funing record
    # Nothing changed: both cases counted, neither rewritten.
    result = scoped_run()
    assert (result.found, result.created, result.refreshed, result.closed) == (2, 0, 0, 0)
    assert case_of(ID[20]).version == 1 and case_of(ID[21]).version == 1
    # The person moves to Tinghu (the register changes the person): the recommendation follows.
    db.session.scalar(
        select(Person).where(Person.id_number == ID[20])
    ).region_code = TINGHU_COMMUNITY
    db.session.flush()
    result = scoped_run()
    assert (result.found, result.refreshed) == (2, 1)
    assert (case_of(ID[20]).recommended_id, case_of(ID[21]).version) == (b, 1)
    # An extract gives the employer's place of one employee record (a fact the rule reads).
    employee = db.session.scalars(
        select(Enrollment).where(Enrollment.id_number == ID[21]).order_by(Enrollment.id)
    ).all()
    assert case_of(ID[21]).missing == "employment_place"
    employee[1].employer_region_code = TINGHU
    db.session.flush()
    assert scoped_run().refreshed == 1
    assert (case_of(ID[21]).recommended_id, case_of(ID[21]).missing) == (employee[1].id, None)
    # A new overlapping record of a decided case reopens it; a terminated record closes one.
    decided = case_of(ID[21])
    decided.state, decided.decided_by_id = "not_duplicate", 1
    db.session.get(Enrollment, b).status = "terminated"
    db.session.flush()
    record(ID[21], "resident", FUNING, D(2027, 2, 1))
    result = scoped_run()
    assert (result.found, result.reopened, result.closed) == (1, 1, 1)
    assert case_of(ID[21]).state == "open" and case_of(ID[20]).state == "resolved"
