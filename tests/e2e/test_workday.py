"""A working day at phone size (390×844): the Fucheng street supervisor assigns the unassigned
files of one community, the grid worker records visits and sees the list shrink, the supervisor
approves the proposed closure, and the counts on both screens agree.

Runs after test_phone_basics.py (file order): it leaves files assigned and visited.
"""

import re

from tests.e2e.helpers import login, scroll_width, shot, unmasked_id_numbers
from tests.evidence_helpers import jpeg_bytes

XINGFU = "320923001001"  # 兴阜居委会, fc_grid1's community


def to_visit(page) -> int:
    """The worker's "待走访 N" figure at the top of 我的任务."""
    return int(re.search(r"待走访\s*(\d+)", page.locator("p.stats").inner_text()).group(1))


def record_visit(page, outcome: str) -> str:
    """Open the first task, record a visit with `outcome`; returns the person's name."""
    page.locator("ol.tasks li a").first.click()
    page.wait_for_load_state()
    name = page.get_by_role("heading", level=1).inner_text().split()[0]
    assert unmasked_id_numbers(page) == []
    page.get_by_label(outcome, exact=True).check()
    return name


def test_assign_visit_review(new_context):
    supervisor = new_context()
    worker = new_context()

    # The supervisor's desk: filter the unassigned files of one community, give them all to
    # the community's grid worker.
    login(supervisor, "fc_supervisor")
    supervisor.goto("/desk/")
    assert supervisor.url.endswith("/desk/320923001000"), supervisor.url
    supervisor.locator("select[name=community]").select_option(XINGFU)
    supervisor.locator("select[name=state]").select_option("unassigned")
    supervisor.get_by_role("button", name="筛选").click()
    supervisor.wait_for_url(re.compile("community=" + XINGFU))
    assign_all = supervisor.get_by_role("button", name=re.compile("分配全部符合条件的"))
    count = int(re.search(r"\d+", assign_all.inner_text()).group())
    assert count > 2, "the demo data should leave unassigned files in 兴阜居委会"
    assert scroll_width(supervisor) <= 390
    shot(supervisor, "workday-01-desk-filtered")
    supervisor.locator("select[name=worker]").select_option(label="兴阜居委会网格员")
    assign_all.click()
    supervisor.wait_for_load_state()
    assert supervisor.get_by_text(f"已分配 {count} 个档案给 兴阜居委会网格员").is_visible()
    shot(supervisor, "workday-02-assigned")

    # The grid worker's phone: the tasks are there; two visits, the list shrinks by two.
    login(worker, "fc_grid1")
    worker.get_by_role("link", name="我的任务").first.click()
    worker.wait_for_load_state()
    before = to_visit(worker)
    assert before >= count
    assert scroll_width(worker) <= 390
    shot(worker, "workday-03-tasks")

    paid = record_visit(worker, "今日已缴费")
    assert scroll_width(worker) <= 390
    shot(worker, "workday-04-visit-form")
    worker.get_by_role("button", name="保存走访记录").click()
    worker.wait_for_load_state()
    assert worker.url.split("?")[0].endswith("/tasks/")
    assert worker.get_by_role("status").filter(has_text=paid).count() >= 1
    assert to_visit(worker) == before - 1
    shot(worker, "workday-05-saved")

    deceased = record_visit(worker, "死亡")
    worker.get_by_label("备注").fill("村委会证实已于上月去世")
    # 死亡 needs evidence (visits/evidence_rules.py): a photo of the certificate.
    worker.locator("input[name=evidence]").first.set_input_files(
        {"name": "死亡证明.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes(1200, 900)}
    )
    worker.get_by_role("button", name="保存走访记录").click()
    worker.wait_for_load_state()
    assert to_visit(worker) == before - 2
    assert "待审核 1" in worker.locator("main").inner_text().replace("\xa0", " ")
    shot(worker, "workday-06-proposed")

    # The supervisor reviews the proposal and approves it.
    supervisor.goto("/desk/320923001000/reviews")
    item = supervisor.locator("ul.reviews li", has_text=deceased)
    assert item.get_by_text("村委会证实已于上月去世").is_visible()
    shot(supervisor, "workday-07-review")
    item.get_by_role("button", name="通过（核销）").click()
    supervisor.wait_for_load_state()
    assert supervisor.get_by_text("没有待审核的核销申请").is_visible()

    # Both screens agree: the desk's row for the worker and the worker's own figures.
    supervisor.goto("/desk/320923001000")
    row = supervisor.locator("tr", has_text="兴阜居委会网格员")
    assert row.locator("td[data-label=待走访]").inner_text() == str(before - 2)
    assert row.locator("td[data-label=本周走访]").inner_text() == "2"
    shot(supervisor, "workday-08-desk-after")
    worker.reload()
    stats = worker.locator("p.stats").inner_text()
    assert to_visit(worker) == before - 2 and re.search(r"本周走访\s*2", stats), stats
    assert "待审核" not in worker.locator("main").inner_text().split("查找")[0] or (
        "待审核 0" in worker.locator("main").inner_text()
    )
