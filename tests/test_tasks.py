"""The grid worker's task list and file page: scope, priority order, search, masking, size."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.audit.models import AuditEvent
from portal.persons import codes
from portal.persons.models import PersonFile
from portal.timeutil import local_today
from tests.factories import (
    FULL_ID,
    FULL_MOBILE,
    WUTAN,
    XINGFU,
    XINSHENG,
    create_task,
    names_in_list,
)
from tests.helpers import database, fetch

GOV = codes.KEY_POPULATION_BY_CODE["extreme_poverty"].bit
STUDENT = codes.KEY_POPULATION_BY_CODE["student"].bit  # a key population not paid by government


@pytest.fixture
def task(app):
    return lambda name, **kw: create_task(app, name, **kw)


# --- the list ---------------------------------------------------------------------------------


def test_tasks_come_in_priority_order(app, login, task):
    today = local_today()
    day = timedelta(days=1)
    task("普通晚", due_date=today + 20 * day)
    task("普通早", due_date=today + 3 * day)
    task("无期限")
    task("逾期", due_date=today - 2 * day)
    task("更逾期", due_date=today - 9 * day)
    task("今日跟进", follow_up_on=today, state="following")
    task("跟进过期", follow_up_on=today - day, state="following", due_date=today + 9 * day)
    task("以后跟进", follow_up_on=today + 5 * day, state="following", due_date=today + 10 * day)
    task("特困", key_populations=GOV)
    task("特困逾期", key_populations=GOV, due_date=today - day)
    task("学生", key_populations=STUDENT, due_date=today + 4 * day)
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    assert names_in_list(html) == [
        "特困逾期",  # government-paid first, the overdue among them first
        "特困",
        "更逾期",  # then overdue, the longest overdue first
        "逾期",
        "跟进过期",  # then follow-ups due, by due date
        "今日跟进",
        "普通早",  # then the rest, by due date, those without one last
        "学生",
        "以后跟进",
        "普通晚",
        "无期限",
    ]


def test_the_list_holds_only_my_files_in_the_states_of_work(app, login, task):
    task("我的待走访")
    task("我的跟进中", state="following")
    task("我的待审核", state="pending_review")
    task("我的待确认", state="pending_confirmation")
    task("我的待确认二", state="pending_confirmation")
    task("我的已拒绝", state="declined")
    task("同社区别人的", assignee="fc_grid2")
    task("同社区未分配", assignee=None, state="unassigned")
    task("别的街道", assignee="wt_grid1", region=WUTAN)
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    assert sorted(names_in_list(html)) == sorted(["我的待走访", "我的跟进中"])
    assert "待走访 <b>2</b>" in html
    assert "待比对确认 2 · 待审核 1" in html


def test_a_file_assigned_to_me_outside_my_community_is_not_mine_to_visit(app, login, task):
    """The scope is the grant's region AND the assignment: both must hold."""
    task("邻社区的", region=XINSHENG)
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    assert names_in_list(html) == []
    assert "没有待走访的档案" in html


def test_each_row_says_what_is_due(app, login, task):
    today = local_today()
    task("甲", due_date=today - timedelta(days=1), address="兴阜居委会幸福路12号3幢")
    task("乙", follow_up_on=today, state="following")
    later = today + timedelta(days=30)
    task("丙", due_date=later, key_populations=GOV | STUDENT)
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    rows = html.split('<ol class="tasks">', 1)[1].split("</li>")
    first = next(r for r in rows if "<b>甲</b>" in r)
    assert '<em class="over">逾期</em>' in first
    assert "兴阜居委会 · 幸福路12号3幢" in first  # the community once, then the short address
    assert '<em class="today">今日跟进</em>' in next(r for r in rows if "<b>乙</b>" in r)
    third = next(r for r in rows if "<b>丙</b>" in r)
    assert f"截止 {later.month}月{later.day}日" in third
    assert "<mark>特困人员</mark>" in third and "在校学生" not in third


@pytest.mark.parametrize(
    ("query", "expected"),
    [("张", ["张三", "张三丰"]), ("三丰", ["张三丰"]), ("李", ["李四"])],
)
def test_search_by_name(app, login, task, query, expected):
    task("张三")
    task("张三丰")
    task("李四")
    task("张别人", assignee="fc_grid2")
    html = login("fc_grid1").get("/tasks/", query_string={"q": query}).get_data(as_text=True)
    assert sorted(names_in_list(html)) == sorted(expected)


def test_search_by_the_last_digits_of_the_id_number(app, login, task):
    zhang, li = task("张三"), task("李四")
    client = login("fc_grid1")
    for tail in (zhang.id_number[-4:], zhang.id_number[-6:], zhang.id_number[-5:].lower()):
        html = client.get("/tasks/", query_string={"q": tail}).get_data(as_text=True)
        assert names_in_list(html) == ["张三"], tail
    html = client.get("/tasks/", query_string={"q": li.id_number[-4:]}).get_data(as_text=True)
    assert names_in_list(html) == ["李四"]


