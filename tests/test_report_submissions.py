"""Submission and sign-off of the report forms, level by level (portal/reports/submissions.py):
a county submits both forms (frozen, a failing balance rule refuses and saves nothing), the city
returns them with a comment or accepts them, a returned one is submitted again and an accepted
one never; the city submits its own only once all its counties are accepted (the page names the
others); a figure changed after submission shows beside the submitted one, which stays; scope;
two reviewers at once; overdue after the deadline (China's today)."""

import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal import timeutil
from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.regions.models import Region
from portal.reports import forms
from portal.reports import submissions as svc
from portal.reports.models import ReportEvent, ReportPeriod, ReportSubmission
from portal.timeutil import local_today
from portal.years.selection import current_year
from tests.factories import FUNING, enroll, run
from tests.factories.reports import FUCHENG, YANCHENG, build_report_world
from tests.helpers import account, database, fetch

YEAR = 2026  # the report world's compared year
BINHAI = "320922000000"  # 滨海县, Funing's sibling
TINGHU = "320902000000"  # 亭湖区


def open_period(app, *, region=YANCHENG, county_due=None, city_due=None) -> int:
    """A period of Yancheng for the report world's year (deadlines a week ahead by default)."""
    with database(app) as s:
        period = ReportPeriod(
            region_code=region,
            year=YEAR,
            code="2026",
            name="2026年度参保情况清查报送",
            county_due=county_due or local_today() + timedelta(days=7),
            city_due=city_due or local_today() + timedelta(days=14),
        )
        s.add(period)
        s.flush()
        return period.id


def world(app) -> None:
    with database(app):
        build_report_world()


def page(region, period_id) -> str:
    return f"/reports/{region}/submissions/{period_id}"


def submit(client, region, period_id, version=""):
    return client.post(f"{page(region, period_id)}/submit", data={"version": version})


def review(client, region, period_id, decision, comment="", version="1"):
    return client.post(
        f"{page(region, period_id)}/review",
        data={"decision": decision, "comment": comment, "version": version},
    )


def submission(app, region=FUNING) -> ReportSubmission | None:
    found = fetch(app, select(ReportSubmission).where(ReportSubmission.region_code == region))
    return found[0] if found else None


def events(app, region=FUNING) -> list[ReportEvent]:
    return fetch(
        app,
        select(ReportEvent)
        .join(ReportSubmission, ReportSubmission.id == ReportEvent.submission_id)
        .where(ReportSubmission.region_code == region)
        .order_by(ReportEvent.at, ReportEvent.id),
    )


def audits(app, action) -> list[AuditEvent]:
    """The test's audit events of an action (about its own submissions and periods: the trail
    is append-only, a test that committed for real leaves its events)."""
    targets = [
        str(i)
        for i in fetch(app, select(ReportSubmission.id)) + fetch(app, select(ReportPeriod.id))
    ]
    return fetch(
        app,
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.target_id.in_(targets))
        .order_by(AuditEvent.id),
    )


def accepted(app, period_id, codes) -> None:
    """Accepted submissions of other counties (their forms as the data gives them)."""
    with database(app) as s:
        for code in codes:
            s.add(
                ReportSubmission(
                    period_id=period_id, region_code=code, state="accepted", snapshot={}
                )
            )


@pytest.fixture
def period(app):
    world(app)
    return open_period(app)


# --- the transitions --------------------------------------------------------------------------


