"""A person who declined stays in the grid worker's work (repeated persuasion, 动员): back on the
task list on the follow-up date, in a section of their own before it, found by the search,
counted in the worker's and the supervisor's figures. (Back in the new collection period:
tests/test_comparison_years.py::test_a_declined_file_comes_back_in_the_new_collection_period.)"""

import re
from datetime import timedelta

import pytest

from portal.persons.queries import PersonFilters
from portal.tasks import queries
from portal.timeutil import local_today
from portal.visits.progress import progress_of
from tests.desk_helpers import FUCHENG, user_id
from tests.factories import create_task
from tests.helpers import database


def names_in(html: str, marker: str) -> list[str]:
    if marker not in html:
        return []
    listing = html.split(marker, 1)[1].split("</ol>", 1)[0]
    return re.findall(r"<b>([^<]+)</b>", listing)


def main_list(html: str) -> list[str]:
    return names_in(html, '<ol class="tasks">')


def declined_section(html: str) -> list[str]:
    return names_in(html, '<ol class="tasks declined">')


@pytest.fixture
def task(app):
    return lambda name, **kw: create_task(app, name, **kw)


def test_a_declined_file_is_back_on_the_list_on_its_follow_up_date(app, login, task):
    today = local_today()
    task("今日再动员", state="declined", reason_code="hardship", follow_up_on=today)
    task("过期再动员", state="declined", reason_code="hardship", follow_up_on=today - timedelta(1))
    task("下周再动员", state="declined", reason_code="hardship", follow_up_on=today + timedelta(7))
    task("未定日期", state="declined", reason_code="declined")
    task("待走访")
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    assert sorted(main_list(html)) == ["今日再动员", "待走访", "过期再动员"]
    row = next(r for r in html.split("</li>") if "<b>今日再动员</b>" in r)
    assert '<em class="declined">曾拒绝参保</em>' in row
    # Not yet due: a section of its own, the nearest date first, those without one last.
    assert "拒绝参保 · 待再次动员" in html
    assert declined_section(html) == ["下周再动员", "未定日期"]
    later = today + timedelta(7)
    assert f"{later.month}月{later.day}日再动员" in html
    # On the day of its follow-up, the declined file joins the list.
    with app.test_request_context():
        from portal.accounts.models import User
        from portal.extensions import db

        worker = db.session.get(User, user_id(app, "fc_grid1"))
        ids = db.session.scalars(queries.task_ids_query(worker, PersonFilters(), today=later)).all()
        files = queries.files_by_ids(worker, list(ids))
        assert "下周再动员" in {f.person.name for f in files}
        assert "未定日期" not in {f.person.name for f in files}


def test_the_search_finds_declined_files_whatever_their_date(app, login, task):
    today = local_today()
    task("王拒绝", state="declined", reason_code="hardship", follow_up_on=today + timedelta(30))
    task("王无期", state="declined", reason_code="declined")
    task("王别人", state="declined", assignee="fc_grid2", reason_code="declined")
    html = login("fc_grid1").get("/tasks/", query_string={"q": "王"}).get_data(as_text=True)
    assert sorted(main_list(html)) == ["王拒绝", "王无期"]
    assert declined_section(html) == []  # a search shows one list


def test_declined_files_are_counted_for_the_worker_and_the_supervisor(app, login, task):
    today = local_today()
    task("到期", state="declined", reason_code="hardship", follow_up_on=today)
    task("未到期", state="declined", reason_code="hardship", follow_up_on=today + timedelta(3))
    task("无日期", state="declined", reason_code="declined")
    task("待走访")
    with database(app):
        figures = progress_of([user_id(app, "fc_grid1")])[user_id(app, "fc_grid1")]
    assert (figures.to_visit, figures.declined, figures.declined_waiting) == (2, 3, 2)
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    assert "待走访 <b>2</b>" in html
    assert "拒绝参保待动员 2</a>（共 3）" in html
    desk = login("fc_supervisor").get(f"/desk/{FUCHENG}").get_data(as_text=True)
    start = desk.index("兴阜居委会网格员</td>")
    row = desk[start : desk.index("</tr>", start)]
    assert '<td data-label="待走访">2</td>' in row
    assert '<td data-label="拒绝参保">3 <span class="muted">（2 个未到跟进日）</span></td>' in row


def test_a_declined_file_can_be_visited_again(app, login, task):
    zhang = task("张拒绝", state="declined", reason_code="hardship")
    html = login("fc_grid1").get(f"/tasks/{zhang.file_id}").get_data(as_text=True)
    assert "记录走访" in html and 'value="paid_today"' in html
