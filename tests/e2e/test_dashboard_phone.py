"""At 360 px with JavaScript off: the city officer reads Yancheng's figures as cards, sorts the
counties and drills down to a street; the county officer goes from a community's count to the
persons it counts."""

import re

from tests.e2e.helpers import login, scroll_width, shot

WIDTH = 360


def test_city_staff_drills_down_on_a_phone_without_javascript(new_context):
    page = new_context(viewport={"width": WIDTH, "height": 740}, java_script_enabled=False)
    login(page, "yc_staff")
    assert page.get_by_text("应参保人数").first.is_visible()  # the home opens with the figures
    page.get_by_role("link", name="统计详情及下级区划 ›").click()
    assert page.get_by_role("heading", name="盐城市参保统计").is_visible()
    assert page.get_by_text("数据截至").first.is_visible()
    assert scroll_width(page) <= WIDTH, "the dashboard scrolls sideways at 360 px"
    # The charts are coloured by the linked stylesheet (no inline style passes the CSP).
    fill = page.eval_on_selector("svg.chart .bar", "bar => getComputedStyle(bar).fill")
    assert fill not in ("rgb(0, 0, 0)", "black", ""), fill
    shot(page, "dashboard-01-city")

    # The header links are hidden on a phone: the sort form does it.
    page.locator("select[name=sort]").select_option("coverage")
    page.locator("select[name=dir]").select_option("desc")
    page.get_by_role("button", name="排序").click()
    assert "sort=coverage" in page.url and "dir=desc" in page.url
    funing = page.locator("tr[data-region='320923000000']")
    assert funing.locator("td[data-key=rank]").inner_text() == "1"  # the only county with data
    funing.locator("td[data-key=name] a").click()
    assert page.get_by_role("heading", name="阜宁县参保统计").is_visible()
    page.locator("tr[data-region='320923001000'] td[data-key=name] a").click()
    assert page.get_by_role("heading", name="阜城街道参保统计").is_visible()
    assert scroll_width(page) <= WIDTH
    shot(page, "dashboard-02-street")


def test_a_community_count_opens_the_list_of_exactly_those_persons(new_context):
    page = new_context(viewport={"width": WIDTH, "height": 740}, java_script_enabled=False)
    login(page, "fn_staff")  # 339 communities: the persons list filters by community
    page.goto("/dashboard/320923001000?sort=unassigned&dir=desc")
    cell = page.locator("tr[data-region]:not([data-region=total]) td[data-key=unassigned]").first
    count = int(cell.inner_text())
    assert count > 0
    cell.locator("a").click()
    assert "file_state=unassigned" in page.url
    total = page.locator("#person-results p.muted", has_text="共").first.inner_text()
    assert int(re.search(r"共 (\d+) 人", total).group(1)) == count
    shot(page, "dashboard-03-list")
