"""Duplicate enrollment on a 360-px phone without JavaScript, as the demo walkthrough goes: the
Funing county account finds the case shared with 滨海县 in 重复参保, reads the rule's
recommendation, proposes a decision; 滨海县 sees only its own record in full, confirms it; the
figures of 统计 follow. Screenshots: test-artifacts/e2e/duplicates-*.png."""

import re

from tests.e2e.helpers import login, scroll_width, shot

WIDTH = 360
BINHAI = "滨海县"


def _open_case_shared_with_binhai(page) -> str:
    page.goto("/duplicates/")
    row = page.locator("tbody tr", has_text=BINHAI).first
    assert row.count(), "no case shared with 滨海县 in the worklist"
    row.locator("td[data-label=案件] a").click()
    page.wait_for_load_state()
    return page.url


def test_a_cross_county_case_is_proposed_by_one_side_and_confirmed_by_the_other(new_context):
    page = new_context(viewport={"width": WIDTH, "height": 780}, java_script_enabled=False)
    login(page, "fn_staff")
    page.goto("/duplicates/")
    assert page.get_by_role("heading", name=re.compile("重复参保")).first.is_visible()
    assert scroll_width(page) <= WIDTH, "the worklist scrolls sideways at 360 px"
    shot(page, "duplicates-01-worklist")

    case_url = _open_case_shared_with_binhai(page)
    main = page.inner_text("main")
    assert "处理建议" in main and BINHAI in main
    assert "参保地 阜宁县" in main and not re.search(r"参保地 \d{12}", main)  # names, not codes
    assert scroll_width(page) <= WIDTH, "the case page scrolls sideways at 360 px"
    shot(page, "duplicates-02-case")

    # Without a reason nothing is proposed, and the page says why in Chinese.
    page.get_by_role("button", name="提交处理意见").click()
    page.wait_for_load_state()
    assert "理由" in page.inner_text("main") and "待确认" not in page.inner_text("h1")
    page.locator("#reason").fill("本人常住阜宁县，保留阜宁县居民医保记录，终止滨海县记录")
    page.get_by_role("button", name="提交处理意见").click()
    page.wait_for_load_state()
    assert "待确认" in page.inner_text("main")
    shot(page, "duplicates-03-proposed")
    # The proposer cannot confirm their own proposal.
    assert page.get_by_role("button", name="确认并生效").count() == 0

    other = new_context(viewport={"width": WIDTH, "height": 780}, java_script_enabled=False)
    login(other, "bh_staff")
    other.goto(case_url)
    text = other.inner_text("main")
    assert "本人常住阜宁县" in text  # the proposal's reason
    other.get_by_role("button", name="确认并生效").click()
    other.wait_for_load_state()
    assert "处理结果" in other.inner_text("main")
    assert scroll_width(other) <= WIDTH
    shot(other, "duplicates-04-confirmed")

    page.goto("/dashboard/320923000000")
    section = page.locator("section", has_text="重复参保").last
    assert section.count() and "已处理" in section.inner_text()
    shot(page, "duplicates-05-figures")
