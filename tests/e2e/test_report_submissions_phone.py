"""Report submission and sign-off on a 360-px phone without JavaScript, as the demo walk goes:
阜宁县 (fn_staff) submits both forms of Yancheng's period, 盐城市 (yc_staff) returns them with a
comment, Funing reads it and submits again, the city accepts and sees which counties it still
waits for before it may submit its own (滨海县 was accepted beforehand by the demo).
Screenshots: test-artifacts/e2e/submissions-*.png."""

from tests.e2e.helpers import login, scroll_width, shot

WIDTH = 360
FUNING, YANCHENG = "320923000000", "320900000000"
COMMENT = "未参保人员原因请与明细核对后重新报送"


def _open_period(page, region: str) -> str:
    page.goto(f"/reports/{region}/submissions")
    assert scroll_width(page) <= WIDTH, "the periods list scrolls sideways at 360 px"
    page.get_by_role("link", name="参保情况清查报送").first.click()
    page.wait_for_load_state()
    return page.url


def _funing_row(page):
    return page.locator(f'tr[data-region="{FUNING}"]')


def test_funing_submits_the_city_returns_then_accepts_and_waits_for_the_rest(new_context):
    county = new_context(viewport={"width": WIDTH, "height": 780}, java_script_enabled=False)
    login(county, "fn_staff")
    funing_url = _open_period(county, FUNING)
    assert "未报送" in county.inner_text("main")
    shot(county, "submissions-01-county-period")
    county.get_by_role("button", name="报送全部报表").click()
    county.wait_for_load_state()
    main = county.inner_text("main")
    assert "已报送，等待上级审核" in main and "基本医疗保险参保情况清查工作汇总表" in main
    assert "不参加基本医疗保险人员情况表" in main and "报送后数据未发生变动" in main
    assert scroll_width(county) <= WIDTH, "a submitted form scrolls the page sideways"
    shot(county, "submissions-02-county-submitted")

    city = new_context(viewport={"width": WIDTH, "height": 780}, java_script_enabled=False)
    login(city, "yc_staff")
    city_url = _open_period(city, YANCHENG)
    assert "已报送" in _funing_row(city).inner_text()
    shot(city, "submissions-03-city-children")
    _funing_row(city).get_by_role("link", name="去审核").click()
    city.wait_for_load_state()
    # Returning without a comment is refused and says why.
    city.get_by_role("button", name="退回").click()
    city.wait_for_load_state()
    assert "退回时请填写退回意见" in city.inner_text("main")
    city.locator("#comment").fill(COMMENT)
    city.get_by_role("button", name="退回").click()
    city.wait_for_load_state()
    assert city.url == city_url  # back to the city's list of counties
    assert "已退回" in _funing_row(city).inner_text()
    shot(city, "submissions-04-city-returned")

    county.goto(funing_url)
    main = county.inner_text("main")
    assert "已退回" in main and COMMENT in main
    shot(county, "submissions-05-county-returned")
    county.get_by_role("button", name="重新报送").click()
    county.wait_for_load_state()
    history = county.locator(".report-history").inner_text()
    assert history.count("报送") >= 2 and "退回" in history and COMMENT in history

    city.goto(city_url)
    _funing_row(city).get_by_role("link", name="去审核").click()
    city.wait_for_load_state()
    city.get_by_role("button", name="审核通过").click()
    city.wait_for_load_state()
    assert "已审核通过" in _funing_row(city).inner_text()
    waiting = city.locator(".report-children .waiting").inner_text()
    assert "尚待审核通过" in waiting and "阜宁县" not in waiting and "滨海县" not in waiting
    assert "亭湖区" in waiting
    own = city.locator(".report-own").inner_text()
    assert "仍在等待" in own and "报送全部报表" not in own
    assert scroll_width(city) <= WIDTH
    shot(city, "submissions-06-city-waiting")