def test_a_county_submits_both_forms_frozen_with_their_figures(app, login, period):
    fn = login("fn_staff")
    response = submit(fn, FUNING, period)
    assert response.status_code == 303
    sub = submission(app)
    assert sub.state == "submitted" and sub.version == 1
    assert set(sub.snapshot) == {"cleanup_summary", "not_enrolled"}
    with app.app_context():
        now = forms.compute("cleanup_summary", FUNING, YEAR)
        frozen = forms.FormTable.from_snapshot(sub.snapshot["cleanup_summary"])
        assert frozen.rows == now.rows and frozen.total == now.total
    (event,) = events(app)
    assert event.action == "submit" and event.snapshot == sub.snapshot
    assert event.user_id == account(app, "fn_staff").id
    (logged,) = audits(app, "report.submit")
    assert logged.region_code == FUNING and logged.actor_id == event.user_id
    body = fn.get(page(FUNING, period)).get_data(as_text=True)
    assert "已报送" in body and "基本医疗保险参保情况清查工作汇总表" in body
    assert "报送全部报表" not in body  # no second submission while it waits


def test_a_failing_balance_rule_refuses_the_submission_and_saves_nothing(
    app, login, period, monkeypatch
):
    computed = forms.compute

    def broken(form_code, region_code, year):
        table = computed(form_code, region_code, year)
        if form_code == "cleanup_summary":
            row = next(r for r in table.rows if r.region_code == FUCHENG)
            row.values["c4"] += 1  # one more employee than the insured hold
            table.total = forms.total_of(table.form, table.rows)
        return table

    monkeypatch.setattr(forms, "compute", broken)
    response = submit(login("fn_staff"), FUNING, period)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "报表未通过平衡校验，未报送" in body
    assert "「阜城街道」行：已参保人数合计应等于职工医保与居民医保参保人数之和" in body
    assert submission(app) is None and events(app) == [] and audits(app, "report.submit") == []


def test_the_city_returns_with_a_required_comment_and_the_county_submits_again(app, login, period):
    fn, yc = login("fn_staff"), login("yc_staff")
    submit(fn, FUNING, period)
    first = submission(app).snapshot
    # Without a comment: refused in Chinese, nothing changes.
    response = review(yc, FUNING, period, "return", "  ")
    assert response.status_code == 400
    assert "退回时请填写退回意见" in response.get_data(as_text=True)
    assert submission(app).state == "submitted" and len(events(app)) == 1
    assert review(yc, FUNING, period, "return", "未参保人数请与明细核对").status_code == 303
    sub = submission(app)
    assert sub.state == "returned" and sub.comment == "未参保人数请与明细核对"
    body = fn.get(page(FUNING, period)).get_data(as_text=True)
    assert "已退回" in body and "未参保人数请与明细核对" in body and "重新报送" in body
    # Funing corrects its data (two persons enroll) and submits again: a new snapshot.
    with database(app):
        for id_number in build_world_uninsured(app)[:2]:
            enroll(id_number)
        run(FUNING, YEAR, run_id=72)
    assert submit(fn, FUNING, period, version=str(sub.version)).status_code == 303
    again = submission(app)
    assert again.state == "submitted" and again.comment is None and again.snapshot != first
    actions = [(e.action, e.comment) for e in events(app)]
    assert actions == [("submit", None), ("return", "未参保人数请与明细核对"), ("submit", None)]
    # The first submission's figures stay in its event, as they were.
    assert events(app)[0].snapshot == first and events(app)[2].snapshot == again.snapshot
    assert [e.action for e in audits(app, "report.return")] == ["report.return"]


def build_world_uninsured(app) -> list[str]:
    """The uninsured of Fucheng street in the report world (its persons without a record)."""
    from portal.persons.models import Person

    rows = fetch(
        app,
        select(Person).where(
            Person.region_code.startswith("320923001"),
            Person.insured_status == "uninsured",
            Person.excluded_reason.is_(None),
        ),
    )
    return sorted(p.id_number for p in rows)


def test_an_accepted_submission_cannot_be_submitted_again(app, login, period):
    fn, yc = login("fn_staff"), login("yc_staff")
    submit(fn, FUNING, period)
    assert review(yc, FUNING, period, "accept").status_code == 303
    assert submission(app).state == "accepted"
    assert "已审核通过" in fn.get(page(FUNING, period)).get_data(as_text=True)
    response = submit(fn, FUNING, period, version="2")
    assert response.status_code == 400
    assert "报表已审核通过，不能再次报送" in response.get_data(as_text=True)
    assert [e.action for e in events(app)] == ["submit", "accept"]
    assert len(audits(app, "report.accept")) == 1


