"""The maintained figures (portal/stats/): exact after every writer, rebuild and verify."""

import itertools
import uuid
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from portal.accounts.models import User
from portal.comparisons.operations import compare
from portal.desk import assignment
from portal.duplicates import figures as duplicate_figures
from portal.extensions import db
from portal.persons import operations as person_ops
from portal.persons.models import Person, PersonFile
from portal.regions.models import Region
from portal.stats import activity, maintain
from portal.stats.counts import Counts, direct_counts
from portal.stats.figures import child_figures, region_figures
from portal.visits import operations as visit_ops
from portal.visits import review
from portal.visits.models import Visit
from tests.factories import COMPARED_YEAR as YEAR
from tests.factories import (
    enroll,
    insured_workbook,
    key_population_workbook,
    make_id,
    person,
    run,
    run_jobs,
    upload_kind,
    workbook,
)

pytest_plugins = ["tests.desk_fixtures"]  # make_file

COUNTY = "320923000000"


def stored(year: int, prefix: str = "") -> dict[str, Counts]:
    lo, hi = prefix.ljust(12, "0"), prefix.ljust(12, "9")
    rows = db.session.execute(
        text(
            "SELECT * FROM community_figures WHERE year = :year AND region_code BETWEEN :lo AND :hi"
        ),
        {"year": year, "lo": lo, "hi": hi},
    ).mappings()
    return {row["region_code"]: Counts.from_columns(row) for row in rows}


def assert_exact(year: int) -> None:
    connection = db.session.connection()
    assert maintain.differences(connection, prefix="", year=year) == {}


def test_a_comparison_keeps_the_figures_exact(ctx):
    for i in range(5):
        person(make_id(i, birth="19800101"))
    person(make_id(9, birth="19800101"), region="320923002001")
    enroll(make_id(0, birth="19800101"))
    run()
    assert YEAR in maintain.built_years(db.session.connection())
    assert_exact(YEAR)
    figures = region_figures(COUNTY, YEAR)
    assert (figures.persons, figures.insured, figures.uninsured) == (6, 1, 5)
    assert figures.files["unassigned"] == 5 and figures.open_reasons["none"] == 5
    assert figures.coverage == 1 / 6
    assert figures.as_of is not None
    children = child_figures(COUNTY, YEAR)
    total = None
    for _child, each in children:
        total = each if total is None else total + each
    assert total == figures
    fucheng = dict((c.code, f) for c, f in children)["320923001000"]
    assert fucheng.persons == 5
    assert direct_counts(db.session.connection(), "320923001", YEAR)["320923001001"] == fucheng


# --- the property: exact after any sequence of writers ------------------------------------------


FUCHENG = "320923001000"
COMMUNITIES = ("320923001001", "320923001002", "320923001003", "320923002001")
CHAIN = ("320000000000", "320900000000", COUNTY, FUCHENG)
_serial = itertools.count(1)


def household_workbook(rows) -> bytes:
    return workbook(["姓名", "公民身份号码", "村（社区）代码"], rows)


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _persons() -> list[Person]:
    return db.session.scalars(
        select(Person)
        .where(Person.region_code.between(COUNTY[:6] + "000000", COUNTY[:6] + "999999"))
        .order_by(Person.id)
    ).all()


def step_household(app, client, data):
    """A register: new persons, and some known ones placed in another community."""
    rows = []
    for _ in range(data.draw(st.integers(1, 4))):
        n = next(_serial)
        rows.append(
            (
                f"人{n}",
                make_id(n % 900 + 1, birth=f"19{50 + n // 900 % 49}0101"),
                data.draw(st.sampled_from(COMMUNITIES)),
            )
        )
    move, index, community = data.draw(
        st.tuples(st.booleans(), st.integers(0, 10**6), st.sampled_from(COMMUNITIES))
    )
    with app.test_request_context():
        known = [(p.name, p.id_number) for p in _persons()]
    if move and known:
        name, number = known[index % len(known)]
        rows.append((name, number, community))
    upload_kind(client, "household", household_workbook(rows), name=f"户籍{next(_serial)}.xlsx")
    run_jobs(app)