@pytest.mark.parametrize("query", ["12", "1234567", "3209231970"])
def test_a_search_by_other_digits_is_refused_in_chinese(login, task, query):
    task("张三")
    html = login("fc_grid1").get("/tasks/", query_string={"q": query}).get_data(as_text=True)
    assert "请输入姓名，或身份证号的末 4 至 6 位。" in html
    assert '<ol class="tasks">' not in html


def test_the_search_never_reaches_beyond_my_files(app, login, task):
    other = task("张别人", assignee="fc_grid2")
    client = login("fc_grid1")
    for q in ("张别人", other.id_number[-6:]):
        assert names_in_list(client.get("/tasks/", query_string={"q": q}).get_data(True)) == []


def test_my_progress_is_at_the_top(app, login, task, user):
    overdue = task("逾期", due_date=local_today() - timedelta(days=3))
    task("待走访")
    with database(app) as session:
        session.execute(
            update(PersonFile)
            .where(PersonFile.id == overdue.file_id)
            .values(state="following", last_visit_at=None)
        )
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    assert "待走访 <b>2</b>" in html and "逾期 <b>1</b>" in html
    assert "本周走访 <b>0</b>" in html and "本月转化 <b>0</b>" in html


def test_the_list_pages_at_50(app, login, task):
    for n in range(51):
        task(f"人员{n:02d}")
    client = login("fc_grid1")
    first = client.get("/tasks/").get_data(as_text=True)
    assert len(names_in_list(first)) == 50
    assert "第 1 / 2 页，共 51 条" in first
    second = client.get("/tasks/?page=2").get_data(as_text=True)
    assert names_in_list(second) == ["人员50"]


def test_the_task_list_of_50_files_is_under_30_kb(app, login, task):
    today = local_today()
    for n in range(50):
        task(
            f"欧阳晓{n:02d}",  # long names, addresses and every tag: the heaviest rows
            phone=f"138{n:08d}",
            address=f"兴阜居委会幸福大道{n}号{n % 30}幢{101 + n}室东单元",
            key_populations=GOV | codes.KEY_POPULATION_BY_CODE["minimum_allowance"].bit,
            due_date=today + timedelta(days=n - 25),
            follow_up_on=today,
            state="following",
        )
    response = login("fc_grid1").get("/tasks/")
    assert len(names_in_list(response.get_data(as_text=True))) == 50
    assert len(response.data) < 30_000, f"{len(response.data)} bytes"


def test_no_full_number_in_the_list_or_on_the_file_page(app, login, task):
    zhang = task("张三", phone="13812345678", address="兴阜居委会幸福路1号")
    client = login("fc_grid1")
    for path in ("/tasks/", f"/tasks/{zhang.file_id}", f"/tasks/?q={zhang.id_number[-4:]}"):
        html = client.get(path).get_data(as_text=True)
        assert "张三" in html
        assert not FULL_ID.search(html), path
        assert not FULL_MOBILE.search(html), path
        assert zhang.id_number not in html and "13812345678" not in html


# --- the file page ----------------------------------------------------------------------------


def test_the_file_page_shows_what_a_visit_needs(app, login, task):
    zhang = task(
        "张三",
        phone="13812345678",
        address="兴阜居委会幸福路1号",
        key_populations=GOV,
        due_date=local_today() + timedelta(days=5),
    )
    html = login("fc_grid1").get(f"/tasks/{zhang.file_id}").get_data(as_text=True)
    assert zhang.id_number[:4] + "*" * 10 + zhang.id_number[-4:] in html  # masked ID
    assert "138****5678" in html and "拨打电话" in html
    assert "兴阜居委会幸福路1号" in html and "特困人员" in html
    assert "还没有走访记录" in html
    # The visit form, usable without JavaScript: 上门 preselected, the reason always there.
    assert re.search(r'<input checked [^>]*name="method" [^>]*value="in_person">', html)
    assert '<select id="reason_code" name="reason_code">' in html
    assert re.search(r'name="idempotency_key" type="hidden" value="[0-9a-f-]{36}"', html)
    assert 'name="version" type="hidden" value="1"' in html
    assert re.search(r'<input data-needs-reason [^>]*name="outcome" [^>]*value="declined">', html)
    assert len(re.findall(r"data-needs-reason", html)) == 1  # declined only
    assert '<script src="/static/visit-draft.js?v=' in html  # versioned: static_files.py


