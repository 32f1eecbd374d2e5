"""The monthly ranking notice (通报, 比学赶超): ranking and movers against a hand-computed world
of three children over two months, progress to target, the government-paid gap, the notice kept
as issued when the figures change later, the page, the Excel sheet, the PNG, issuing on demand,
the command, and scope (a county never sees a sibling county's notice)."""

import io
import threading
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select, text

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notices import service
from portal.notices.models import RankingNotice
from portal.regions.models import Region
from portal.targets.models import RegionTarget
from portal.timeutil import local_today
from tests.helpers import database, fetch

# A county of our own under Yancheng with exactly three townships of one community each.
COUNTY = "320999000000"
A, B, C = "320999001000", "320999002000", "320999003000"
COMMUNITY = {A: "320999001001", B: "320999002001", C: "320999003001"}
NAMES = {A: "甲镇", B: "乙镇", C: "丙镇"}
YEAR = 2027  # the insurance year current in October to December 2026
# The notice job runs in the first minutes of a month (China time): 00:05 on the 1st.
OCT_END = datetime(2026, 10, 31, 16, 5)  # 2026-11-01 00:05 China
NOV_END = datetime(2026, 11, 30, 16, 5)  # 2026-12-01 00:05 China
OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)


def _world(session):
    session.add(Region(code=COUNTY, name="测试县", level=3, parent_code="320900000000"))
    for code, name in NAMES.items():
        session.add(Region(code=code, name=name, level=4, parent_code=COUNTY))
        session.add(Region(code=COMMUNITY[code], name=f"{name}社区", level=5, parent_code=code))
    session.flush()


def _figures(session, code, *, must, insured, gp=0, gpi=0, excluded=10):
    """The maintained figures of a township's one community (what every writer keeps)."""
    session.execute(
        text(
            "INSERT INTO community_figures (year, region_code, refreshed_at, persons, excluded, "
            "insured, government_paid, government_paid_insured) "
            "VALUES (:year, :code, :now, :persons, :excluded, :insured, :gp, :gpi) "
            "ON CONFLICT (year, region_code) DO UPDATE SET persons = :persons, "
            "excluded = :excluded, insured = :insured, government_paid = :gp, "
            "government_paid_insured = :gpi"
        ),
        {
            "year": YEAR,
            "code": COMMUNITY[code],
            "now": OCT_END,
            "persons": must + excluded,
            "excluded": excluded,
            "insured": insured,
            "gp": gp,
            "gpi": gpi,
        },
    )


def _activity(session, code, day, visits, conversions=0):
    session.execute(
        text(
            "INSERT INTO community_activity (day, region_code, visits, conversions) "
            "VALUES (:day, :code, :visits, :conversions)"
        ),
        {"day": day, "code": COMMUNITY[code], "visits": visits, "conversions": conversions},
    )


def _october(session):
    """A 90 % (must 100), B 80 % (must 200), C 94 % (must 50): C 1st, A 2nd, B 3rd."""
    _figures(session, A, must=100, insured=90, gp=10, gpi=10)
    _figures(session, B, must=200, insured=160, gp=20, gpi=15)
    _figures(session, C, must=50, insured=47, gp=5, gpi=5)
    _activity(session, C, date(2026, 10, 31), 7)


def _november(session):
    """A 92 %, B 95 %, C 90 %: B 1st (↑2), A 2nd (—), C 3rd (↓2); B's gap 20 − 17 = 3."""
    _figures(session, A, must=100, insured=92, gp=10, gpi=10)
    _figures(session, B, must=200, insured=190, gp=20, gpi=17)
    _figures(session, C, must=50, insured=45, gp=5, gpi=5)
    _activity(session, A, date(2026, 11, 5), 4, 1)
    _activity(session, B, date(2026, 11, 30), 2)
    _activity(session, A, date(2026, 12, 1), 9)  # December's: not in November's notice
    # Targets of the insurance year: A a rate of 95 %, B a count of 180, C none.
    session.add(RegionTarget(year=YEAR, region_code=A, kind="rate", value=9500))
    session.add(RegionTarget(year=YEAR, region_code=B, kind="count", value=180))


