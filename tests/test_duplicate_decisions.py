"""Duplicate enrollment: the worklist and the four-eyes decision (portal/duplicates/service.py).

A person of 阜宁县 holds an employee record insured in 阜宁县 and a resident record insured in
亭湖区: each county sees its own record in full and of the other only its region and scheme; a
decision proposed by one county takes effect when the other (or the city above both) confirms
it; handled records are marked, never deleted, and stay on the person's page.
"""

import threading
from datetime import date

import pytest
from sqlalchemy import delete, select

from portal.audit.details import Lookups, describe
from portal.audit.models import AuditEvent
from portal.demo import DemoAccount, seed_accounts
from portal.duplicates import service as svc
from portal.duplicates.models import DuplicateCase, DuplicateFigures, DuplicateMember
from portal.extensions import db
from portal.jobs.models import Job
from portal.persons.models import Enrollment, Person, PersonChange
from portal.years.selection import current_year
from tests.factories import make_id

FUNING, TINGHU, JIANHU = "320923000000", "320902000000", "320925000000"
COMMUNITY = "320923001001"
FUNING_EMPLOYER = "阜宁县晨光机械厂"
TINGHU_EMPLOYER = "亭湖区某某学校"
TINGHU_NAME = "亭湖名单名"
TINGHU_START = date(2024, 7, 15)
FUNING_START = date(2023, 5, 1)
ACCOUNTS = (
    DemoAccount("dup_th_staff", "亭湖区经办", "county_staff", TINGHU),
    DemoAccount("dup_fn_staff2", "阜宁县经办乙", "county_staff", FUNING),
    DemoAccount("dup_jh_staff", "建湖县经办", "county_staff", JIANHU),
)


def _id(n: int) -> str:
    return make_id(n, birth="19880808")


def _make_case(n: int = 1, *, year: int | None = None) -> dict:
    """A cross-scheme case of two counties; no commit (the test's transaction)."""
    seed_accounts(ACCOUNTS)
    number = _id(n)
    person = Person(
        id_number=number,
        name="重复甲",
        sex="1",
        birth_date=date(1988, 8, 8),
        region_code=COMMUNITY,
        in_register=True,
        insured_status="insured",
    )
    funing = Enrollment(
        id_number=number,
        scheme="employee",
        region_code=FUNING,
        start_date=FUNING_START,
        status="normal",
        category="employed",
        employer=FUNING_EMPLOYER,
        employer_region_code=FUNING,
        continuous_months=30,
    )
    tinghu = Enrollment(
        id_number=number,
        scheme="resident",
        region_code=TINGHU,
        start_date=TINGHU_START,
        status="normal",
        category="resident",
        employer=TINGHU_EMPLOYER,
        name=TINGHU_NAME,
    )
    db.session.add_all([person, funing, tinghu])
    db.session.flush()
    case = DuplicateCase(
        year=year or current_year(),
        id_number=number,
        person_id=person.id,
        region_code=COMMUNITY,
        kind="cross",
        state="open",
        rule="cross_employee_year",
        recommended_id=funing.id,
        subsidy_deductions=1,
    )
    db.session.add(case)
    db.session.flush()
    db.session.add_all(
        [
            DuplicateMember(
                case_id=case.id, enrollment_id=funing.id, region_code=FUNING, scheme="employee"
            ),
            DuplicateMember(
                case_id=case.id, enrollment_id=tinghu.id, region_code=TINGHU, scheme="resident"
            ),
        ]
    )
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back
    return {
        "case": case.id,
        "person": person.id,
        "funing": funing.id,
        "tinghu": tinghu.id,
        "year": case.year,
    }


@pytest.fixture
def made(app):
    with app.test_request_context():
        return _make_case()


def _proposal(ids, **overrides) -> dict:
    data = {
        f"action-{ids['funing']}": "keep",
        f"action-{ids['tinghu']}": "terminate",
        "reason": "本人在阜宁县就业，保留职工医保",
        "version": "1",
        "proposal": "decide",
    }
    return data | overrides


def _case(app, case_id) -> DuplicateCase:
    with app.app_context():
        case = db.session.get(DuplicateCase, case_id)
        db.session.expunge(case)
        return case