def step_resident(app, client, data):
    """A resident list: new persons living here, and known ones living elsewhere now."""
    n = next(_serial)
    index, community, new_community = data.draw(
        st.tuples(st.integers(0, 10**6), st.sampled_from(COMMUNITIES), st.sampled_from(COMMUNITIES))
    )
    rows = [(f"住{n}", make_id(n % 900 + 1, birth=f"19{50 + n // 900 % 49}0202"), new_community)]
    with app.test_request_context():
        known = [(p.name, p.id_number) for p in _persons()]
    if known:
        name, number = known[index % len(known)]
        rows.append((name, number, community))
    upload_kind(client, "resident", household_workbook(rows), name=f"常住{next(_serial)}.xlsx")
    run_jobs(app)


def step_key_population(app, client, data):
    """A key-population list: government-paid groups (and one that is not) for known persons."""
    picks = data.draw(
        st.lists(
            st.tuples(st.integers(0, 10**6), st.sampled_from(["低保", "特困供养人员", "在校学生"])),
            min_size=1,
            max_size=3,
        )
    )
    with app.test_request_context():
        known = [(p.name, p.id_number) for p in _persons()]
    if not known:
        return
    rows = sorted({known[n % len(known)]: group for n, group in picks}.items())
    content = key_population_workbook([(name, number, group) for (name, number), group in rows])
    upload_kind(client, "key_population", content, name=f"重点{next(_serial)}.xlsx")
    run_jobs(app)


def step_insured(app, client, data):
    """An insured extract for some known persons (one named otherwise: a mismatch)."""
    picks = data.draw(
        st.lists(
            st.tuples(st.integers(0, 10**6), st.booleans(), st.sampled_from(["320923", "320902"])),
            min_size=1,
            max_size=4,
        )
    )
    with app.test_request_context():
        known = [(p.name, p.id_number) for p in _persons()]
    if not known:
        return
    chosen = {known[n % len(known)]: (same, place) for n, same, place in picks}
    rows = []
    for (name, number), (same, place) in sorted(chosen.items()):
        shown = name if same else name + "某"
        rows.append((shown, number, "城乡居民基本医疗保险", place, "2026-01-01", None, "正常"))
    upload_kind(client, "insured", insured_workbook(rows), name=f"参保{next(_serial)}.xlsx")
    run_jobs(app)


# Each step draws what it needs before it reads the database: the examples share the database,
# and hypothesis replays an example only if its draws do not depend on what the database holds.


def step_e_credential(app, client, data):
    """An e-credential activation list: known persons (and one nobody knows: sent back)."""
    picks = data.draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=3))
    with app.test_request_context():
        known = [p.id_number for p in _persons()]
    if not known:
        return
    numbers = sorted({known[n % len(known)] for n in picks})
    rows = [(number, None, "2026-10-08") for number in numbers]
    rows.append((make_id(next(_serial) % 900 + 1, birth="19300101"), "无此人", None))
    content = workbook(["身份证号码", "姓名", "激活日期"], rows)
    upload_kind(client, "e_credential", content, name=f"激活{next(_serial)}.xlsx")
    run_jobs(app)


def step_compare(app, client, data):
    year = data.draw(st.sampled_from([2026, 2027]))
    with app.test_request_context():
        region = db.session.get(Region, data.draw(st.sampled_from([COUNTY, FUCHENG])))
        compare(region, year, run_id=next(_serial), user_id=None, today=date.today())
        db.session.commit()


def step_assign(app, client, data):
    with app.test_request_context():
        township = db.session.get(Region, FUCHENG)
        try:
            assignment.auto_assign(_user("fc_supervisor"), township)
        except assignment.AssignmentRefused:
            pass
        db.session.commit()


def step_handover(app, client, data):
    with app.test_request_context():
        township = db.session.get(Region, FUCHENG)
        leaving, receiving = data.draw(st.permutations(["fc_grid1", "fc_grid2"]))
        try:
            assignment.handover(
                _user("fc_supervisor"), township, _user(leaving).id, _user(receiving).id
            )
        except assignment.AssignmentRefused:
            pass
        db.session.commit()


