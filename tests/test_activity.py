"""Visits and conversions per day (portal/stats/activity.py): kept exact by the writers, summed
per region for this week, this month and the insurance year, with and without the daily
snapshot rows; rebuild and verify; the dashboard and the worker's home show them."""

import uuid
from datetime import date, timedelta

from sqlalchemy import Date, DateTime, bindparam, select, text, update

from portal.accounts.models import User
from portal.extensions import db
from portal.persons import operations as person_ops
from portal.persons.models import Enrollment, Person, PersonFile
from portal.stats import activity
from portal.timeutil import local_today, utcnow
from portal.visits import operations as visit_ops
from portal.years.periods import Calendar
from tests.factories import XINGFU, XINSHENG, create_task, enroll, make_id, person, run
from tests.helpers import database

COUNTY, FUCHENG, WUTAN_STREET = "320923000000", "320923001000", "320923002000"
WUTAN = "320923002001"


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _visit(file: PersonFile, outcome: str = "unreachable", **kw) -> visit_ops.VisitResult:
    worker = db.session.get(User, file.assignee_id)
    return visit_ops.record_visit(
        worker,
        file,
        visit_ops.VisitInput(
            method="home",
            outcome=outcome,
            idempotency_key=str(uuid.uuid4()),
            version=file.version,
            **kw,
        ),
    )


def _exact() -> None:
    assert activity.differences(db.session.connection(), prefix="32") == {}


def _today(code: str) -> tuple[int, int]:
    today = local_today()
    return activity.activity(code, today, today)


def _assigned_file(id_number: str, region: str = XINGFU, worker: str = "fc_grid1") -> PersonFile:
    file = db.session.scalar(
        select(PersonFile).join(PersonFile.person).where(Person.id_number == id_number)
    )
    file.state, file.assignee_id = "assigned", _user(worker).id
    db.session.flush()
    return file


# --- the writers ----------------------------------------------------------------------------


def test_visits_count_on_their_day_in_their_community(ctx):
    people = [make_id(n, birth="19810101") for n in range(1, 6)]
    for n, number in enumerate(people):
        person(number, region=XINSHENG if n == 4 else XINGFU)
    run()
    files = [_assigned_file(n) for n in people[:4]]
    files.append(_assigned_file(people[4], region=XINSHENG, worker="fc_grid2"))
    for file in files:
        _visit(file)
    _visit(files[0], outcome="unreachable")  # a second visit of the same file counts too
    _exact()
    assert _today(XINGFU) == (5, 0)
    assert _today(XINSHENG) == (1, 0)
    assert _today(FUCHENG) == _today(COUNTY) == (6, 0)
    assert _today(WUTAN_STREET) == (0, 0)
    # A replayed submission (same idempotency key) saves nothing and counts nothing.
    worker = db.session.get(User, files[1].assignee_id)
    key = str(uuid.uuid4())
    data = visit_ops.VisitInput(
        method="home", outcome="unreachable", idempotency_key=key, version=files[1].version
    )
    visit_ops.record_visit(worker, files[1], data)
    assert visit_ops.record_visit(worker, files[1], data).replayed
    assert _today(XINGFU) == (6, 0)
    _exact()


def test_a_visited_file_the_comparison_closes_is_a_conversion_until_it_reopens(ctx):
    visited, unvisited = make_id(1, birth="19820202"), make_id(2, birth="19820202")
    person(visited)
    person(unvisited)
    run()
    file = _assigned_file(visited)
    _visit(file, outcome="paid_today")
    assert _today(XINGFU) == (1, 0)
    enroll(visited)
    enroll(unvisited)  # enrolled without a visit: no conversion
    run(run_id=2)
    db.session.expire_all()  # the comparison wrote behind the session's back
    assert db.session.get(PersonFile, file.id).state == "enrolled"
    assert _today(XINGFU) == _today(COUNTY) == (1, 1)
    _exact()
    # The coverage lapses: the comparison reopens the file, the conversion goes.
    db.session.execute(
        update(Enrollment).where(Enrollment.id_number == visited).values(status="terminated")
    )
    run(run_id=3)
    db.session.expire_all()
    assert db.session.get(PersonFile, file.id).state != "enrolled"
    assert _today(XINGFU) == (1, 0)
    _exact()


def test_a_pending_proposal_that_follows_its_person_moves_its_visit(ctx):
    number = make_id(1, birth="19830303")
    person(number)
    run()
    file = _assigned_file(number)
    _visit(file, outcome="deceased")  # a closure proposal: pending review
    assert _today(XINGFU) == (1, 0)
    someone = db.session.scalar(select(Person).where(Person.id_number == number))
    person_ops.update_person(
        _user("fn_staff"),
        someone,
        person_ops.EditValues(region_code=WUTAN),
        version=someone.version,
        token=None,
    )
    assert db.session.get(PersonFile, file.id).region_code == WUTAN
    assert _today(XINGFU) == (0, 0) and _today(WUTAN) == (1, 0)
    assert _today(COUNTY) == (1, 0)
    _exact()