def test_each_render_carries_a_new_idempotency_key(login, task):
    zhang = task("张三")
    client = login("fc_grid1")
    pattern = r'name="idempotency_key" type="hidden" value="([0-9a-f-]{36})"'
    keys = {
        re.search(pattern, client.get(f"/tasks/{zhang.file_id}").get_data(True))[1] for _ in "ab"
    }
    assert len(keys) == 2


def test_a_file_waiting_for_review_offers_no_visit_form(login, task):
    waiting = task("待审核的", state="pending_review")
    html = login("fc_grid1").get(f"/tasks/{waiting.file_id}").get_data(as_text=True)
    assert "现在不需要走访" in html and 'name="outcome"' not in html


def test_a_file_waiting_for_confirmation_offers_only_a_follow_up(login, task):
    waiting = task("待确认的", state="pending_confirmation")
    html = login("fc_grid1").get(f"/tasks/{waiting.file_id}").get_data(as_text=True)
    offered = set(re.findall(r'name="outcome" [^>]*value="([a-z_]+)"', html))
    assert offered == {"will_pay", "unreachable", "away_working", "other"}


@pytest.mark.parametrize(
    ("assignee", "region", "state"),
    [
        ("fc_grid2", XINGFU, "assigned"),  # my community, another worker's file
        (None, XINGFU, "unassigned"),  # my community, nobody's file
        ("fc_grid1", XINSHENG, "assigned"),  # mine, but outside my community
        ("wt_grid1", WUTAN, "assigned"),  # another street
    ],
)
def test_a_file_not_assigned_to_me_cannot_be_seen_visited_or_called(
    app, login, task, assignee, region, state
):
    other = task("别人的", assignee=assignee, region=region, state=state, phone="13900001111")
    client = login("fc_grid1")
    assert client.get(f"/tasks/{other.file_id}").status_code == 404
    visit = {
        "method": "in_person",
        "outcome": "will_pay",
        "idempotency_key": "6f1c1d8e-2a4b-4c55-9a76-0b8e2f1e3d10",
        "version": "1",
    }
    assert client.post(f"/tasks/{other.file_id}/visit", data=visit).status_code == 404
    assert client.post(f"/tasks/{other.file_id}/call").status_code == 404
    from portal.visits.models import Visit

    assert fetch(app, select(Visit)) == []
    assert fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal")) == []


def test_the_supervisor_opens_any_file_of_the_township(login, task):
    file = task("督导看", assignee="fc_grid2", region=XINSHENG)
    client = login("fc_supervisor")
    assert client.get(f"/tasks/{file.file_id}").status_code == 200
    assert login("wt_supervisor").get(f"/tasks/{file.file_id}").status_code == 404


def test_staff_without_visits_cannot_open_the_pages(login, task):
    file = task("县经办")
    client = login("fn_staff")
    assert client.get("/tasks/").status_code == 403
    assert client.get(f"/tasks/{file.file_id}").status_code == 403


# --- the call ---------------------------------------------------------------------------------


def test_the_call_shows_the_full_number_as_a_tel_link_and_is_audited(app, login, task, user):
    zhang = task("张三", phone="13812345678")
    client = login("fc_grid1")
    response = client.post(f"/tasks/{zhang.file_id}/call")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="tel:13812345678"' in html and ">13812345678</a>" in html
    assert zhang.id_number not in html  # the call reveals the phone only
    assert response.headers["Cache-Control"] == "no-store"
    (event,) = fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal"))
    assert event.actor_username == "fc_grid1"
    assert (event.target_type, event.target_id) == ("person", str(zhang.person_id))
    assert "13812345678" not in (event.target_label or "") + str(event.detail or "")
    assert event.detail == {"via": "call"}


def test_a_call_is_a_post(app, login, task):
    zhang = task("张三", phone="13812345678")
    response = login("fc_grid1").get(f"/tasks/{zhang.file_id}/call")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/tasks/{zhang.file_id}"
    )
    assert fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal")) == []


def test_no_call_without_a_phone(app, login, task):
    nobody = task("无电话")
    client = login("fc_grid1")
    assert "拨打电话" not in client.get(f"/tasks/{nobody.file_id}").get_data(as_text=True)
    assert client.post(f"/tasks/{nobody.file_id}/call").status_code == 302
    assert fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal")) == []


# --- getting there ----------------------------------------------------------------------------


def test_the_grid_worker_is_led_to_the_task_list(login, task):
    task("张三")
    html = login("fc_grid1").get("/").get_data(as_text=True)
    assert 'href="/tasks/">我的任务</a>' in html  # the menu
    assert 'class="tile tile-main" href="/tasks/"' in html and "待走访 1 个档案" in html


def test_staff_see_no_task_list(login):
    html = login("fn_staff").get("/").get_data(as_text=True)
    assert "我的任务" not in html