@pytest.fixture
def two_months(app):
    """The county's final notices of October and November, each issued by the month-end job
    in the first minutes of the next month."""
    with database(app) as s:
        _world(s)
        _october(s)
    with app.app_context():
        county = db.session.get(Region, COUNTY)
        assert service.issue_month(OCTOBER, now=OCT_END, region=county).notices == 4
        db.session.commit()
    with database(app) as s:
        _november(s)
    with app.app_context():
        county = db.session.get(Region, COUNTY)
        service.issue_month(NOVEMBER, now=NOV_END, region=county)
        db.session.commit()
    return app


def _notice(app, region_code, month) -> RankingNotice:
    (found,) = fetch(
        app,
        select(RankingNotice).where(
            RankingNotice.region_code == region_code, RankingNotice.month == month
        ),
    )
    return found


def _by_code(notice):
    return {row["code"]: row for row in notice.rows}


def test_the_children_are_ranked_by_coverage_with_the_places_moved_since_last_month(two_months):
    october = _notice(two_months, COUNTY, OCTOBER)
    assert [r["code"] for r in october.rows] == [C, A, B]
    assert [r["rank"] for r in october.rows] == [1, 2, 3]
    assert all(r["prev_rank"] is None and r["moved"] is None for r in october.rows)
    assert october.summary["movers_up"] == [] and october.summary["movers_down"] == []
    assert october.final and october.taken_by_id is None and october.year == YEAR

    november = _notice(two_months, COUNTY, NOVEMBER)
    assert [r["name"] for r in november.rows] == ["乙镇", "甲镇", "丙镇"]
    rows = _by_code(november)
    assert [(rows[c]["rank"], rows[c]["prev_rank"], rows[c]["moved"]) for c in (A, B, C)] == [
        (2, 2, 0),
        (1, 3, 2),
        (3, 1, -2),
    ]
    assert rows[B]["coverage"] == pytest.approx(0.95)
    assert rows[B]["coverage_change"] == pytest.approx(0.15)
    assert rows[C]["coverage_change"] == pytest.approx(-0.04)
    assert [m["name"] for m in november.summary["movers_up"]] == ["乙镇"]
    assert [m["name"] for m in november.summary["movers_down"]] == ["丙镇"]
    assert november.summary["previous_id"] == october.id


def test_progress_to_target_and_its_rank(two_months):
    rows = _by_code(_notice(two_months, COUNTY, NOVEMBER))
    assert rows[A]["progress"] == pytest.approx(0.92 / 0.95, abs=1e-6)
    assert rows[A]["target"] == "95%"
    assert rows[B]["progress"] == pytest.approx(190 / 180, abs=1e-6)
    assert rows[B]["target"] == "180 人"
    assert rows[C]["progress"] is None and rows[C]["target"] is None
    assert [rows[c]["progress_rank"] for c in (A, B, C)] == [2, 1, None]


def test_the_government_paid_gap_and_the_months_activity(two_months):
    november = _notice(two_months, COUNTY, NOVEMBER)
    rows = _by_code(november)
    assert [rows[c]["gap"] for c in (A, B, C)] == [0, 3, 0]
    assert november.summary["gaps"] == [{"code": B, "name": "乙镇", "gap": 3}]
    totals = november.summary["totals"]
    assert (totals["must_insure"], totals["insured"], totals["gap"]) == (350, 327, 3)
    assert totals["coverage"] == pytest.approx(327 / 350, abs=1e-6)
    # November's days only: A's 4 visits and 1 conversion, B's 2 visits (not Oct 31, not Dec 1).
    assert [(rows[c]["visits"], rows[c]["conversions"]) for c in (A, B, C)] == [
        (4, 1),
        (2, 0),
        (0, 0),
    ]
    assert (totals["visits"], totals["conversions"]) == (6, 1)


def test_ties_share_a_rank_and_regions_without_anyone_to_insure_come_last():
    children = [
        service.ChildFigures("1", "一", "p", must_insure=10, insured=9),
        service.ChildFigures("2", "二", "p", must_insure=20, insured=18),
        service.ChildFigures("3", "三", "p", must_insure=0, insured=0),
        service.ChildFigures("4", "四", "p", must_insure=10, insured=10),
    ]
    rows, summary = service.rank_children(children, {}, None)
    assert [(r["code"], r["rank"]) for r in rows] == [("4", 1), ("1", 2), ("2", 2), ("3", None)]
    assert summary["ranked"] == 3 and summary["children"] == 4


