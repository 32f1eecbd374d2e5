"""The maintained duplicate-enrollment figures (portal/duplicates/figures.py) equal direct
counts at every level, and a region's children plus its 本级 entry sum to the region."""

import io
import itertools
import random
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from portal.duplicates import figures as dup_figures
from portal.duplicates.models import FIGURES, DuplicateCase, DuplicateMember
from portal.extensions import db
from portal.regions.models import Region

YEAR = 2027
# Where records and cases sit: communities of two Funing streets, of Binhai county (a neighbour),
# a county-level insured place (padded) of Binhai and of Funing, the city level, Tinghu, Wuxi
# (another city) and Beijing (another province).
PLACES = (
    "320923001001",
    "320923001002",
    "320923002001",
    "320922001001",
    "320922000000",
    "320923000000",
    "320900000000",
    "320902001001",
    "320205001001",
    "110101001001",
)
LEVELS = ("320000000000", "320900000000", "320923000000", "320922000000", "320923001000")
_ids = itertools.count(910_000)


def make_case(
    places, *, kind="resident", state="open", deductions=0, year=YEAR, region=None
) -> DuplicateCase:
    """A case of `places` (one record each); counted at `region` or the first record's place."""
    number = next(_ids)
    case = DuplicateCase(
        year=year,
        id_number=f"{number:018d}",
        region_code=region or places[0],
        kind=kind,
        state=state,
        subsidy_deductions=deductions,
    )
    db.session.add(case)
    db.session.flush()
    schemes = {
        "employee": ["employee"],
        "resident": ["resident"],
        "cross": ["employee", "resident"],
    }
    for index, place in enumerate(places):
        db.session.add(
            DuplicateMember(
                case_id=case.id,
                enrollment_id=number * 10 + index,
                region_code=place,
                scheme=schemes[kind][index % len(schemes[kind])],
            )
        )
    db.session.flush()
    return case


def touched(cases) -> set[str]:
    return dup_figures.codes_of_cases(db.session.connection(), [c.id for c in cases])


def expected(region_prefix: str, year: int = YEAR) -> dict[str, int]:
    """Counted in Python from the ORM objects: the independent truth."""
    result = dict.fromkeys(FIGURES, 0)
    for case in db.session.query(DuplicateCase).filter_by(year=year):
        if case.region_code.startswith(region_prefix):
            result["cases"] += 1
            result[f"cases_{case.kind}"] += 1
            result[case.state] += 1
            if case.state != "not_duplicate":
                result["subsidy_deductions"] += case.subsidy_deductions
    members = (
        db.session.query(DuplicateMember)
        .join(DuplicateCase, DuplicateCase.id == DuplicateMember.case_id)
        .filter(DuplicateCase.year == year)
    )
    result["records"] = sum(1 for m in members if m.region_code.startswith(region_prefix))
    return result


def assert_exact(year: int = YEAR) -> None:
    connection = db.session.connection()
    assert dup_figures.differences(connection, year) == {}
    for code in LEVELS:
        region = db.session.get(Region, code)
        whole = dup_figures.region_duplicates(code, year)
        assert whole.as_dict() == expected(region.prefix, year), code
        entries = dup_figures.child_duplicates(code, year)
        total = dup_figures.DuplicateFigures()
        for _, figures in entries:
            total = total + figures
        assert total.as_dict() == whole.as_dict(), code