def _record(app, enrollment_id) -> Enrollment:
    with app.app_context():
        record = db.session.get(Enrollment, enrollment_id)
        db.session.expunge(record)
        return record


# --- who sees what ------------------------------------------------------------------------------


def test_each_county_sees_its_own_record_in_full_and_of_the_other_only_region_and_scheme(
    login, made
):
    funing = login("fn_staff")
    body = funing.get("/duplicates/").get_data(as_text=True)
    assert f"/duplicates/{made['case']}" in body
    assert "重复甲" in body and "亭湖区" in body and "阜宁县" in body
    assert _id(1) not in body
    page = funing.get(f"/duplicates/{made['case']}").get_data(as_text=True)
    assert FUNING_EMPLOYER in page and str(FUNING_START) in page
    assert "亭湖区" in page and "居民医保" in page
    for secret in (TINGHU_EMPLOYER, TINGHU_NAME, str(TINGHU_START), _id(1)):
        assert secret not in page

    tinghu = login("dup_th_staff")
    body = tinghu.get("/duplicates/").get_data(as_text=True)
    assert f"/duplicates/{made['case']}" in body
    page = tinghu.get(f"/duplicates/{made['case']}").get_data(as_text=True)
    assert TINGHU_EMPLOYER in page and str(TINGHU_START) in page and TINGHU_NAME in page
    assert "阜宁县" in page and "职工医保" in page
    for secret in (FUNING_EMPLOYER, str(FUNING_START), _id(1)):
        assert secret not in page
    # The person lives in Funing: Tinghu learns no registered name, only its own extract's.
    assert "重复甲" not in page


def test_the_city_above_both_sees_both_records_in_full(login, made):
    page = login("yc_staff").get(f"/duplicates/{made['case']}").get_data(as_text=True)
    for shown in (FUNING_EMPLOYER, TINGHU_EMPLOYER, str(FUNING_START), str(TINGHU_START)):
        assert shown in page
    assert "对方区划记录" not in page


def test_a_third_county_sees_nothing(login, made):
    jianhu = login("dup_jh_staff")
    assert f"/duplicates/{made['case']}" not in jianhu.get("/duplicates/").get_data(as_text=True)
    assert jianhu.get(f"/duplicates/{made['case']}").status_code == 404
    assert (
        jianhu.post(f"/duplicates/{made['case']}/propose", data=_proposal(made)).status_code == 404
    )
    assert login("fc_supervisor").get("/duplicates/").status_code == 403


def test_the_worklist_filters_and_says_whose_turn_it_is(app, login, made):
    funing = login("fn_staff")
    assert "待提出处理意见" in funing.get("/duplicates/").get_data(as_text=True)
    funing.post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    assert "待对方确认" in funing.get("/duplicates/?stage=awaiting").get_data(as_text=True)
    assert f"/duplicates/{made['case']}" not in funing.get("/duplicates/?stage=pending").get_data(
        as_text=True
    )
    assert f"/duplicates/{made['case']}" not in funing.get("/duplicates/?kind=employee").get_data(
        as_text=True
    )
    tinghu = login("dup_th_staff").get("/duplicates/?stage=awaiting").get_data(as_text=True)
    assert "待您确认" in tinghu
    other_year = made["year"] - 1
    body = funing.get(f"/duplicates/?year={other_year}").get_data(as_text=True)
    assert f"/duplicates/{made['case']}" not in body


# --- four eyes ----------------------------------------------------------------------------------