def test_the_city_reopens_accepted_forms_until_it_has_submitted_its_own(app, login, period):
    fn, yc = login("fn_staff"), login("yc_staff")
    submit(fn, FUNING, period)
    review(yc, FUNING, period, "accept")
    assert "撤销审核通过并退回" in yc.get(page(FUNING, period)).get_data(as_text=True)
    assert "撤销审核通过并退回" not in fn.get(page(FUNING, period)).get_data(as_text=True)
    # A county never reopens its own; a reopening says why it sends the forms back.
    assert review(fn, FUNING, period, "reopen", "自查有误", version="2").status_code == 403
    refused = review(yc, FUNING, period, "reopen", version="2")
    assert refused.status_code == 400
    assert "退回时请填写退回意见" in refused.get_data(as_text=True)
    assert submission(app).state == "accepted"
    response = review(yc, FUNING, period, "reopen", "断缴人员数与明细不符，请更正后重报", "2")
    assert response.status_code == 303
    assert submission(app).state == "returned"
    assert "断缴人员数与明细不符" in fn.get(page(FUNING, period)).get_data(as_text=True)
    assert submit(fn, FUNING, period, version="3").status_code == 303
    assert review(yc, FUNING, period, "accept", version="4").status_code == 303
    assert [e.action for e in events(app)] == ["submit", "accept", "reopen", "submit", "accept"]
    assert len(audits(app, "report.reopen")) == 1
    # Once the city has submitted its own forms, built on Funing's, they stay until the
    # province returns the city's.
    with app.app_context():
        others = [
            r.code for r in db.session.scalars(Region.children_query(YANCHENG)) if r.code != FUNING
        ]
    accepted(app, period, others)
    assert submit(yc, YANCHENG, period).status_code == 303
    assert "撤销审核通过并退回" not in yc.get(page(FUNING, period)).get_data(as_text=True)
    late = review(yc, FUNING, period, "reopen", "再次核对", version="5")
    assert late.status_code == 400
    assert "须先由其上级退回盐城市的报表" in late.get_data(as_text=True)
    assert submission(app).state == "accepted"


def test_the_city_submits_only_once_every_county_is_accepted(app, login, period):
    fn, yc = login("fn_staff"), login("yc_staff")
    submit(fn, FUNING, period)
    review(yc, FUNING, period, "accept")
    with app.app_context():
        counties = [r.code for r in db.session.scalars(Region.children_query(YANCHENG))]
        names = dict(db.session.execute(select(Region.code, Region.name)).all())
    others = [c for c in counties if c != FUNING]
    response = submit(yc, YANCHENG, period)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "下级尚未全部审核通过，暂不能报送本级报表" in body
    message = body[body.index("仍在等待：") :].split("。")[0]
    assert all(names[c] in message for c in others) and "阜宁县" not in message
    assert submission(app, YANCHENG) is None
    # The page says whom the city still waits for, before any attempt too.
    waiting = yc.get(page(YANCHENG, period)).get_data(as_text=True)
    assert f"尚待审核通过（{len(others)} / {len(counties)}）" in waiting
    # One county submitted but not yet accepted still holds the city back.
    accepted(app, period, others[1:])
    with database(app) as s:
        s.add(
            ReportSubmission(
                period_id=period, region_code=others[0], state="submitted", snapshot={}
            )
        )
    body = submit(yc, YANCHENG, period).get_data(as_text=True)
    assert f"仍在等待：{names[others[0]]}。" in body
    with database(app) as s:
        s.scalar(
            select(ReportSubmission).where(ReportSubmission.region_code == others[0])
        ).state = "accepted"
    assert submit(yc, YANCHENG, period).status_code == 303
    assert submission(app, YANCHENG).state == "submitted"
    assert "下级已全部审核通过" in yc.get(page(YANCHENG, period)).get_data(as_text=True)


