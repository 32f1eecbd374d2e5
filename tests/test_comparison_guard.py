"""The guard before a comparison: each finding refuses the run before anything changes (the run
is kept as 'refused' with the figures, no job left queued), and the user's confirmation — the
page's checkbox, `portal compare --force` — runs it over them."""

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.comparisons import guard as guards
from portal.comparisons.models import ComparisonRun
from portal.comparisons.operations import compare
from portal.extensions import db
from portal.jobs.models import Job
from portal.persons.models import Enrollment, Person, PersonChange, PersonFile
from portal.regions.models import Region
from portal.years import selection
from tests.factories import FUNING, WUTAN, populate, run_jobs
from tests.helpers import database, fetch

TODAY = date(2026, 12, 2)
YEAR = 2027


@pytest.fixture(autouse=True)
def december_2026(monkeypatch):
    monkeypatch.setattr(selection, "local_today", lambda: TODAY)


def guarded(guard=None, run_id=1):
    db.session.flush()
    return compare(
        db.session.get(Region, FUNING),
        YEAR,
        run_id=run_id,
        user_id=None,
        today=TODAY,
        guard=guard or guards.Guard(),
    )


def nothing_written():
    counts = [
        db.session.scalar(select(func.count()).select_from(PersonFile)),
        db.session.scalar(select(func.count()).select_from(PersonChange)),
        db.session.scalar(
            select(func.count()).select_from(Person).where(Person.insured_status != "unknown")
        ),
    ]
    return counts == [0, 0, 0]


def codes(result):
    return [c["code"] for c in result["checks"]]


# --- each finding -----------------------------------------------------------------------------


def test_no_usable_insured_records_refuses(ctx):
    populate(db.session, insured=0, uninsured=5)
    result = guarded()
    assert result["refused"] and codes(result) == ["no_insured"]
    (check,) = result["checks"]
    assert check["figures"] == {"must_insure": 5, "insured": 0, "opened": 5}
    assert (
        "没有可用的 2027 年度参保记录" in check["message"] and "5 名应参保人员" in check["message"]
    )
    assert nothing_written()


def test_a_coverage_below_the_threshold_refuses(ctx):
    populate(db.session, insured=5, uninsured=5)
    result = guarded()
    assert result["refused"] and codes(result) == ["low_coverage"]
    assert (
        "50.0%" in result["checks"][0]["message"] and "低于 60.0%" in result["checks"][0]["message"]
    )
    assert nothing_written()


def test_a_drop_from_the_last_run_refuses(ctx):
    populate(db.session, insured=8, uninsured=2)  # 80 %: above the threshold
    result = guarded(guards.Guard(previous_run_id=3, previous_coverage=0.95))
    assert result["refused"] and codes(result) == ["coverage_drop"]
    message = result["checks"][0]["message"]
    assert "上次比对（#3，95.0%）下降 15.0 个百分点" in message
    assert not guarded(guards.Guard(previous_run_id=3, previous_coverage=0.89))["refused"]


def test_a_township_without_a_single_insured_person_refuses_and_is_named(ctx):
    populate(db.session, insured=10, uninsured=0)
    populate(db.session, insured=0, uninsured=2, region=WUTAN, start=100)
    result = guarded()
    assert result["refused"] and codes(result) == ["township_without_insured"]
    (check,) = result["checks"]
    assert "吴滩街道（2 人）" in check["message"] and "阜城街道" not in check["message"]
    assert check["figures"]["townships"] == [
        {"code": "320923002000", "name": "吴滩街道", "must_insure": 2}
    ]
    assert nothing_written()


def test_lists_that_look_right_pass(ctx):
    populate(db.session, insured=19, uninsured=1)
    result = guarded(guards.Guard(previous_run_id=3, previous_coverage=0.96))
    assert not result["refused"] and result["checks"] == []
    assert result["opened"] == 1


def test_a_confirmed_run_goes_ahead_and_keeps_its_findings(ctx):
    populate(db.session, insured=0, uninsured=5)
    result = guarded(guards.Guard(forced=True))
    assert not result["refused"] and codes(result) == ["no_insured"]
    assert result["opened"] == 5


# --- the page ---------------------------------------------------------------------------------


def runs(app):
    return fetch(app, select(ComparisonRun).order_by(ComparisonRun.id))