def test_a_decision_needs_a_second_user_of_the_other_side(app, login, made):
    funing = login("fn_staff")
    response = funing.post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    assert response.status_code == 303
    case = _case(app, made["case"])
    assert case.state == "open" and case.proposed_by_id and case.proposer_region_code == FUNING
    version = str(case.version)

    # The proposer cannot confirm their own proposal, nor can a colleague of the same side.
    own = funing.post(f"/duplicates/{made['case']}/decide", data={"version": version})
    assert "不能确认或退回自己提出的处理意见" in own.get_data(as_text=True)
    colleague = login("dup_fn_staff2")
    page = colleague.post(f"/duplicates/{made['case']}/decide", data={"version": version})
    assert "须由对方区划或共同上级的用户确认" in page.get_data(as_text=True)
    assert _record(app, made["tinghu"]).status == "normal"
    assert _case(app, made["case"]).state == "open"

    # The other side confirms: the decision takes effect.
    tinghu = login("dup_th_staff")
    assert "确认并生效" in tinghu.get(f"/duplicates/{made['case']}").get_data(as_text=True)
    done = tinghu.post(
        f"/duplicates/{made['case']}/decide", data={"version": version, "decision": "confirm"}
    )
    assert done.status_code == 303
    case = _case(app, made["case"])
    assert case.state == "resolved" and case.decided_by_id != case.proposed_by_id
    kept, ended = _record(app, made["funing"]), _record(app, made["tinghu"])
    assert (kept.status, kept.handled_action, kept.handled_case_id) == ("normal", "keep", case.id)
    assert (ended.status, ended.handled_action, ended.status_before) == (
        "terminated",
        "terminate",
        "normal",
    )
    assert ended.handled_at is not None
    with app.app_context():
        actions = dict(
            db.session.execute(
                select(DuplicateMember.enrollment_id, DuplicateMember.action).where(
                    DuplicateMember.case_id == case.id
                )
            ).all()
        )
        assert actions == {made["funing"]: "keep", made["tinghu"]: "terminate"}
        figures = db.session.get(DuplicateFigures, (case.year, COMMUNITY))
        assert figures is not None and figures.resolved == 1 and figures.open == 0


def test_the_city_above_both_may_confirm_a_countys_proposal(app, login, made):
    login("fn_staff").post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    city = login("yc_staff")
    response = city.post(
        f"/duplicates/{made['case']}/decide", data={"version": "2", "decision": "confirm"}
    )
    assert response.status_code == 303
    assert _case(app, made["case"]).state == "resolved"


def test_a_proposal_is_refused_in_chinese_and_keeps_what_was_typed(app, login, made):
    funing = login("fn_staff")
    page = funing.post(
        f"/duplicates/{made['case']}/propose",
        data=_proposal(made, reason="  ", **{f"action-{made['tinghu']}": "suspend"}),
    ).get_data(as_text=True)
    assert "请填写处理理由" in page
    assert f'name="action-{made["tinghu"]}" value="suspend" checked' in page
    page = funing.post(
        f"/duplicates/{made['case']}/propose",
        data=_proposal(made, **{f"action-{made['funing']}": "terminate"}),
    ).get_data(as_text=True)
    assert "至少保留一条参保记录" in page
    assert "本人在阜宁县就业，保留职工医保" in page  # the reason typed stays
    assert _case(app, made["case"]).proposed_by_id is None


# --- records survive ----------------------------------------------------------------------------


def test_handled_records_survive_and_show_on_the_persons_page(app, login, made):
    login("fn_staff").post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    login("dup_th_staff").post(
        f"/duplicates/{made['case']}/decide", data={"version": "2", "decision": "confirm"}
    )
    with app.app_context():
        count = db.session.scalar(
            select(db.func.count()).select_from(Enrollment).where(Enrollment.id_number == _id(1))
        )
        assert count == 2
        change = db.session.scalar(
            select(PersonChange).where(
                PersonChange.person_id == made["person"], PersonChange.cause == "duplicate"
            )
        )
        assert change is not None and "终止" in change.changes["duplicate_enrollments"][1]
    page = login("fn_staff").get(f"/persons/{made['person']}").get_data(as_text=True)
    assert "因重复参保于" in page and f"案件 #{made['case']}" in page and "终止" in page
    assert "重复参保处理" in page  # the history entry
    # Still found by a search on the ID number (POSTed: it never enters a URL).
    found = login("fn_staff").post("/persons/", data={"id_number": _id(1)})
    assert f"/persons/{made['person']}" in found.get_data(as_text=True)


def test_a_returned_proposal_leaves_the_records_untouched(app, login, made):
    login("fn_staff").post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    tinghu = login("dup_th_staff")
    page = tinghu.post(
        f"/duplicates/{made['case']}/decide", data={"version": "2", "decision": "return"}
    ).get_data(as_text=True)
    assert "退回时请填写意见" in page
    response = tinghu.post(
        f"/duplicates/{made['case']}/decide",
        data={"version": "2", "decision": "return", "comment": "本人已离职，请核实就业地"},
    )
    assert response.status_code == 303
    case = _case(app, made["case"])
    assert case.state == "open" and case.proposed_by_id is None
    for key in ("funing", "tinghu"):
        record = _record(app, made[key])
        assert record.status == "normal" and record.handled_case_id is None
    page = login("fn_staff").get(f"/duplicates/{made['case']}").get_data(as_text=True)
    assert "本人已离职，请核实就业地" in page and "提交处理意见" in page


