"""Recording a visit from the phone: outcomes move the file by the transition table, one visit
per idempotency key (also when two submits race on PostgreSQL), conflicts and refusals keep the
worker's input and save nothing."""

import re
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from portal.accounts.models import User
from portal.extensions import db
from portal.persons.models import Person, PersonChange, PersonFile
from portal.timeutil import local_today
from portal.visits.codes import OUTCOMES
from portal.visits.models import Visit
from portal.visits.operations import VisitInput, record_visit
from portal.workflow.transitions import BY_ACTION
from tests.factories import HIDDEN, create_task, form_of, submit
from tests.helpers import database, fetch


def visits(app, file_id: int) -> list[Visit]:
    return fetch(app, select(Visit).where(Visit.file_id == file_id))


def file_row(app, file_id: int) -> PersonFile:
    (found,) = fetch(app, select(PersonFile).where(PersonFile.id == file_id))
    return found


@pytest.fixture
def task(app):
    return lambda name="张三", **kw: create_task(app, name, **kw)


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda o: o.code)
@pytest.mark.parametrize("state", ["assigned", "following"])
def test_each_outcome_moves_the_file_by_the_transition_table(app, login, task, outcome, state):
    zhang = task(state=state)
    client = login("fc_grid1")
    reason = "hardship" if outcome.needs_reason else ""
    response = submit(client, zhang.file_id, outcome=outcome.code, reason_code=reason, note="说明")
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks/")
    file = file_row(app, zhang.file_id)
    assert file.state == BY_ACTION[outcome.action].target
    assert file.reason_code == (reason or outcome.reason)
    assert file.last_visit_at is not None and file.version > 1
    (visit,) = visits(app, zhang.file_id)
    assert (visit.outcome, visit.method, visit.note) == (outcome.code, "in_person", "说明")
    assert visit.review_state == ("pending" if outcome.action == "propose_close" else None)
    (change,) = fetch(
        app,
        select(PersonChange).where(
            PersonChange.person_id == zhang.person_id, PersonChange.cause == "visit"
        ),
    )
    assert change.changes["visit_outcome"] == [None, outcome.code]
    html = client.get("/tasks/").get_data(as_text=True)
    assert f"已记录走访：张三，{outcome.label}" in html


