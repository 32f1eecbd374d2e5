"""Who counts as insured for insurance year N: a normal record overlapping the calendar year N
that applies to the person (no voucher, or vouched by a region holding the person); identity
mismatches counted; the insured place kept, the person's own county first."""

from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.persons.models import Person
from portal.persons.names import normalize_name
from tests.factories import enroll, make_id, person, run

TODAY = date(2026, 12, 2)
YEAR = 2027
NANJING = "320102000000"  # a district of Nanjing: another city


def status(id_number):
    p = db.session.scalar(select(Person).where(Person.id_number == id_number))
    db.session.refresh(p)
    return p.insured_status, p.insured_region_code


A, B, C, D, E, F = (make_id(n, birth="19900101") for n in (11, 12, 13, 14, 15, 16))


def test_a_record_vouched_by_the_persons_county_counts_one_vouched_by_another_does_not(ctx):
    person(A)  # works in Nanjing, insured there; Funing's extract vouches for the record
    enroll(A, NANJING, vouched="320923")
    person(B)  # a Nanjing record vouched by Tinghu (another county): not Funing's to vouch
    enroll(B, NANJING, vouched="320902")
    person(C)  # the insured place's own office imported it: counts for whoever the person is
    enroll(C, NANJING)
    result = run(year=YEAR, today=TODAY)
    assert (result["persons"], result["insured"], result["opened"]) == (3, 2, 1)
    assert status(A) == ("insured", NANJING)
    assert status(B) == ("uninsured", None)
    assert status(C) == ("insured", NANJING)


def test_the_order_of_the_lists_does_not_matter(ctx):
    """The extract came first (no person yet): the record counts once the register arrives."""
    enroll(A, NANJING, vouched="320923")
    db.session.flush()
    assert run(year=YEAR, run_id=1, today=TODAY)["persons"] == 0
    person(A)
    assert run(year=YEAR, run_id=2, today=TODAY)["insured"] == 1


def test_the_insured_place_prefers_the_persons_own_county(ctx):
    person(A)
    enroll(A, NANJING)
    enroll(A, "320923001000", scheme="employee")
    run(year=YEAR, today=TODAY)
    assert status(A) == ("insured", "320923001000")


def test_the_coverage_period_is_the_calendar_year_of_the_insurance_year(ctx):
    person(A)  # covered until the end of 2026 only: uninsured for 2027
    enroll(A, end=date(2026, 12, 31))
    person(B)  # paid for 2027 during the collection period
    enroll(B, start=date(2027, 1, 1), end=date(2027, 12, 31))
    person(C)  # a suspended record does not count
    enroll(C, status="suspended")
    result = run(year=YEAR, today=TODAY)
    assert (result["insured"], result["opened"]) == (1, 2)
    assert status(B)[0] == "insured"
    assert run(year=2026, run_id=2, today=TODAY)["insured"] == 1  # for 2026: A, not yet B
    assert status(A)[0] == "insured" and status(B)[0] == "uninsured"


def test_identity_mismatches_are_counted_not_refused(ctx):
    person(A, name="张 三")  # the register writes a space; the extract's name is normalised
    enroll(A, name=normalize_name("张　三"))
    person(B, name="李四")
    enroll(B, name="李 肆".replace(" ", ""))  # another name: a mismatch, still insured
    person(C, name="王五")
    enroll(C, name=None)  # no name given: nothing to compare
    person(D, name="赵六")  # a record of another year with a different name counts as well
    enroll(D, name="赵陆", start=date(2020, 1, 1), end=date(2020, 12, 31))
    person(E, name="孙七")  # a record vouched by another county is not this person's record
    enroll(E, NANJING, vouched="320902", name="孙其")
    result = run(year=YEAR, today=TODAY)
    assert result["mismatched"] == 2
    assert result["insured"] == 3


@pytest.mark.no_db
def test_normalize_name_removes_every_space():
    assert normalize_name(" 张\u3000三\u00a0") == "张三"
    assert normalize_name(" \u3000 ") is None
    assert normalize_name(None) is None