def step_visit(app, client, data):
    index = data.draw(st.integers(0, 10**6))
    outcome = data.draw(
        st.sampled_from(["paid_today", "unreachable", "deceased", "declined", "wrong_info"])
    )
    activated = data.draw(st.booleans())  # 帮助激活医保电子凭证 ticked
    with app.test_request_context():
        files = db.session.scalars(
            select(PersonFile)
            .where(PersonFile.state.in_(("assigned", "following")))
            .order_by(PersonFile.id)
        ).all()
        if not files:
            return
        file = files[index % len(files)]
        worker = db.session.get(User, file.assignee_id)
        visit = visit_ops.VisitInput(
            method="home",
            outcome=outcome,
            idempotency_key=str(uuid.uuid4()),
            version=file.version,
            reason_code="hardship" if outcome == "declined" else None,
            activated_e_credential=activated,
        )
        try:
            visit_ops.record_visit(worker, file, visit)
        except (visit_ops.VisitRefused, visit_ops.VisitConflict):
            pass
        db.session.commit()


def step_review(app, client, data):
    index = data.draw(st.integers(0, 10**6))
    decision = data.draw(st.sampled_from(["approve", "return"]))
    with app.test_request_context():
        pending = db.session.scalars(
            select(Visit).where(Visit.review_state == "pending").order_by(Visit.id)
        ).all()
        if not pending:
            return
        visit = pending[index % len(pending)]
        try:
            review.decide(_user("fc_supervisor"), visit, decision, "请核实")
        except review.ReviewRefused:
            pass
        db.session.commit()


def step_edit(app, client, data):
    index = data.draw(st.integers(0, 10**6))
    values = person_ops.EditValues(
        e_credential=data.draw(st.booleans()),
        key_populations=data.draw(st.sampled_from([0, 1, 2, 1 << 7])),
        region_code=data.draw(st.sampled_from(COMMUNITIES)),
    )
    with app.test_request_context():
        persons = _persons()
        if not persons:
            return
        person = persons[index % len(persons)]
        try:
            person_ops.update_person(
                _user("fn_staff"), person, values, version=person.version, token=None
            )
        except person_ops.EditConflict:
            pass
        db.session.commit()


def step_detect(app, client, data):
    """Duplicate detection in full (the import runs it for the persons it named)."""
    from portal.duplicates import detect

    year = data.draw(st.sampled_from([2026, 2027]))
    with app.test_request_context():
        detect.detect_region(db.session.connection(), year)
        db.session.commit()


def step_decide(app, client, data):
    """A duplicate case decided with four eyes: fn_staff proposes (the recommendation, or "not a
    duplicate"), yc_staff (a level above both sides) confirms; the decision refreshes the
    figures."""
    from portal.duplicates import service
    from portal.duplicates.models import DuplicateCase

    pick, not_duplicate = data.draw(st.tuples(st.integers(0, 10**6), st.booleans()))
    with app.test_request_context():
        cases = db.session.scalars(
            select(DuplicateCase)
            .where(DuplicateCase.state == "open", DuplicateCase.proposed_by_id.is_(None))
            .order_by(DuplicateCase.id)
        ).all()
        if not cases:
            return
        case = cases[pick % len(cases)]
        members = service.members_of([case.id])[case.id]
        proposer, confirmer = _user("fn_staff"), _user("yc_staff")
        try:
            if not_duplicate:
                service.propose_not_duplicate(
                    proposer, case, members, "属性测试", version=case.version
                )
            else:
                actions = service.suggested_actions(case, members)
                service.propose(proposer, case, members, actions, "属性测试", version=case.version)
            service.confirm(confirmer, case, members, version=case.version)
        except service.DecisionRefused:
            db.session.rollback()
            return
        db.session.commit()