def test_the_page_refuses_shows_the_figures_and_runs_once_confirmed(app, login):
    with database(app) as session:
        populate(session, insured=0, uninsured=4)
    client = login("fn_staff")
    client.post("/comparisons/", data={"region": FUNING})
    run_jobs(app)
    (refused,) = runs(app)
    assert refused.state == "refused" and not refused.forced
    assert refused.year == YEAR and (refused.persons, refused.insured) == (4, 0)
    assert [c["code"] for c in refused.checks] == ["no_insured"]
    assert not fetch(app, select(PersonFile))
    # The job ended: no job waits, none failed.
    assert [j.state for j in fetch(app, select(Job))] == ["succeeded"]
    page = client.get(f"/comparisons/{refused.id}").get_data(as_text=True)
    assert "比对前检查未通过，比对未运行" in page and "没有可用的 2027 年度参保记录" in page
    assert "我已核实，仍然运行比对" in page and "确认后重新运行" in page
    assert "未运行（待确认）" in client.get("/comparisons/").get_data(as_text=True)
    # The button without the checkbox: nothing starts.
    response = client.post(
        "/comparisons/", data={"region": FUNING, "year": "2027", "confirms": str(refused.id)}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/comparisons/{refused.id}")
    assert len(runs(app)) == 1
    assert "请先勾选" in client.get(f"/comparisons/{refused.id}").get_data(as_text=True)
    # Confirmed: a forced run of the same region and year.
    response = client.post(
        "/comparisons/",
        data={"region": FUNING, "year": "2027", "confirms": str(refused.id), "force": "y"},
    )
    run_jobs(app)
    forced = runs(app)[-1]
    assert response.headers["Location"].endswith(f"/comparisons/{forced.id}")
    assert (forced.state, forced.forced, forced.year, forced.opened) == ("succeeded", True, 2027, 4)
    assert [c["code"] for c in forced.checks] == ["no_insured"]
    (event,) = fetch(app, select(AuditEvent).where(AuditEvent.target_id == str(forced.id)))
    assert event.action == "comparison.run"
    assert event.detail == {
        "year": 2027,
        "forced": True,
        "confirms_run": refused.id,
        "checks": ["no_insured"],
    }
    page = client.get(f"/comparisons/{forced.id}").get_data(as_text=True)
    assert "本次比对在检查发现异常后经确认运行" in page


def test_a_drop_since_the_regions_last_run_is_refused_by_the_job(app, login):
    with database(app) as session:
        numbers = populate(session, insured=10, uninsured=0)
    client = login("fn_staff")
    client.post("/comparisons/", data={"region": FUNING})
    run_jobs(app)
    with database(app) as session:  # three records lost from the next extract
        session.execute(
            Enrollment.__table__.update()
            .where(Enrollment.id_number.in_(numbers[:3]))
            .values(status="terminated", end_date=date(2026, 12, 31))
        )
    client.post("/comparisons/", data={"region": FUNING})
    run_jobs(app)
    first, second = runs(app)
    assert first.state == "succeeded" and second.state == "refused"
    assert [c["code"] for c in second.checks] == ["coverage_drop"]
    assert f"#{first.id}，100.0%" in second.checks[0]["message"]


def test_the_runs_of_a_refused_region_change_no_file_or_person(app, login):
    with database(app) as session:
        populate(session, insured=1, uninsured=9)
    login("fn_staff").post("/comparisons/", data={"region": FUNING})
    run_jobs(app)
    assert not fetch(app, select(PersonChange))
    assert {p.insured_status for p in fetch(app, select(Person))} == {"unknown"}


# --- the command line -------------------------------------------------------------------------


def test_the_command_line_refuses_with_the_figures_and_force_overrides(app):
    with database(app) as session:
        populate(session, insured=0, uninsured=3)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["compare", "--region", FUNING, "--as", "fn_staff"])
    assert refused.exit_code != 0
    assert "没有可用的 2027 年度参保记录" in refused.output and "3 名应参保人员" in refused.output
    assert "--force" in refused.output
    assert not fetch(app, select(PersonFile))
    forced = runner.invoke(args=["compare", "--region", FUNING, "--as", "fn_staff", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "新建未参保档案 3" in forced.output
    assert [(r.state, r.forced) for r in runs(app)] == [("refused", False), ("succeeded", True)]
