"""The report forms and the monthly ranking notice on a 360-px phone without JavaScript, reached
from the county's figures: both forms with their balance checks, the Excel download; the
notice ranked with movers against last month, issued on demand, and its one image for a work
group chat. Screenshots: test-artifacts/e2e/forms-*.png, notice-*.png."""

import re

from tests.e2e.helpers import login, scroll_width, shot

WIDTH = 360
FUNING = "320923000000"


def _follow(page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).first.click()
    page.wait_for_load_state()


def test_a_county_reads_its_forms_and_shares_its_ranking_notice(new_context):
    page = new_context(viewport={"width": WIDTH, "height": 780}, java_script_enabled=False)
    login(page, "fn_staff")
    page.goto(f"/dashboard/{FUNING}")
    _follow(page, "报表与报送")
    main = page.inner_text("main")
    assert "基本医疗保险参保情况清查工作汇总表" in main and "不参加基本医疗保险人员情况表" in main
    assert main.count("平衡关系核对通过") == 2, "a balance rule fails on the demo's data"
    assert scroll_width(page) <= WIDTH, "a form's wide table scrolls the whole page sideways"
    shot(page, "forms-01-county")
    href = page.get_by_role("link", name="下载 Excel").first.get_attribute("href")
    workbook = page.request.get(href)
    assert workbook.ok and workbook.body()[:2] == b"PK"  # an .xlsx is a zip

    page.goto(f"/dashboard/{FUNING}")
    _follow(page, "月度通报")
    page.get_by_role("button", name=re.compile("临时通报")).click()
    page.wait_for_load_state()
    main = page.inner_text("main")
    # Compared with last month's final notice (the demo issues the past months' from its history).
    assert "阜城街道" in main and "吴滩街道" in main and "正式通报" in main and "对比" in main
    assert scroll_width(page) <= WIDTH, "the ranking scrolls the page sideways at 360 px"
    shot(page, "notice-01-county")
    picture = page.request.get(
        page.get_by_role("link", name="下载图片（发工作群）").get_attribute("href")
    )
    assert picture.ok and picture.body()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(picture.body()) > 10_000  # a table of townships, not an empty frame
