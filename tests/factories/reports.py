"""A realistic world for the report forms (tests/test_report_forms*.py and the submission
workflow's tests): persons of two Funing streets compared for COMPARED_YEAR — insured by each
scheme and by both, uninsured with a reason, without one, never filed, in key populations, one
excluded — and duplicate cases of both kinds, one resolved, one open, one not a duplicate."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from portal.duplicates import figures as duplicate_figures
from portal.duplicates.models import DuplicateCase, DuplicateMember
from portal.extensions import db
from portal.persons.codes import KEY_POPULATION_BY_CODE
from portal.persons.models import Person, PersonFile
from portal.stats import maintain
from tests.factories.comparisons import COMPARED_YEAR, enroll, person, run
from tests.factories.ids import make_id
from tests.factories.places import FUNING, WUTAN, XINGFU, XINSHENG

FUCHENG = "320923001000"  # 阜城街道
WUTAN_STREET = "320923002000"  # 吴滩街道
YANCHENG = "320900000000"


def bits(*codes: str) -> int:
    return sum(KEY_POPULATION_BY_CODE[code].bit for code in codes)


@dataclass
class ReportWorld:
    year: int
    insured: list[str]
    uninsured: list[str]
    cases: list[DuplicateCase]


def build_report_world(start: int = 700) -> ReportWorld:
    """Persons, one comparison of Funing, file reasons, duplicate cases; figures maintained."""
    numbers = iter(range(start, start + 100))

    def new(region, *, keys=(), phone=None, register=True, name="测试") -> str:
        id_number = make_id(next(numbers), birth="19800101")
        p = person(id_number, region, name=name, in_register=register)
        p.in_resident_list = not register
        p.key_populations = bits(*keys)
        p.phone = phone
        return id_number

    insured, uninsured = [], []
    for region, scheme in ((XINGFU, "employee"), (XINGFU, "resident"), (XINSHENG, "resident")):
        id_number = new(region)
        enroll(id_number, scheme=scheme)
        insured.append(id_number)
    both = new(XINSHENG, keys=("student",))  # insured by both schemes: counted once
    enroll(both, scheme="employee")
    enroll(both, scheme="resident", region=XINSHENG)
    insured.append(both)
    elsewhere = new(WUTAN, register=False)  # on the resident list only, insured in 亭湖区
    enroll(elsewhere, region="320902001001")
    insured.append(elsewhere)
    for region, keys in (
        (XINGFU, ("extreme_poverty", "minimum_allowance")),  # in two key populations
        (XINGFU, ("lapsed_payer",)),
        (XINGFU, ()),
        (XINSHENG, ("student",)),
        (WUTAN, ("migrant_worker",)),
        (WUTAN, ()),
    ):
        uninsured.append(new(region, keys=keys, phone="13812345678"))
    named_otherwise = new(XINGFU, name="李四")  # insured, the record names them otherwise
    enroll(named_otherwise, name="李思")
    insured.append(named_otherwise)
    gone = new(XINSHENG)  # excluded (deceased): out of the must-insure population
    run(FUNING, COMPARED_YEAR, run_id=71)
    db.session.execute(
        Person.__table__.update()
        .where(Person.id_number == gone)
        .values(excluded_reason="deceased", insured_status="uninsured")
    )
    # Reasons on the files the comparison opened: two with a reason, the rest without.
    reasons = {uninsured[0]: "hardship", uninsured[4]: "away_working"}
    for id_number, reason in reasons.items():
        file = db.session.scalar(
            select(PersonFile)
            .join(Person, Person.id == PersonFile.person_id)
            .where(Person.id_number == id_number, PersonFile.year == COMPARED_YEAR)
        )
        file.reason_code = reason
    # One uninsured person never filed this year (on the list after the comparison).
    uninsured.append(new(WUTAN, keys=("newborn",)))
    db.session.flush()
    maintain.refresh(db.session.connection(), prefix="320923", years=[COMPARED_YEAR])
    cases = [
        _case(901, XINGFU, "cross", "resolved", [XINGFU, "320923000000"], deductions=1),
        _case(902, XINSHENG, "resident", "open", [XINSHENG, "320922001001"]),
        _case(903, WUTAN, "employee", "resolved", [WUTAN, "320902001001"]),
        _case(904, WUTAN, "resident", "not_duplicate", [WUTAN, XINGFU], deductions=1),
        _case(905, "320923000000", "resident", "open", ["320923000000", XINGFU]),  # 本级
    ]
    codes = duplicate_figures.codes_of_cases(db.session.connection(), [c.id for c in cases])
    duplicate_figures.refresh(db.session.connection(), COMPARED_YEAR, codes)
    db.session.flush()
    return ReportWorld(COMPARED_YEAR, insured, uninsured, cases)


def _case(seq, region, kind, state, places, deductions=0) -> DuplicateCase:
    case = DuplicateCase(
        year=COMPARED_YEAR,
        id_number=make_id(seq),
        region_code=region,
        kind=kind,
        state=state,
        subsidy_deductions=deductions,
        detected_at=date(2026, 11, 1),
    )
    db.session.add(case)
    db.session.flush()
    schemes = {"employee": "employee", "resident": "resident"}
    for index, place in enumerate(places):
        scheme = schemes.get(kind) or ("employee", "resident")[index % 2]
        db.session.add(
            DuplicateMember(
                case_id=case.id, enrollment_id=seq * 10 + index, region_code=place, scheme=scheme
            )
        )
    db.session.flush()
    return case


__all__ = [
    "FUCHENG",
    "WUTAN_STREET",
    "YANCHENG",
    "ReportWorld",
    "bits",
    "build_report_world",
]