# --- 报送后变动 ----------------------------------------------------------------------------------


def test_a_figure_changed_after_submission_shows_beside_the_submitted_one(app, login, period):
    fn, yc = login("fn_staff"), login("yc_staff")
    submit(fn, FUNING, period)
    submitted = submission(app).snapshot
    with database(app):
        for id_number in build_world_uninsured(app)[:2]:
            enroll(id_number)
        run(FUNING, YEAR, run_id=72)
    body = yc.get(page(FUNING, period)).get_data(as_text=True)
    assert "报送后变动" in body
    assert "阜城街道 · 已参保人数·合计：5 → 7" in body
    assert "阜城街道 · 未参保人数：4 → 2" in body
    # The table still shows the submitted figure, the current one beside it.
    assert '5 <ins class="now"' in body
    assert submission(app).snapshot == submitted
    # The submitted workbook is rendered from the snapshot; the current one from the data.
    url = f"{page(FUNING, period)}/cleanup_summary-submitted.xlsx"
    then = load_workbook(io.BytesIO(yc.get(url).data))
    now = load_workbook(
        io.BytesIO(yc.get(f"{page(FUNING, period)}/cleanup_summary-current.xlsx").data)
    )
    with app.app_context():
        labels = [c.label for c in forms.FORMS["cleanup_summary"].columns]
    insured = labels.index("合计")  # 已参保人数·合计, the first 合计 column
    assert _row(then, "阜城街道")[insured] == 5 and _row(now, "阜城街道")[insured] == 7
    assert len(audits(app, "export")) == 2


def _row(workbook, name) -> list:
    """The figures of one region's row of the form sheet, in column order."""
    sheet = workbook.worksheets[0]
    for row in sheet.iter_rows(values_only=True):
        if name in row:
            start = row.index(name) + 2  # 甲 the name, 乙 the code, then the columns
            return list(row[start:])
    raise AssertionError(f"no row {name}")


def test_an_unchanged_submission_says_so(app, login, period):
    fn = login("fn_staff")
    submit(fn, FUNING, period)
    body = fn.get(page(FUNING, period)).get_data(as_text=True)
    assert "报送后数据未发生变动" in body and "报送后变动</strong>" not in body


# --- scope ------------------------------------------------------------------------------------


def test_a_county_neither_sees_nor_reviews_a_sibling_nor_accepts_its_own(app, login, period):
    fn, bh = login("fn_staff"), login("bh_staff")
    submit(fn, FUNING, period)
    assert bh.get(page(FUNING, period)).status_code == 404
    assert bh.get(f"/reports/{FUNING}/submissions").status_code == 404
    assert bh.get(f"{page(FUNING, period)}/cleanup_summary-submitted.xlsx").status_code == 404
    assert review(bh, FUNING, period, "accept").status_code == 403
    assert review(fn, FUNING, period, "accept").status_code == 403
    assert submission(app).state == "submitted"
    with app.test_request_context():
        sub = db.session.get(ReportSubmission, submission(app).id)
        with pytest.raises(svc.SubmissionRefused, match="只有上级可以审核报表"):
            svc.review(account(app, "fn_admin"), sub, "accept")
    # Nor does the city submit the county's forms on its behalf (it reviews them).
    review(login("yc_staff"), FUNING, period, "return", "请核对")
    assert submit(login("yc_staff"), FUNING, period, version="2").status_code == 403
    # The county's page shows no review controls to the county.
    assert "审核通过</button>" not in fn.get(page(FUNING, period)).get_data(as_text=True)


def test_a_period_of_another_city_is_not_found(app, login):
    world(app)
    wuxi = open_period(app, region="320200000000")
    assert login("fn_staff").get(page(FUNING, wuxi)).status_code == 404


