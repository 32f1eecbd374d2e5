"""The grid worker's declined and returned flows on a 390-px phone, with JavaScript and without.

- Declined: the worker records 拒绝参保 with a reason and a follow-up date; the file leaves the
  list of files to visit and waits in the 拒绝参保 · 待再次动员 section, with its date.
- Returned: the worker proposes a closure (信息有误, which needs no evidence); the Fucheng
  supervisor returns it with a comment; the worker's list shows 已退回 and the file page shows
  the comment above the visit form.

The worker is an account of this module's own, in a community no other e2e test works (城北居委会,
five unassigned files in the demo data), so that its visits change no figure another test reads;
each run takes files not worked before, and they go back to the pool afterwards.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.timeutil import local_today
from tests.e2e.helpers import login, scroll_width, shot

COMMUNITY = "320923001012"  # 城北居委会, Fucheng street: no demo grid worker
FUCHENG = "320923001000"
WORKER = "e2e_xs_flows"
WORKER_NAME = "城北流程网格员"
COMMENT = "请核对户口簿后重新走访"
_used: set[int] = set()  # files a run already worked: the next run takes others


@pytest.fixture(scope="module")
def worker(live_server):
    """A grid worker of 城北居委会 for this module (the demo password, no forced change)."""
    from portal.accounts.models import Grant, User
    from portal.accounts.passwords import hash_password
    from portal.demo import DEMO_PASSWORD

    with live_server.app.app_context():
        try:
            if db.session.scalar(select(User).where(User.username == WORKER)) is None:
                user = User(
                    username=WORKER,
                    display_name=WORKER_NAME,
                    region_code=COMMUNITY,
                    password_hash=hash_password(DEMO_PASSWORD),
                    must_change_password=False,
                )
                user.grants.append(Grant(role="grid_worker", region_code=COMMUNITY))
                db.session.add(user)
                db.session.commit()
        finally:
            db.session.remove()
    return WORKER


@pytest.fixture
def files_of(live_server, worker):
    """files_of(n): n unassigned files of 城北居委会 not worked before, given to the module's
    worker (待走访); after the test they go back to the pool. Returns [(file id, name)]."""
    from portal.accounts.models import User
    from portal.persons.models import PersonFile

    app, taken = live_server.app, []

    def _take(count: int) -> list[tuple[int, str]]:
        with app.app_context():
            try:
                user = db.session.scalar(select(User).where(User.username == worker))
                query = (
                    select(PersonFile)
                    .where(
                        PersonFile.region_code == COMMUNITY,
                        PersonFile.state == "unassigned",
                        PersonFile.id.not_in(_used or {0}),
                    )
                    .order_by(PersonFile.id.desc())
                    .limit(count)
                )
                files = db.session.scalars(query).all()
                assert len(files) == count, "城北居委会 has too few unassigned files"
                for file in files:
                    file.assignee_id, file.state = user.id, "assigned"
                made = [(f.id, f.person.name) for f in files]
                db.session.commit()
            finally:
                db.session.remove()
        taken.extend(i for i, _ in made)
        _used.update(i for i, _ in made)
        return made

    yield _take
    if taken:
        with app.app_context():
            try:
                for file in db.session.scalars(select(PersonFile).where(PersonFile.id.in_(taken))):
                    file.assignee_id, file.state, file.follow_up_on = None, "unassigned", None
                db.session.commit()
            finally:
                db.session.remove()


def _open_task(page, name: str) -> None:
    page.goto("/tasks/")
    page.locator("ol.tasks li a", has_text=name).first.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text().startswith(name)


def _save(page) -> None:
    page.get_by_role("button", name="保存走访记录").click()
    page.wait_for_load_state()
    assert page.url.split("?")[0].endswith("/tasks/"), page.url


def _no_sideways_scroll(page, js: bool) -> None:
    if js:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert scroll_width(page) <= 390


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_declined_waits_for_its_follow_up_date(new_context, files_of, worker, js):
    ((file_id, name),) = files_of(1)
    tag = "js" if js else "nojs"
    page = new_context(java_script_enabled=js)
    login(page, worker)
    _open_task(page, name)
    page.get_by_label("上门", exact=True).check()
    page.get_by_label("拒绝参保", exact=True).check()
    page.get_by_label("未参保原因").select_option(index=1)
    follow_up = local_today() + timedelta(days=10)
    page.get_by_label("下次跟进日期").fill(follow_up.isoformat())
    page.get_by_label("备注").fill("本人表示暂不考虑，下月再来")
    _no_sideways_scroll(page, js)
    shot(page, f"flows-declined-01-form-{tag}")
    _save(page)
    assert page.get_by_role("status").filter(has_text=name).count() >= 1  # 已记录走访
    section = page.locator("#declined")
    assert section.get_by_role("heading", name="拒绝参保 · 待再次动员").is_visible()
    row = section.locator("li", has_text=name)
    assert row.count() == 1
    assert f"{follow_up.month}月{follow_up.day}日再动员" in row.inner_text()
    # Not among the files to visit today.
    assert page.locator("ol.tasks:not(.declined) li", has_text=name).count() == 0
    _no_sideways_scroll(page, js)
    shot(page, f"flows-declined-02-waiting-{tag}")
    # Still found by the search, marked as having declined.
    page.get_by_role("searchbox").fill(name)
    page.get_by_role("button", name="查找").click()
    page.wait_for_load_state()
    found = page.locator("ol.tasks li", has_text=name)
    assert found.count() == 1 and "曾拒绝参保" in found.inner_text()
    shot(page, f"flows-declined-03-search-{tag}")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_returned_proposal_shows_the_comment_above_the_form(new_context, files_of, worker, js):
    ((file_id, name),) = files_of(1)
    tag = "js" if js else "nojs"
    phone = new_context(java_script_enabled=js)
    login(phone, worker)
    _open_task(phone, name)
    phone.get_by_label("上门", exact=True).check()
    phone.get_by_label("信息有误", exact=True).check()
    phone.get_by_label("备注").fill("户籍信息与本人不符")
    shot(phone, f"flows-returned-01-proposal-{tag}")
    _save(phone)
    assert phone.get_by_role("status").filter(has_text="已提交督导审核").count() >= 1

    supervisor = new_context(java_script_enabled=js)
    login(supervisor, "fc_supervisor")
    supervisor.goto(f"/desk/{FUCHENG}/reviews")
    item = supervisor.locator("ul.reviews li", has_text=name)
    assert item.count() == 1
    item.get_by_label(re.compile("审核意见")).fill(COMMENT)
    _no_sideways_scroll(supervisor, js)
    shot(supervisor, f"flows-returned-02-review-{tag}")
    item.get_by_role("button", name="退回重新走访").click()
    supervisor.wait_for_load_state()
    assert supervisor.get_by_text("已退回给网格员。").is_visible()
    shot(supervisor, f"flows-returned-03-returned-{tag}")

    phone.goto("/tasks/")
    row = phone.locator("ol.tasks li", has_text=name)
    assert row.count() == 1
    assert row.locator("em.returned").inner_text() == "已退回"
    _no_sideways_scroll(phone, js)
    shot(phone, f"flows-returned-04-list-{tag}")

    row.locator("a").click()
    phone.wait_for_load_state()
    notice = phone.locator(".returned-notice")
    assert notice.is_visible() and COMMENT in notice.inner_text()
    form = phone.locator("form.visit")
    assert notice.bounding_box()["y"] < form.bounding_box()["y"], "the comment is not above"
    _no_sideways_scroll(phone, js)
    shot(phone, f"flows-returned-05-file-{tag}")


OTHER_COMMUNITY = "320923001014"  # 桥北居委会: no demo grid worker either


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_worker_covers_a_file_of_another_community(new_context, worker, js):
    """代管 on the desk at 390 px: the supervisor lets the module's worker cover one file of
    桥北居委会 with a reason; the worker's list marks it 代管; the supervisor ends the cover."""
    tag = "js" if js else "nojs"
    supervisor = new_context(java_script_enabled=js)
    login(supervisor, "fc_supervisor")
    supervisor.goto(f"/desk/{FUCHENG}?community={OTHER_COMMUNITY}&state=unassigned")
    row = supervisor.locator("table.files tbody tr").first
    name = row.locator("td[data-label=姓名]").inner_text().strip()
    row.locator("input[name=file_ids]").check()
    supervisor.locator("select[name=worker]").select_option(label=WORKER_NAME)
    supervisor.get_by_text("代管：交给本乡镇其他社区的网格员").click()
    supervisor.get_by_label("代管原因").fill("桥北居委会网格员空缺")
    _no_sideways_scroll(supervisor, js)
    shot(supervisor, f"flows-cover-01-desk-{tag}")
    supervisor.get_by_role("button", name="代管勾选的档案").click()
    supervisor.wait_for_load_state()
    assert supervisor.get_by_text(f"已将 1 个档案交给 {WORKER_NAME} 代管。").is_visible()
    supervisor.goto(f"/desk/{FUCHENG}?community={OTHER_COMMUNITY}&state=open")
    covered = supervisor.locator("table.files tbody tr", has_text=name)
    assert "代管：城北流程网格员（城北居委会）" in covered.inner_text()
    _no_sideways_scroll(supervisor, js)
    shot(supervisor, f"flows-cover-02-covered-{tag}")

    phone = new_context(java_script_enabled=js)
    login(phone, worker)
    phone.goto("/tasks/")
    task = phone.locator("ol.tasks li", has_text=name)
    assert task.locator("em.cover").inner_text() == "代管 · 桥北居委会"
    _no_sideways_scroll(phone, js)
    shot(phone, f"flows-cover-03-tasks-{tag}")

    supervisor.goto(f"/desk/{FUCHENG}")
    supervisor.get_by_role("button", name=f"结束 {WORKER_NAME} 对桥北居委会的代管").click()
    supervisor.wait_for_load_state()
    assert supervisor.get_by_text("收回 1 个档案待重新分配").is_visible()
    phone.goto("/tasks/")
    assert phone.locator("ol.tasks li", has_text=name).count() == 0