def test_a_notice_keeps_its_figures_when_they_change_later(two_months, login):
    before = _notice(two_months, COUNTY, NOVEMBER)
    with database(two_months) as s:
        _figures(s, C, must=50, insured=50, gp=5, gpi=5)  # C reaches 100 % in December
    after = _notice(two_months, COUNTY, NOVEMBER)
    assert after.rows == before.rows and after.summary == before.summary
    page = login("yc_staff").get(f"/notices/{COUNTY}?month=2026-11").get_data(as_text=True)
    assert "90.00%" in page and "100.00%" not in page


def test_the_job_issues_the_month_just_ended_once_per_region(two_months):
    """Issued again for the same month (a second worker, the command after the job), nothing
    changes: a region's final notice of a month is issued once."""
    with two_months.app_context():
        county = db.session.get(Region, COUNTY)
        again = service.issue_month(NOVEMBER, now=NOV_END, region=county)
        db.session.commit()
    assert again.notices == 0
    notices = fetch(two_months, select(RankingNotice).where(RankingNotice.month == NOVEMBER))
    assert sorted(n.region_code for n in notices) == sorted([COUNTY, A, B, C])
    assert all(n.final for n in notices)
    # A township's children are its communities.
    (township,) = [n for n in notices if n.region_code == B]
    assert [r["code"] for r in township.rows] == [COMMUNITY[B]]


def test_a_late_notice_says_it_is_late(app):
    with database(app) as s:
        _world(s)
        _october(s)
    with app.app_context():
        county = db.session.get(Region, COUNTY)
        service.issue_month(OCTOBER, now=datetime(2026, 11, 3, 2, 0), region=county)
        db.session.commit()
    notice = _notice(app, COUNTY, OCTOBER)
    assert notice.summary["late_days"] == 2 and notice.summary["source"] == "live"
    from portal.notices import present

    assert any("晚于月末 2 天" in line for line in present.status_lines(notice))


def test_the_month_end_snapshot_is_preferred_when_it_exists(app):
    """The daily snapshot of the month's last day holds the month-end figures; the live ones
    have moved on since."""
    with database(app) as s:
        _world(s)
        _october(s)
        for code, persons, insured in ((A, 110, 50), (B, 210, 100), (C, 60, 45)):
            s.execute(
                text(
                    "INSERT INTO daily_figures (region_code, day, year, persons, excluded, "
                    "insured, government_paid, government_paid_insured, taken_at) "
                    "VALUES (:code, '2026-10-31', 2027, :persons, 10, :insured, 0, 0, :at)"
                ),
                {"code": code, "persons": persons, "insured": insured, "at": OCT_END},
            )
    with app.app_context():
        service.issue_month(OCTOBER, now=OCT_END, region=db.session.get(Region, COUNTY))
        db.session.commit()
    notice = _notice(app, COUNTY, OCTOBER)
    assert notice.summary["source"] == "snapshot"
    assert [(r["code"], r["insured"]) for r in notice.rows] == [(C, 45), (A, 50), (B, 100)]


def test_the_page_shows_the_ranked_table_movers_and_the_gap(two_months, login):
    client = login("yc_staff")
    page = client.get(f"/notices/{COUNTY}").get_data(as_text=True)
    assert "测试县2026年11月参保工作通报" in page
    assert page.index('data-region="320999002000"') < page.index('data-region="320999001000"')
    assert page.index('data-region="320999001000"') < page.index('data-region="320999003000"')
    assert 'class="mover-up"' in page and 'class="mover-down"' in page
    assert "↑2" in page and "↓2" in page
    assert "政府资助参保人群尚有 3 人未参保" in page and 'role="alert"' in page
    assert "2026年10月正式通报" in page  # the month it is compared with
    october = client.get(f"/notices/{COUNTY}?month=2026-10").get_data(as_text=True)
    assert "测试县2026年10月参保工作通报" in october and "上月没有正式通报" in october
    bad = client.get(f"/notices/{COUNTY}?month=十一月", follow_redirects=True)
    assert bad.status_code == 200 and "月份格式不正确" in bad.get_data(as_text=True)