# --- two reviewers at once --------------------------------------------------------------------


def test_two_reviewers_at_once_one_wins_and_the_other_is_told(app, login, period):
    submit(login("fn_staff"), FUNING, period)
    yc, js = login("yc_staff"), login("js_staff")
    # Both pages were opened at version 1; the city accepts first.
    assert review(yc, FUNING, period, "accept", version="1").status_code == 303
    response = review(js, FUNING, period, "return", "请核实", version="1")
    assert response.status_code == 303
    body = js.get(response.headers["Location"]).get_data(as_text=True)
    assert "该报送已由盐城市经办于" in body and "处理为“已审核通过”，您的操作未执行" in body
    sub = submission(app)
    assert sub.state == "accepted" and sub.version == 2 and sub.comment is None
    assert [e.action for e in events(app)] == ["submit", "accept"]
    failed = [e for e in audits(app, "report.return")]
    assert [e.result for e in failed] == ["failure"]


def test_the_version_check_refuses_a_stale_step_in_the_service(app, period):
    with app.test_request_context():
        funing = db.session.get(Region, FUNING)
        p = db.session.get(ReportPeriod, period)
        sub = svc.submit(account(app, "fn_staff"), funing, p)
        svc.review(account(app, "yc_staff"), sub, "return", "请核对", version=1)
        with pytest.raises(svc.SubmissionConflict, match="处理为“已退回”（意见：请核对）"):
            svc.review(account(app, "js_staff"), sub, "accept", version=1)
        assert sub.state == "returned"
        count = db.session.scalar(select(func.count()).select_from(ReportEvent))
        assert count == 2


# --- periods and overdue ----------------------------------------------------------------------


def test_a_city_opens_a_period_its_counties_see(app, login):
    yc = login("yc_staff")
    data = {"name": "2027年度参保情况清查报送", "code": "2027", "year": "2027"}
    response = yc.post(f"/reports/{YANCHENG}/submissions", data=data)
    assert response.status_code == 400
    assert "请填写县级报送截止日期" in response.get_data(as_text=True)
    late = {**data, "county_due": "2027-01-20", "city_due": "2027-01-10"}
    response = yc.post(f"/reports/{YANCHENG}/submissions", data=late)
    assert "县级报送截止日期不能晚于市级报送截止日期" in response.get_data(as_text=True)
    good = {**data, "county_due": "2027-01-10", "city_due": "2027-01-20"}
    assert yc.post(f"/reports/{YANCHENG}/submissions", data=good).status_code == 303
    (period,) = fetch(app, select(ReportPeriod))
    assert (period.county_due, period.city_due) == (date(2027, 1, 10), date(2027, 1, 20))
    assert period.created_by_id == account(app, "yc_staff").id
    assert len(audits(app, "report.period")) == 1
    again = yc.post(f"/reports/{YANCHENG}/submissions", data=good)
    assert "已有 2027 参保年度代码为“2027”的报送期" in again.get_data(as_text=True)
    listed = login("fn_staff").get(f"/reports/{FUNING}/submissions").get_data(as_text=True)
    assert "2027年度参保情况清查报送" in listed and "2027-01-10" in listed
    assert "开启报送期" not in listed  # a county opens none
    fn = login("fn_staff")
    assert fn.post(f"/reports/{FUNING}/submissions", data=good).status_code == 403


def test_overdue_after_the_deadline_until_submitted(app, login):
    world(app)
    yesterday = local_today() - timedelta(days=1)
    period = open_period(app, county_due=yesterday, city_due=local_today())
    yc = login("yc_staff")
    body = yc.get(page(YANCHENG, period)).get_data(as_text=True)
    row = body[body.index(f'data-region="{FUNING}"') :].split("</tr>")[0]
    assert "未报送" in row and "已逾期" in row
    # The city's own deadline is today: not overdue yet.
    own = body[body.index("本级报送") : body.index("下级报送情况")]
    assert "已逾期" not in own
    submit(login("fn_staff"), FUNING, period)
    body = yc.get(page(YANCHENG, period)).get_data(as_text=True)
    row = body[body.index(f'data-region="{FUNING}"') :].split("</tr>")[0]
    assert "已报送" in row and "已逾期" not in row