STEPS = {
    "household": step_household,
    "resident": step_resident,
    "key_population": step_key_population,
    "e_credential": step_e_credential,
    "insured": step_insured,
    "compare": step_compare,
    "assign": step_assign,
    "handover": step_handover,
    "visit": step_visit,
    "review": step_review,
    "edit": step_edit,
    "detect": step_detect,
    "decide": step_decide,
}


def check_everything(app) -> None:
    """Every maintained row equals a direct count; every region of the chain equals the sum of
    its children and the direct count of its subtree; the visits and conversions per day equal
    a direct count, and a region's sum over all days is its children's."""
    with app.test_request_context():
        connection = db.session.connection()
        assert activity.differences(connection, prefix="32") == {}
        since, until = date(2020, 1, 1), date.today() + timedelta(days=1)
        for code in CHAIN:
            total = activity.activity(code, since, until)
            parts = [activity.activity(c.code, since, until) for c, _ in child_figures(code, 2026)]
            assert tuple(map(sum, zip(*parts, strict=True))) == total, code
        for year in sorted(set(maintain.built_years(connection)) | {2026, 2027}):
            assert maintain.differences(connection, prefix="32", year=year) == {}, year
            for code in CHAIN:
                parent = region_figures(code, year)
                children = [f for _, f in child_figures(code, year)]
                assert sum(children, Counts()) == parent, (code, year)
                region = db.session.get(Region, code)
                direct = sum(direct_counts(connection, region.prefix, year).values(), Counts())
                assert direct == parent, (code, year)
        # The duplicate-enrollment figures (portal/duplicates/figures.py): exact, and each
        # region is its children plus its own level (本级).
        for year in (2026, 2027):
            assert duplicate_figures.differences(connection, year) == {}, year
            for code in CHAIN:
                parent = duplicate_figures.region_duplicates(code, year)
                parts = [f for _, f in duplicate_figures.child_duplicates(code, year)]
                total = sum(parts, duplicate_figures.DuplicateFigures())
                assert total.as_dict() == parent.as_dict(), (code, year)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_figures_stay_exact_under_any_sequence_of_writers(app, login, data):
    client = login("fn_staff")
    for name in data.draw(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=8)):
        STEPS[name](app, client, data)
        check_everything(app)


def test_rebuild_and_verify_from_the_command_line(app):
    runner = app.test_cli_runner()
    with app.app_context():
        db.session.add(
            Person(
                id_number=make_id(1, birth="19800202"),
                name="命令",
                sex="1",
                birth_date=date(1980, 2, 2),
                region_code="320923001001",
                in_register=True,
            )
        )
        db.session.commit()
    result = runner.invoke(args=["stats", "rebuild", "--region", COUNTY])
    assert result.exit_code == 0, result.output
    assert "已重算" in result.output
    result = runner.invoke(args=["stats", "verify", "--region", COUNTY])
    assert result.exit_code == 0, result.output
    assert "核对无误" in result.output
    with app.app_context():
        db.session.execute(
            text(
                "UPDATE community_figures SET persons = persons + 7 "
                "WHERE region_code = '320923001001'"
            )
        )
        db.session.commit()
    result = runner.invoke(args=["stats", "verify"])
    assert result.exit_code == 1
    assert "社区 320923001001 不一致" in result.output and "persons" in result.output
    assert runner.invoke(args=["stats", "rebuild"]).exit_code == 0
    assert runner.invoke(args=["stats", "verify"]).exit_code == 0


def test_a_handover_of_files_awaiting_confirmation_keeps_the_figures_exact(app, make_file):
    """The handover's plan held the old state in 16 characters: "pending_confirmation" (20)
    failed on PostgreSQL, found by the property test above."""
    waiting = make_file(state="pending_confirmation", assignee="fc_grid1")
    following = make_file(state="following", assignee="fc_grid1")
    with app.test_request_context():
        township = db.session.get(Region, FUCHENG)
        assignment.handover(
            _user("fc_supervisor"), township, _user("fc_grid1").id, _user("fc_grid2").id
        )
        db.session.commit()
        assert db.session.get(PersonFile, waiting.file_id).state == "pending_confirmation"
        assert db.session.get(PersonFile, following.file_id).state == "unassigned"
    check_everything(app)