def test_the_excel_sheet_lists_the_rows_in_rank_order_and_is_audited(two_months, login):
    notice = _notice(two_months, COUNTY, NOVEMBER)
    response = login("yc_staff").get(f"/notices/{notice.id}.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet["A1"].value == "测试县2026年11月参保工作通报"
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row[0] == "名次")
    assert rows[header][:3] == ("名次", "区划", "区划代码")
    assert "政府资助缺口" in rows[header] and "名次升降" in rows[header]
    body = rows[header + 1 : header + 4]
    assert [(r[0], r[1], r[8]) for r in body] == [
        (1, "乙镇", "↑2"),
        (2, "甲镇", "—"),
        (3, "丙镇", "↓2"),
    ]
    gap = rows[header].index("政府资助缺口")
    assert [r[gap] for r in body] == [3, 0, 0]
    assert rows[header + 4][1] == "合计" and rows[header + 4][gap] == 3
    (event,) = fetch(
        two_months,
        select(AuditEvent).where(
            AuditEvent.action == "export", AuditEvent.target_type == "ranking_notice"
        ),
    )
    assert event.target_id == str(notice.id)


def test_the_png_is_one_real_picture(two_months, login):
    notice = _notice(two_months, COUNTY, NOVEMBER)
    response = login("fn_staff").get(f"/notices/{_notice(two_months, B, NOVEMBER).id}.png")
    assert response.status_code == 404  # 乙镇 lies outside Funing
    response = login("yc_staff").get(f"/notices/{notice.id}.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    data = response.data
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 720 and 300 < height < 1200
    assert 5_000 < len(data) < 400_000


def test_a_county_cannot_see_a_sibling_countys_notice(two_months, login):
    """fn_staff (阜宁县) and the notices of 测试县, a sibling county of Yancheng."""
    notice = _notice(two_months, COUNTY, NOVEMBER)
    client = login("fn_staff")
    assert client.get(f"/notices/{COUNTY}").status_code == 404
    assert client.get(f"/notices/{notice.id}.xlsx").status_code == 404
    assert client.get(f"/notices/{notice.id}.png").status_code == 404
    assert client.post(f"/notices/{COUNTY}/issue").status_code == 404
    assert client.get("/notices/320923000000").status_code == 200


def test_issuing_on_demand_replaces_the_months_earlier_one_and_is_audited(app, login):
    with database(app) as s:
        _world(s)
        _october(s)
    client = login("yc_staff")
    first = client.post(f"/notices/{COUNTY}/issue")
    assert first.status_code == 303
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "临时通报" in page and "丙镇" in page
    client.post(f"/notices/{COUNTY}/issue")
    notices = fetch(app, select(RankingNotice).where(RankingNotice.region_code == COUNTY))
    assert len(notices) == 1 and not notices[0].final
    assert notices[0].taken_by_id is not None
    events = fetch(app, select(AuditEvent).where(AuditEvent.action == "notice.issue"))
    assert len(events) == 2 and events[0].region_code == COUNTY
    # A community has no children: nothing to rank, said in Chinese, nothing stored.
    community = client.post(f"/notices/{COMMUNITY[A]}/issue", follow_redirects=True)
    assert "没有下级区划" in community.get_data(as_text=True)


def test_a_grid_worker_neither_sees_nor_issues_notices(app, login):
    client = login("fc_grid1")
    assert client.get("/notices/320923001001").status_code == 403
    assert client.post("/notices/320923001000/issue").status_code == 403


def test_the_command_issues_a_months_notices(app):
    with database(app) as s:
        _world(s)
        _october(s)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["notices", "issue", "--region", COUNTY, "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    # October's month-end snapshot does not exist and October is not the month just ended.
    assert "月末的统计快照已不存在" in result.output
    result = runner.invoke(args=["notices", "issue", "--region", COUNTY, "--month", "2099-01"])
    assert result.exit_code != 0 and "尚未开始" in result.output
    result = runner.invoke(args=["notices", "issue", "--month", "十月"])
    assert result.exit_code != 0 and "格式不正确" in result.output
    month = local_today().strftime("%Y-%m")
    result = runner.invoke(args=["notices", "issue", "--region", COUNTY, "--month", month])
    assert result.exit_code == 0 and "临时通报 4 份" in result.output
    with app.app_context():
        db.session.execute(delete(RankingNotice).where(RankingNotice.region_code.like("320999%")))
        db.session.commit()


def test_a_live_notice_is_dated_when_it_was_taken(two_months):
    november = _notice(two_months, COUNTY, NOVEMBER)
    assert november.summary["as_of"] == NOV_END.isoformat(timespec="seconds")
    assert november.taken_at == NOV_END and november.summary["late_days"] == 0


# --- the scheduled job under real concurrency: committed, one connection per worker ----------


@pytest.mark.no_db
def test_two_workers_issue_the_months_notices_once(app, monkeypatch):
    """Two workers' passes at 00:05 on 1 December: the job runs once, every region with
    children gets exactly one final notice of November; a later pass of the month runs nothing,
    December's first pass issues December's."""
    from portal.jobs import schedule
    from portal.jobs.models import ScheduledRun
    from portal.notices import jobs

    registry = {}
    monkeypatch.setattr(schedule, "JOBS", registry)
    monkeypatch.setattr(schedule, "JOB_MODULES", [])
    schedule.scheduled("ranking_notices", "monthly")(jobs.ranking_notices)
    clock = {"now": NOV_END}
    monkeypatch.setattr(service, "utcnow", lambda: clock["now"])
    ran: dict[str, list[str]] = {}

    def pass_of(name, start):
        def run():
            with app.app_context():
                start.wait()
                ran[name] = schedule.run_due(clock["now"], worker=name)
                db.session.remove()

        return run

    try:
        start = threading.Barrier(2)
        threads = [threading.Thread(target=pass_of(n, start)) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        lines = [line for lines in ran.values() for line in lines]
        assert len(lines) == 1 and lines[0].startswith(
            "ranking_notices 2026-12: 已发布 2026年11月"
        ), ran
        with app.app_context():
            parents = db.session.execute(
                text("SELECT COUNT(DISTINCT parent_code) FROM region WHERE parent_code IS NOT NULL")
            ).scalar()
            counts = db.session.execute(
                text(
                    "SELECT region_code, COUNT(*) FROM ranking_notice "
                    "WHERE month = '2026-11-01' GROUP BY region_code"
                )
            ).all()
            assert len(counts) == parents and {n for _, n in counts} == {1}
        with app.app_context():
            clock["now"] = datetime(2026, 12, 15, 3, 0)
            assert schedule.run_due(clock["now"], worker="c") == []
            clock["now"] = datetime(2026, 12, 31, 16, 1)  # 2027-01-01 00:01 China
            (line,) = schedule.run_due(clock["now"], worker="c")
            assert "2026年12月" in line
    finally:
        with app.app_context():
            db.session.execute(text("DELETE FROM ranking_notice"))
            db.session.execute(delete(ScheduledRun))
            db.session.commit()


def test_the_demo_has_last_months_notices_to_compare_with(app, login):
    """portal demo: the invented history's months get their final notices, so the notice a demo
    user issues this month has a previous month with ranks to move from."""
    from portal.demo_history import seed_demo_history
    from portal.notices.demo import seed_demo_notices

    today = date(2026, 12, 2)
    with app.app_context():
        seed_demo_history(today)
        assert seed_demo_notices(today) > 20
        assert seed_demo_notices(today) == 0  # once
        db.session.commit()
    november = _notice(app, "320923000000", NOVEMBER)
    assert november.final and november.summary["source"] == "snapshot"
    assert november.summary["previous_month"] == "2026-10-01"
    assert all(r["prev_rank"] is not None for r in november.rows)
    assert november.taken_at == datetime(2026, 11, 30, 16, 5)  # as if the job ran on time
    city = _notice(app, "320900000000", NOVEMBER)
    assert [r["name"] for r in city.rows][0] == "阜宁县" and city.rows[0]["rank"] == 1
    # December's notice on demand (issued on 2 December) compares with November's.
    with app.app_context():
        county = db.session.get(Region, "320923000000")
        december = service.issue_now(county, now=datetime(2026, 12, 2, 2, 0))
        assert december.summary["previous_id"] == november.id and not december.final
        db.session.commit()
    page = login("fn_staff").get("/notices/320923000000?month=2026-12").get_data(as_text=True)
    assert "阜宁县2026年12月参保工作通报（临时）" in page and "2026年11月正式通报" in page