def test_overdue_is_counted_in_china_time(app, monkeypatch):
    p = ReportPeriod(county_due=date(2027, 1, 10))
    # 17:00 UTC on the 10th is 01:00 on the 11th in China: the deadline has passed.
    monkeypatch.setattr(timeutil, "utcnow", lambda: datetime(2027, 1, 10, 17, 0))
    assert svc.is_overdue(p, 3, None)
    monkeypatch.setattr(timeutil, "utcnow", lambda: datetime(2027, 1, 10, 15, 59))
    assert not svc.is_overdue(p, 3, None)
    assert not svc.is_overdue(p, 3, None, today=date(2027, 1, 10))
    assert svc.is_overdue(p, 3, None, today=date(2027, 1, 11))
    returned = ReportSubmission(state="returned")
    assert svc.is_overdue(p, 3, returned, today=date(2027, 1, 11))
    assert not svc.is_overdue(p, 3, ReportSubmission(state="submitted"), today=date(2027, 1, 11))
    assert not svc.is_overdue(p, 2, None, today=date(2027, 1, 11))  # no city deadline set


# --- the demo walk ----------------------------------------------------------------------------


def test_the_demo_walk_submit_return_resubmit_accept_and_the_waiting_list(app, login):
    from portal.demo_reports import BINHAI, seed_report_period

    with database(app) as s:
        users = {u.username: u for u in s.scalars(select(User))}
        period = seed_report_period(users).id
        assert seed_report_period(users) is None  # once
    with app.app_context():
        year = current_year()
        counties = dict(
            db.session.execute(
                select(Region.code, Region.name).where(Region.parent_code == YANCHENG)
            ).all()
        )
    fn, yc = login("fn_staff"), login("yc_staff")
    listed = fn.get(f"/reports/{FUNING}/submissions").get_data(as_text=True)
    assert f"{year}年度参保情况清查报送" in listed
    assert submit(fn, FUNING, period).status_code == 303
    assert review(yc, FUNING, period, "return", "请核对未参保人员原因").status_code == 303
    assert "请核对未参保人员原因" in fn.get(page(FUNING, period)).get_data(as_text=True)
    assert submit(fn, FUNING, period, version="2").status_code == 303
    assert review(yc, FUNING, period, "accept", version="3").status_code == 303
    body = yc.get(page(YANCHENG, period)).get_data(as_text=True)
    waiting = body[body.index("尚待审核通过") :].split("</p>")[0]
    others = [name for code, name in counties.items() if code not in (FUNING, BINHAI)]
    assert all(name in waiting for name in others)
    assert "阜宁县" not in waiting and "滨海县" not in waiting
    assert f"（{len(others)} / {len(counties)}）" in waiting
    refused = submit(yc, YANCHENG, period).get_data(as_text=True)
    assert "仍在等待：" in refused and "阜宁县" not in refused.split("仍在等待：")[1].split("。")[0]


def test_the_forms_page_shows_the_region_s_submission_state(app, login, period):
    fn = login("fn_staff")
    submit(fn, FUNING, period)
    body = fn.get(f"/reports/{FUNING}?year={YEAR}").get_data(as_text=True)
    status = body[body.index("报送状态") :].split("</section>")[0]
    assert "2026年度参保情况清查报送" in status and "已报送" in status
    assert f'href="/reports/{FUNING}/submissions/{period}"' in status
    # A township supervisor reads the forms but submits nothing: no status block.
    body = login("fc_supervisor").get(f"/reports/320923001000?year={YEAR}").get_data(as_text=True)
    assert "报送状态" not in body