def test_the_proposer_may_withdraw_before_the_other_side_confirms(app, login, made):
    funing = login("fn_staff")
    funing.post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    # The other side sees no withdraw button and may not withdraw.
    tinghu = login("dup_th_staff")
    assert "撤回我的意见" not in tinghu.get(f"/duplicates/{made['case']}").get_data(as_text=True)
    page = tinghu.post(f"/duplicates/{made['case']}/withdraw", data={"version": "2"})
    assert "只有提出人可以撤回处理意见" in page.get_data(as_text=True)
    assert _case(app, made["case"]).proposed_by_id is not None
    assert "撤回我的意见" in funing.get(f"/duplicates/{made['case']}").get_data(as_text=True)
    response = funing.post(f"/duplicates/{made['case']}/withdraw", data={"version": "2"})
    assert response.status_code == 303
    case = _case(app, made["case"])
    assert case.state == "open" and case.proposed_by_id is None and case.proposal_reason is None
    for key in ("funing", "tinghu"):
        assert _record(app, made[key]).status == "normal"
    page = funing.get(f"/duplicates/{made['case']}").get_data(as_text=True)
    assert "提交处理意见" in page and "撤回意见" in page  # may propose again; the step is history
    # A confirmation sent for the withdrawn proposal is told what happened, and changes nothing.
    late = tinghu.post(
        f"/duplicates/{made['case']}/decide", data={"version": "2", "decision": "confirm"}
    )
    assert late.status_code == 303
    assert _record(app, made["tinghu"]).status == "normal"


def test_not_a_duplicate_is_proposed_and_confirmed_the_same_way(app, login, made):
    login("dup_th_staff").post(
        f"/duplicates/{made['case']}/propose",
        data={"reason": "两条记录期间不重叠", "version": "1", "proposal": "not_duplicate"},
    )
    assert _case(app, made["case"]).state == "open"
    response = login("fn_staff").post(
        f"/duplicates/{made['case']}/decide", data={"version": "2", "decision": "confirm"}
    )
    assert response.status_code == 303
    assert _case(app, made["case"]).state == "not_duplicate"
    for key in ("funing", "tinghu"):
        record = _record(app, made[key])
        assert record.status == "normal" and record.handled_case_id is None


def test_a_step_on_a_case_changed_meanwhile_is_told_what_happened(app, login, made):
    login("fn_staff").post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    login("dup_th_staff").post(
        f"/duplicates/{made['case']}/decide", data={"version": "2", "decision": "confirm"}
    )
    city = login("yc_staff")
    response = city.post(
        f"/duplicates/{made['case']}/decide",
        data={"version": "2", "decision": "confirm"},
        follow_redirects=True,
    )
    body = response.get_data(as_text=True)
    assert "已由亭湖区经办于" in body and "确认处理" in body and "您的操作未执行" in body
    assert _record(app, made["tinghu"]).status == "terminated"


# --- audit --------------------------------------------------------------------------------------


def test_every_step_is_audited_in_chinese(app, login, made):
    login("fn_staff").post(f"/duplicates/{made['case']}/propose", data=_proposal(made))
    login("dup_th_staff").post(
        f"/duplicates/{made['case']}/decide",
        data={"version": "2", "decision": "return", "comment": "请核实"},
    )
    login("fn_staff").post(f"/duplicates/{made['case']}/propose", data=_proposal(made, version="3"))
    login("dup_th_staff").post(
        f"/duplicates/{made['case']}/decide", data={"version": "4", "decision": "confirm"}
    )
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.target_type == "duplicate_case",
                AuditEvent.target_id == str(made["case"]),
            )
            .order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in events] == [
            "duplicate.propose",
            "duplicate.return",
            "duplicate.propose",
            "duplicate.confirm",
        ]
        assert all(e.region_code == "320900000000" for e in events)  # Yancheng: both counties
        assert _id(1) not in str([e.target_label for e in events])
        words = dict(describe(events[-1].detail, Lookups()))
        assert words["重复类型"] == "跨制度" and words["意见类型"] == "处理意见"
        assert words["终止的参保记录"] == str(made["tinghu"])
    page = login("fn_staff").get(f"/duplicates/{made['case']}").get_data(as_text=True)
    assert page.count("提出意见") >= 2 and "请核实" in page