def test_a_closing_outcome_is_a_proposal_and_leaves_the_list(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    submit(client, zhang.file_id, outcome="deceased")
    html = client.get("/tasks/").get_data(as_text=True)
    assert "已记录走访：张三，死亡，已提交督导审核。" in html
    assert "<b>张三</b>" not in html and "待审核 1" in html
    assert file_row(app, zhang.file_id).state == "pending_review"


def test_paid_today_waits_for_the_comparison(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    submit(client, zhang.file_id, outcome="paid_today")
    html = client.get("/tasks/").get_data(as_text=True)
    assert "今日已缴费，待下次比对确认。" in html and "待比对确认 1" in html
    assert file_row(app, zhang.file_id).state == "pending_confirmation"


def test_a_follow_up_date_is_kept_on_the_file(app, login, task):
    zhang = task()
    day = local_today() + timedelta(days=7)
    submit(login("fc_grid1"), zhang.file_id, outcome="will_pay", follow_up_on=day.isoformat())
    assert file_row(app, zhang.file_id).follow_up_on == day
    assert visits(app, zhang.file_id)[0].follow_up_on == day


def test_the_task_list_after_a_save_names_the_saved_key_once(app, login, task):
    """The device's draft of that visit is cleared by visit-draft.js when it reads this."""
    zhang = task()
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    submit(client, zhang.file_id, form, outcome="will_pay")
    html = client.get("/tasks/").get_data(as_text=True)
    key = form["idempotency_key"]
    assert f'data-saved-file="{zhang.file_id}" data-saved-key="{key}"' in html
    assert '<script src="/static/visit-draft.js?v=' in html  # versioned: static_files.py
    again = client.get("/tasks/").get_data(as_text=True)
    assert "data-saved-key" not in again and "visit-draft.js" not in again


# --- one visit per key ------------------------------------------------------------------------


def test_the_same_visit_posted_twice_saves_one_visit(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    first = submit(client, zhang.file_id, form, outcome="will_pay", note="第一次")
    assert first.status_code == 302
    version_after_first = file_row(app, zhang.file_id).version
    client.get("/tasks/")  # the flash of the first
    second = submit(client, zhang.file_id, form, outcome="will_pay", note="第一次")
    assert second.status_code == 302
    html = client.get("/tasks/").get_data(as_text=True)
    assert "已记录走访：张三，同意参保，将缴费。（此前已提交过，未重复保存）" in html
    assert len(visits(app, zhang.file_id)) == 1
    assert file_row(app, zhang.file_id).version == version_after_first


def test_a_replayed_proposal_is_the_same_success_not_a_refusal(app, login, task):
    """The file has moved on (待审核) since the first submit; the replay still succeeds."""
    zhang = task()
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    submit(client, zhang.file_id, form, outcome="deceased")
    assert submit(client, zhang.file_id, form, outcome="deceased").status_code == 302
    assert len(visits(app, zhang.file_id)) == 1


def test_a_key_used_for_another_file_is_refused(app, login, task):
    zhang, li = task(), task("李四")
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    submit(client, zhang.file_id, form, outcome="will_pay")
    other = {**form_of(client, li.file_id), "idempotency_key": form["idempotency_key"]}
    response = submit(client, li.file_id, other, outcome="will_pay")
    assert response.status_code == 422
    assert "该提交已用于另一个档案" in response.get_data(as_text=True)
    assert visits(app, li.file_id) == []


# --- conflicts and refusals keep the input -----------------------------------------------------


def test_a_stale_version_is_a_conflict_listing_what_changed_and_saves_nothing(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    later = local_today() + timedelta(days=3)
    with database(app) as session:  # the supervisor sets a due date meanwhile
        file = session.get(PersonFile, zhang.file_id)
        file.due_date = later
    response = submit(client, zhang.file_id, form, outcome="will_pay", note="我的备注")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "档案已被修改" in html
    assert f"<li>截止日期：{later.isoformat()}</li>" in html
    assert "档案状态" not in html.split("变化的项目", 1)[1].split("</ul>", 1)[0]
    assert visits(app, zhang.file_id) == []
    # The input is intact, with the file's new version: submitting again saves it.
    assert "我的备注</textarea>" in html
    assert re.search(r'checked [^>]*name="outcome" [^>]*value="will_pay"', html)
    resubmit = dict(HIDDEN.findall(html))
    assert resubmit["version"] == "2" and resubmit["idempotency_key"] == form["idempotency_key"]
    assert "data-draft-keep" in html  # the device draft takes the new version, not the old
    assert submit(client, zhang.file_id, resubmit, outcome="will_pay").status_code == 302
    assert len(visits(app, zhang.file_id)) == 1


def test_declined_without_a_reason_is_refused_in_chinese_and_saves_nothing(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    response = submit(client, zhang.file_id, outcome="declined", note="不愿意")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "走访结果为“拒绝参保”时请选择未参保原因。" in html
    assert "不愿意</textarea>" in html
    assert re.search(r'checked [^>]*name="outcome" [^>]*value="declined"', html)
    assert visits(app, zhang.file_id) == []
    assert file_row(app, zhang.file_id).state == "assigned"


def test_a_follow_up_date_in_the_past_is_refused(app, login, task):
    zhang = task()
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    response = submit(login("fc_grid1"), zhang.file_id, outcome="will_pay", follow_up_on=yesterday)
    assert response.status_code == 422
    assert "下次跟进日期不能早于今天。" in response.get_data(as_text=True)
    assert visits(app, zhang.file_id) == []


def test_a_form_without_an_outcome_or_key_is_refused_in_chinese(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    response = client.post(f"/tasks/{zhang.file_id}/visit", data={"method": "phone"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请选择走访结果。" in html and "页面已过期，请刷新后重新填写。" in html
    assert visits(app, zhang.file_id) == []


def test_a_visit_on_a_file_waiting_for_review_is_refused(app, login, task):
    zhang = task(state="pending_review")
    client = login("fc_grid1")
    form = {"idempotency_key": str(uuid.uuid4()), "version": "1"}
    response = submit(client, zhang.file_id, form, outcome="will_pay")
    assert response.status_code == 422
    assert "档案当前状态为“待审核”，不能走访（继续跟进）。" in response.get_data(as_text=True)
    assert visits(app, zhang.file_id) == []


def test_the_visit_form_page_redirects_a_get(login, task):
    zhang = task()
    response = login("fc_grid1").get(f"/tasks/{zhang.file_id}/visit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tasks/{zhang.file_id}")


def test_the_draft_script_is_small_and_self_contained(app):
    path = app.static_folder + "/visit-draft.js"
    text = open(path, encoding="utf-8").read()
    assert len(text.encode()) < 8_000
    assert "localStorage" in text and "navigator.onLine === false" in text
    assert "网络未连接，已保存在本机，联网后请再次提交" in text
    assert "import " not in text and "http" not in text  # no modules, nothing fetched


# --- two submits at the same time (PostgreSQL) -------------------------------------------------


@pytest.fixture
def committed_task(app, is_postgres):
    """A file committed for real (two threads need two connections); removed afterwards."""
    if not is_postgres:
        pytest.skip("SQLite has a single writer; concurrency is PostgreSQL's question")
    task = create_task(app, "并发")
    yield task
    with app.app_context():
        db.session.execute(delete(Visit).where(Visit.file_id == task.file_id))
        db.session.execute(delete(PersonChange).where(PersonChange.person_id == task.person_id))
        db.session.execute(delete(PersonFile).where(PersonFile.id == task.file_id))
        db.session.execute(delete(Person).where(Person.id == task.person_id))
        db.session.commit()


def _record_in_thread(app, task, data: VisitInput, results, *, start=None, before_commit=None):
    """record_visit in its own application context, session and connection; then commit.
    `results` gets (visit id, replayed) or the exception, at the thread's own index."""
    index = len(results)
    results.append(None)

    def work():
        try:
            with app.app_context():
                actor = db.session.scalar(select(User).where(User.username == "fc_grid1"))
                file = db.session.get(PersonFile, task.file_id)
                if start:
                    start()
                result = record_visit(actor, file, data)
                if before_commit:
                    before_commit()
                db.session.commit()
                results[index] = (result.visit.id, result.replayed)
                db.session.remove()
        except Exception as exc:  # reported by the test
            results[index] = exc

    return threading.Thread(target=work)


def _input(key: str) -> VisitInput:
    return VisitInput(method="phone", outcome="will_pay", idempotency_key=key, version=1)


@pytest.mark.no_db
def test_two_identical_submits_at_the_same_time_save_one_visit(app, committed_task):
    data, results = _input(str(uuid.uuid4())), []
    barrier = threading.Barrier(2, timeout=30)  # both read the file, then both submit
    threads = [
        _record_in_thread(app, committed_task, data, results, start=barrier.wait) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    _check_one_visit(app, committed_task, results)


@pytest.mark.no_db
def test_the_second_submit_waits_for_the_first_and_saves_nothing(app, committed_task):
    """The second INSERT meets the first one's uncommitted row on the unique index: it waits,
    then does nothing, and answers with the visit the first one saved."""
    data, results = _input(str(uuid.uuid4())), []
    inserted = threading.Event()

    def hold():
        inserted.set()
        time.sleep(0.5)  # the second submit starts now and must wait for this commit

    first = _record_in_thread(app, committed_task, data, results, before_commit=hold)
    second = _record_in_thread(app, committed_task, data, results)
    first.start()
    assert inserted.wait(timeout=30)
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)
    _check_one_visit(app, committed_task, results)
    assert [replayed for _, replayed in results] == [False, True]  # the second one waited


def _check_one_visit(app, task, results):
    assert all(isinstance(r, tuple) for r in results), results
    assert len({visit_id for visit_id, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False, True]
    with app.app_context():
        saved = db.session.scalars(select(Visit).where(Visit.file_id == task.file_id)).all()
        file = db.session.get(PersonFile, task.file_id)
        assert len(saved) == 1
        assert file.state == "following" and file.version > 1
        changes = db.session.scalars(
            select(PersonChange).where(PersonChange.person_id == task.person_id)
        ).all()
        assert len(changes) == 1
        db.session.remove()