def test_rebuild_recomputes_every_day_and_verify_reports_differences(app):
    runner = app.test_cli_runner()
    with app.test_request_context():
        number = make_id(1, birth="19840404")
        person(number)
        run()
        file = _assigned_file(number)
        _visit(file)
        db.session.commit()
    assert runner.invoke(args=["stats", "verify"]).exit_code == 0
    with app.app_context():
        db.session.execute(text("UPDATE community_activity SET visits = visits + 3"))
        _row(date(2026, 1, 5), XINSHENG, 2, 1)
        db.session.commit()
    result = runner.invoke(args=["stats", "verify"])
    assert result.exit_code == 1
    assert "社区 320923001001 走访转化数不一致：走访 存储 4，实际 1" in result.output
    assert "2026-01-05 社区 320923001002" in result.output
    result = runner.invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0 and "每日走访和转化数" in result.output, result.output
    assert runner.invoke(args=["stats", "verify"]).exit_code == 0
    with app.app_context():
        assert _today(XINGFU) == (1, 0)


# --- the sums -------------------------------------------------------------------------------


def test_the_periods_week_month_and_insurance_year():
    wednesday = date(2026, 12, 9)
    week, month, year = activity.periods(2027, wednesday, Calendar())
    assert (week.since, week.until) == (date(2026, 12, 7), wednesday)
    assert (month.since, month.until) == (date(2026, 12, 1), wednesday)
    assert (year.since, year.until) == (date(2026, 9, 1), wednesday)
    # A past year: from its collection period's start to the day before the next one's.
    (_, _, past) = activity.periods(2026, wednesday, Calendar())
    assert (past.since, past.until) == (date(2025, 9, 1), date(2026, 8, 31))
    assert (year.label, past.label) == ("本年度", "2026年度")
    monday = date(2026, 12, 7)
    assert activity.periods(2027, monday, Calendar())[0].since == monday
    # Another collection period (a province's configuration).
    (_, _, shifted) = activity.periods(2027, wednesday, Calendar((10, 15), (3, 31)))
    assert shifted.since == date(2026, 10, 15)


def _row(day: date, code: str, visits: int, conversions: int) -> None:
    db.session.execute(
        text(
            "INSERT INTO community_activity (day, region_code, visits, conversions) "
            "VALUES (:day, :code, :v, :c)"
        ).bindparams(bindparam("day", type_=Date())),
        {"day": day, "code": code, "v": visits, "c": conversions},
    )


def _snapshot(day: date, code: str, visits: int, conversions: int) -> None:
    db.session.execute(
        text(
            "INSERT INTO daily_figures (region_code, day, year, visits, conversions, taken_at) "
            "VALUES (:code, :day, 2027, :v, :c, :now)"
        ).bindparams(bindparam("day", type_=Date()), bindparam("now", type_=DateTime())),
        {"code": code, "day": day, "v": visits, "c": conversions, "now": utcnow()},
    )


def test_sums_per_region_over_days_with_and_without_snapshots(ctx):
    today = date(2026, 12, 9)  # a Wednesday
    days = {
        date(2026, 8, 31): (50, 50),  # before the insurance year 2027
        date(2026, 9, 1): (1, 0),
        date(2026, 11, 30): (2, 1),  # last month
        date(2026, 12, 1): (4, 0),
        date(2026, 12, 6): (8, 2),  # Sunday: last week
        date(2026, 12, 7): (16, 0),  # Monday
        today: (32, 4),
        today + timedelta(days=1): (64, 64),  # (a later day is never in a period)
    }
    for day, (v, c) in days.items():
        _row(day, XINGFU, v, c)
        _row(day, XINSHENG, 1, 0)
        _row(day, WUTAN, 100, 100)  # another township

    def sums(code):
        return [
            activity.activity(code, p.since, p.until, today=today)
            for p in activity.periods(2027, today, Calendar())
        ]

    week, month, year = sums(XINGFU)
    assert week == (16 + 32, 4)
    assert month == (4 + 8 + 16 + 32, 2 + 4)
    assert year == (1 + 2 + 4 + 8 + 16 + 32, 1 + 2 + 4)
    # Fucheng: its two communities; the county adds Wutan's.
    assert sums(FUCHENG) == [(50, 4), (64, 6), (69, 7)]
    assert sums(COUNTY)[0] == (50 + 200, 4 + 200)
    # Snapshots of Fucheng for the finished days (values unlike the rows, to see which is read):
    # those days are read from them, today and a day not yet snapshotted from the rows.
    _snapshot(date(2026, 12, 7), FUCHENG, 1000, 10)
    _snapshot(date(2026, 12, 8), FUCHENG, 2000, 20)  # a day without activity rows
    _snapshot(today, FUCHENG, 9999, 99)  # today's is never read: today is not finished
    week, month, _ = sums(FUCHENG)
    assert week == (1000 + 2000 + 33, 10 + 20 + 4)
    assert month == (5 + 9 + 3000 + 33, 2 + 30 + 4)
    # A community reads its own rows only.
    assert sums(XINGFU)[0] == (16 + 32, 4)
    # An empty range, and a range wholly snapshotted.
    assert activity.activity(FUCHENG, today, today - timedelta(days=1), today=today) == (0, 0)
    assert activity.activity(FUCHENG, date(2026, 12, 7), date(2026, 12, 8), today=today) == (
        3000,
        30,
    )