def test_detection_is_requested_from_the_worklist_once_at_a_time(app, login, made):
    funing = login("fn_staff")
    year = str(made["year"])
    response = funing.post("/duplicates/detect", data={"year": year}, follow_redirects=True)
    assert "重复参保检测已开始" in response.get_data(as_text=True)
    again = funing.post("/duplicates/detect", data={"year": year}, follow_redirects=True)
    assert "已有重复参保检测正在进行" in again.get_data(as_text=True)
    with app.app_context():
        jobs = db.session.scalars(select(Job).where(Job.kind == "duplicate_detection")).all()
        assert len(jobs) == 1 and jobs[0].payload["year"] == int(year)
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "duplicate.detect"))
    assert login("dup_jh_staff").get("/duplicates/").get_data(as_text=True).count("排队中") == 0


# --- two users at once (PostgreSQL) -------------------------------------------------------------


@pytest.mark.no_db
def test_two_confirmations_at_once_one_wins_and_nothing_is_applied_twice(app, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has a single writer; concurrency is PostgreSQL's question")
    from portal.accounts.models import User

    with app.test_request_context():
        ids = _make_case(7)
        proposer = db.session.scalar(select(User).where(User.username == "fn_staff"))
        case = db.session.get(DuplicateCase, ids["case"])
        members = svc.members_of([case.id])[case.id]
        svc.propose(
            proposer,
            case,
            members,
            {ids["funing"]: "keep", ids["tinghu"]: "terminate"},
            "并发测试",
            version=case.version,
        )
        db.session.commit()
        version = case.version
    start = threading.Barrier(2)
    results, errors = {}, []

    def confirm(username):
        try:
            with app.test_request_context():
                actor = db.session.scalar(select(User).where(User.username == username))
                case = db.session.get(DuplicateCase, ids["case"])
                members = svc.members_of([case.id])[case.id]
                start.wait(timeout=30)
                try:
                    svc.confirm(actor, case, members, version=version)
                    db.session.commit()
                    results[username] = "won"
                except svc.DecisionConflict as exc:
                    db.session.rollback()
                    results[username] = str(exc)
                finally:
                    db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=confirm, args=(u,)) for u in ("dup_th_staff", "yc_staff")]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert sorted(v == "won" for v in results.values()) == [False, True]
        loser = next(v for v in results.values() if v != "won")
        assert "确认处理" in loser and "您的操作未执行" in loser
        with app.app_context():
            assert db.session.get(DuplicateCase, ids["case"]).state == "resolved"
            record = db.session.get(Enrollment, ids["tinghu"])
            assert record.status == "terminated" and record.status_before == "normal"
            changes = db.session.scalars(
                select(PersonChange).where(PersonChange.person_id == ids["person"])
            ).all()
            assert len(changes) == 1  # applied once
            confirms = db.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "duplicate.confirm",
                    AuditEvent.target_id == str(ids["case"]),
                )
            ).all()
            assert len(confirms) == 1
    finally:
        _cleanup(app, ids)


def _cleanup(app, ids) -> None:
    from portal.accounts.models import Grant, User

    with app.app_context():
        db.session.execute(delete(DuplicateMember).where(DuplicateMember.case_id == ids["case"]))
        db.session.execute(delete(DuplicateCase).where(DuplicateCase.id == ids["case"]))
        db.session.execute(delete(Enrollment).where(Enrollment.id_number == _id(7)))
        db.session.execute(delete(PersonChange).where(PersonChange.person_id == ids["person"]))
        db.session.execute(delete(Person).where(Person.id == ids["person"]))
        db.session.execute(delete(DuplicateFigures))
        users = select(User.id).where(User.username.in_([a.username for a in ACCOUNTS]))
        db.session.execute(delete(Grant).where(Grant.user_id.in_(users)))
        db.session.execute(delete(User).where(User.username.in_([a.username for a in ACCOUNTS])))
        db.session.commit()