def test_refresh_keeps_the_figures_equal_to_direct_counts(ctx):
    connection = db.session.connection()
    cases = [
        make_case(["320923001001", "320922001001"], deductions=1),  # across two counties
        make_case(["320923001002", "320923000000"], kind="employee"),
        make_case(["320922000000", "320902001001"], kind="cross", region="320922000000"),
        make_case(["320923002001", "110101001001", "320205001001"], deductions=2),
    ]
    dup_figures.refresh(connection, YEAR, touched(cases))
    assert_exact()

    # A decision: resolved, another found not to be a duplicate (its deduction no longer counts).
    before = touched(cases[:2])
    cases[0].state = "resolved"
    cases[1].state = "not_duplicate"
    cases[1].subsidy_deductions = 1
    db.session.flush()
    assert dup_figures.differences(connection, YEAR)  # stale until refreshed
    dup_figures.refresh(connection, YEAR, before)
    assert_exact()

    # The case moves (another community counts it): refresh the codes before and after.
    before = touched(cases[2:3])
    cases[2].region_code = "320923001001"
    db.session.flush()
    dup_figures.refresh(connection, YEAR, before | touched(cases[2:3]))
    assert_exact()

    # A case dropped by a new detection run (its records no longer overlap): rows become zeros.
    before = touched(cases[3:])
    db.session.query(DuplicateMember).filter_by(case_id=cases[3].id).delete()
    db.session.delete(cases[3])
    db.session.flush()
    dup_figures.refresh(
        connection,
        YEAR,
        codes_sql=" UNION ".join(f"SELECT '{code}' AS region_code" for code in sorted(before)),
    )
    assert_exact()
    assert dup_figures.region_duplicates("110000000000", YEAR).cases == 0


def test_the_county_level_place_is_the_county_s_own_row(ctx):
    connection = db.session.connection()
    cases = [
        make_case(["320922000000", "320923001001"], kind="cross", deductions=1),
        make_case(["320922001001", "320923001001"]),
    ]
    dup_figures.refresh(connection, YEAR, touched(cases))
    entries = dup_figures.child_duplicates("320922000000", YEAR)
    own = [figures for child, figures in entries if child is None]
    assert len(own) == 1 and own[0].cases == 1 and own[0].cases_cross == 1
    assert own[0].records == 1 and own[0].subsidy_deductions == 1
    east = dict((child.code, f) for child, f in entries if child is not None)["320922001000"]
    assert (east.cases, east.records) == (1, 1)
    # In the city, the county-level place lies under its county (no 本级 entry).
    city = dup_figures.child_duplicates("320900000000", YEAR)
    assert all(child is not None for child, _ in city)
    binhai = dict((c.code, f) for c, f in city)["320922000000"]
    assert (binhai.cases, binhai.records) == (2, 2)
    funing = dict((c.code, f) for c, f in city)["320923000000"]
    assert (funing.cases, funing.records) == (0, 2)
    # A region without children (a community) has no child entries.
    assert dup_figures.child_duplicates("320923001001", YEAR) == []
    assert_exact()


def test_rebuild_repairs_and_other_years_stay_apart(ctx):
    connection = db.session.connection()
    make_case(["320923001001", "320922001001"], deductions=1)
    make_case(["320923001002", "320923002001"], kind="employee", year=YEAR - 1)
    connection.execute(
        text(
            "INSERT INTO duplicate_figures (year, region_code, refreshed_at, cases) "
            "VALUES (:year, '320902001001', CURRENT_TIMESTAMP, 5)"
        ),
        {"year": YEAR},
    )  # a stale row nobody's case explains
    assert set(dup_figures.differences(connection, YEAR)) == {
        "320902001001",
        "320922001001",
        "320923001001",
    }
    assert dup_figures.rebuild(connection) == [YEAR - 1, YEAR]
    assert dup_figures.differences(connection, YEAR) == {}
    assert dup_figures.differences(connection, YEAR - 1) == {}
    assert_exact(YEAR)
    assert_exact(YEAR - 1)
    assert dup_figures.region_duplicates("320923000000", YEAR - 1).cases_employee == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writers_keep_every_level_exact(ctx, seed):
    """Random cases, decisions and moves, each followed by the writer's refresh."""
    rng = random.Random(seed)
    connection = db.session.connection()
    cases = []
    for _ in range(25):
        step = rng.random()
        if step < 0.5 or not cases:
            places = rng.sample(PLACES, rng.choice((2, 2, 3)))
            kind = rng.choice(("employee", "resident", "cross"))
            case = make_case(places, kind=kind, deductions=rng.choice((0, 0, 1, 2)))
            cases.append(case)
            dup_figures.refresh(connection, YEAR, touched([case]))
        elif step < 0.8:
            case = rng.choice(cases)
            before = touched([case])
            case.state = rng.choice(("open", "resolved", "not_duplicate"))
            db.session.flush()
            dup_figures.refresh(connection, YEAR, before)
        else:
            case = rng.choice(cases)
            before = touched([case])
            case.region_code = rng.choice(PLACES)
            db.session.flush()
            dup_figures.refresh(connection, YEAR, before | touched([case]))
        assert dup_figures.differences(connection, YEAR) == {}
    assert_exact()