def test_sums_after_visits_and_comparisons_match_with_snapshots_taken(ctx):
    """Snapshots equal to the rows (what the job copies) change no sum."""
    numbers = [make_id(n, birth="19850505") for n in range(1, 4)]
    for number in numbers:
        person(number)
    run()
    for number in numbers:
        _visit(_assigned_file(number), outcome="paid_today")
    enroll(numbers[0])
    run(run_id=2)
    today = local_today()
    yesterday = today - timedelta(days=1)
    _row(yesterday, XINGFU, 5, 1)
    before = [activity.activity(c, yesterday, today) for c in (XINGFU, FUCHENG, COUNTY)]
    assert before == [(8, 2)] * 3
    for code in (FUCHENG, COUNTY):
        _snapshot(yesterday, code, 5, 1)
    assert [activity.activity(c, yesterday, today) for c in (XINGFU, FUCHENG, COUNTY)] == before


# --- the pages --------------------------------------------------------------------------------


def test_the_dashboard_shows_activity_the_funnel_and_the_e_credential(app, login):
    from portal.stats import maintain
    from portal.years.selection import current_year

    task = create_task(app, "看板", state="assigned")
    with database(app) as session:
        with app.test_request_context():
            year = current_year()
        session.execute(update(Person).where(Person.id == task.person_id).values(in_register=True))
        session.execute(update(PersonFile).where(PersonFile.id == task.file_id).values(year=year))
        insured = Person(
            id_number=make_id(1, birth="19860606"),
            name="凭证未激活者",
            sex="1",
            birth_date=date(1986, 6, 6),
            region_code=XINGFU,
            in_register=True,
            insured_status="insured",
        )
        session.add(insured)
        session.flush()
        maintain.rebuild(session.connection())
    worker = login("fc_grid1")
    page = worker.get(f"/tasks/{task.file_id}").get_data(as_text=True)
    assert "帮助激活医保电子凭证" in page
    with app.test_request_context():
        file = db.session.get(PersonFile, task.file_id)
        _visit(file, outcome="paid_today")
        db.session.commit()
    home = worker.get("/tasks/").get_data(as_text=True)
    assert "本周走访 <b>1</b>" in home and "本月走访 <b>1</b>" in home
    supervisor = login("fc_supervisor")
    html = supervisor.get(f"/dashboard/{XINGFU}").get_data(as_text=True)
    assert "走访与转化" in html
    assert (
        '<dd data-period="本周">走访 <strong>1</strong> 次，转化 <strong>0</strong> 人</dd>' in html
    )
    assert '<dd data-period="本年度">走访 <strong>1</strong> 次' in html
    assert "走访漏斗" in html
    assert '<dd data-step="已走访"><strong>1</strong> <small class="muted">占档案 100.0%' in html
    assert '<dd data-step="同意参保"><strong>1</strong>' in html
    assert '<dd data-step="已参保"><strong>0</strong>' in html
    # One insured person, not activated: 0 %, and the list of whom to help links from here.
    assert "激活率</dt><dd><strong>0.0%</strong>" in html
    assert "e_credential=no" in html and "insured_status=insured" in html
    listed = supervisor.get(f"/persons/?region={XINGFU}&insured_status=insured&e_credential=no")
    assert "凭证未激活者" in listed.get_data(as_text=True)
    activated = supervisor.get(f"/persons/?region={XINGFU}&e_credential=yes")
    assert "凭证未激活者" not in activated.get_data(as_text=True)
    county = login("fn_staff").get(f"/dashboard/{COUNTY}").get_data(as_text=True)
    assert '<dd data-period="本周">走访 <strong>1</strong> 次' in county
