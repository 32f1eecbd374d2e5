"""At 360 px with JavaScript off: the county officer sets the townships' targets (a mistake is
refused beside its row with every typed value kept), and the dashboard ranks them by progress."""

from tests.e2e.helpers import login, scroll_width, shot

WIDTH = 360
FUNING = "320923000000"
FUCHENG, WUTAN = "320923001000", "320923002000"


def test_county_staff_sets_township_targets_on_a_phone(new_context):
    page = new_context(viewport={"width": WIDTH, "height": 740}, java_script_enabled=False)
    login(page, "fn_staff")
    page.goto(f"/dashboard/{FUNING}")
    page.get_by_role("link", name="设定下级目标").click()
    assert page.get_by_role("heading", name="阜宁县 · 设定下级目标").is_visible()
    assert scroll_width(page) <= WIDTH, "the targets table scrolls sideways at 360 px"
    shot(page, "targets-01-table")

    page.locator(f"select[name=kind-{FUCHENG}]").select_option("rate")
    page.locator(f"input[name=value-{FUCHENG}]").fill("120")
    page.locator(f"select[name=kind-{WUTAN}]").select_option("rate")
    page.locator(f"input[name=value-{WUTAN}]").fill("97.5")
    page.get_by_role("button", name="保存").click()
    assert "0～100%" in page.locator(f"#error-{FUCHENG}").inner_text()
    assert page.locator(f"input[name=value-{FUCHENG}]").input_value() == "120"
    assert page.locator(f"input[name=value-{WUTAN}]").input_value() == "97.5"
    assert scroll_width(page) <= WIDTH
    shot(page, "targets-02-refused")

    page.locator(f"input[name=value-{FUCHENG}]").fill("60")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_text("已保存").first.is_visible()

    page.goto(f"/dashboard/{FUNING}?sort=progress&dir=desc")
    fucheng = page.locator(f"tr[data-region='{FUCHENG}']")
    assert fucheng.locator("td[data-key=target]").inner_text() == "60%"
    assert page.locator(f"tr[data-region='{WUTAN}'] td[data-key=target]").inner_text() == "97.5%"
    assert scroll_width(page) <= WIDTH
    shot(page, "targets-03-dashboard")