def test_stats_rebuild_and_verify_cover_the_duplicate_figures(app):
    runner = app.test_cli_runner()
    with app.app_context():
        make_case(["320923001001", "320922001001"], kind="cross", deductions=1)
        db.session.commit()  # not refreshed: the figures are stale
    result = runner.invoke(args=["stats", "verify"])
    assert result.exit_code == 1
    assert "区划 320923001001 重复参保统计不一致" in result.output
    assert "区划 320922001001 重复参保统计不一致" in result.output
    result = runner.invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"重复参保统计：{YEAR} 年度" in result.output
    result = runner.invoke(args=["stats", "verify"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert dup_figures.region_duplicates("320900000000", YEAR).cases_cross == 1


def _figure(html: str, key: str) -> str:
    match = re.search(rf'data-figure="{key}">(.*?)</dd>', html, re.S)
    assert match, key
    return re.sub(r"<[^>]+>", "", match.group(1)).split()[0]


def test_the_dashboard_shows_the_duplicate_figures_and_the_children_s_open_cases(app, login):
    from portal.years.selection import current_year
    from tests.dashboard_helpers import child_table
    from tests.helpers import database

    with app.app_context():
        year = current_year()
    with database(app) as session:
        cases = [
            make_case(["320923001001", "320922001001"], deductions=1, year=year),
            make_case(["320923001002", "320923000000"], kind="cross", year=year),
            make_case(["320923000000", "320923002001"], kind="employee", year=year),
            make_case(["320923002001", "320923001001"], state="resolved", year=year),
            make_case(
                ["320923001001", "320923001002"], state="not_duplicate", deductions=1, year=year
            ),
        ]
        dup_figures.refresh(session.connection(), year, touched(cases))
    client = login("fn_staff")
    html = client.get(f"/dashboard/320923000000?year={year}").get_data(as_text=True)
    assert "重复参保" in html
    found = {k: _figure(html, k) for k in ("employee", "resident", "cross", "cases")}
    assert found == {"employee": "1", "resident": "3", "cross": "1", "cases": "5"}
    states = {k: _figure(html, k) for k in ("open", "resolved", "not_duplicate")}
    assert states == {"open": "3", "resolved": "1", "not_duplicate": "1"}
    assert _figure(html, "subsidy_deductions") == "1"
    assert _figure(html, "records") == "9"  # one of the ten records is insured in Binhai
    # The county-level place (a record insured at 阜宁县 itself, a case counted there) is 本级.
    assert "其中本级" in html and "1 件，参保记录 2 人次，未办结 1 件" in html
    table = child_table(html)
    assert table.rows["320923001000"]["duplicates_open"].text == "2"
    assert table.rows["320923002000"]["duplicates_open"].text == "0"
    assert table.rows["total"]["duplicates_open"].text == "3"  # children 2 + 本级 1
    # Binhai's county staff would see the shared case in the worklist; its own figures count the
    # record insured there, not the case (counted in Funing, the person's community).
    with app.app_context():
        binhai = dup_figures.region_duplicates("320922000000", year)
        assert (binhai.cases, binhai.records) == (0, 1)
    # A township: its communities, no 本级.
    html = client.get(f"/dashboard/320923001000?year={year}").get_data(as_text=True)
    assert _figure(html, "cases") == "3" and "其中本级" not in html
    table = child_table(html)
    assert table.rows["320923001001"]["duplicates_open"].text == "1"
    # Each figure links to the worklist filtered alike, where the worklist exists.
    if "duplicates.index" in app.view_functions:
        link = re.search(r'data-figure="open">.*?href="([^"]+)"', html, re.S).group(1)
        query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
        assert query == {"stage": ["open"], "region": ["320923001000"], "year": [str(year)]}
        listed = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
        assert len(set(re.findall(r'href="/duplicates/(\d+)"', listed))) == 2


def test_the_export_carries_the_open_duplicate_cases(app, login):
    from openpyxl import load_workbook

    from portal.years.selection import current_year
    from tests.helpers import database

    with app.app_context():
        year = current_year()
    with database(app) as session:
        cases = [make_case(["320923001001", "320922001001"], year=year)]
        dup_figures.refresh(session.connection(), year, touched(cases))
    response = login("fn_staff").get(f"/dashboard/320923000000/export.xlsx?year={year}")
    rows = [
        list(r) for r in load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)
    ]
    index = rows[1].index("重复参保未办结")
    by_code = {r[1]: r[index] for r in rows[2:]}
    assert by_code["320923001000"] == 1 and by_code["320923002000"] == 0
    assert by_code["320923000000"] == 1  # the 合计 row


def test_detection_and_decisions_keep_the_figures_exact(ctx):
    """The real writers: detection over enrollment records, then a four-eyes decision and a
    "not a duplicate", each refreshing the figures in its transaction."""
    from datetime import date

    from sqlalchemy import select

    from portal.accounts.models import User
    from portal.duplicates import detect, service
    from portal.persons.models import Enrollment
    from tests.factories import make_id, person

    def record(number, place, scheme="resident", start=date(2026, 1, 1)):
        db.session.add(
            Enrollment(
                id_number=number,
                scheme=scheme,
                region_code=place,
                start_date=start,
                status="normal",
            )
        )

    numbers = [make_id(seq, birth="19900101") for seq in range(1, 5)]
    for number, community in zip(numbers, PLACES[:4], strict=True):
        if community.startswith("320923"):
            person(number, region=community)
    record(numbers[0], "320923000000")
    record(numbers[0], "320922000000")  # a neighbouring county: resident twice
    record(numbers[1], "320923000000")
    record(numbers[1], "320923000000", scheme="employee", start=date(2019, 7, 1))  # across
    record(numbers[2], "320923000000")
    record(numbers[2], "320902000000")
    record(numbers[3], "320922000000")  # nobody's register: counted at a record's place
    record(numbers[3], "320922001001")
    db.session.flush()
    connection = db.session.connection()
    detect.detect_region(connection, YEAR)
    cases = db.session.scalars(select(DuplicateCase).where(DuplicateCase.year == YEAR)).all()
    assert len(cases) == 4
    assert_exact()
    assert dup_figures.region_duplicates("320923000000", YEAR).cases == 3
    assert dup_figures.region_duplicates("320922000000", YEAR).records == 3

    def user(name):
        return db.session.scalar(select(User).where(User.username == name))

    by_number = {c.id_number: c for c in cases}
    decided, cleared = by_number[numbers[0]], by_number[numbers[2]]
    members = service.members_of([decided.id])[decided.id]
    actions = service.suggested_actions(decided, members)
    service.propose(user("fn_staff"), decided, members, actions, "重复", version=decided.version)
    service.confirm(user("yc_staff"), decided, members, version=decided.version)
    members = service.members_of([cleared.id])[cleared.id]
    service.propose_not_duplicate(user("fn_staff"), cleared, members, "非重复", version=1)
    service.confirm(user("yc_staff"), cleared, members, version=cleared.version)
    assert_exact()
    funing = dup_figures.region_duplicates("320923000000", YEAR)
    assert (funing.open, funing.resolved, funing.not_duplicate) == (1, 1, 1)
    # A detection run again changes nothing that was decided, and the figures stay exact.
    detect.detect_region(connection, YEAR)
    assert_exact()
    assert dup_figures.region_duplicates("320923000000", YEAR).resolved == 1
