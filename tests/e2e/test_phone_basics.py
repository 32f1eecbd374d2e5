"""At phone size: a grid worker signs in and reads the person list (masked); the county staff
sees the imported people; the login page works without JavaScript at 360 px."""

from tests.e2e.helpers import login, scroll_width, shot, unmasked_id_numbers


def test_grid_worker_on_a_phone(phone, assign_files):
    assign_files("fc_grid1", 3)
    phone.goto("/login")
    assert phone.title().startswith("登录")
    shot(phone, "grid-01-login")

    login(phone, "fc_grid1")
    assert phone.url.endswith("/"), phone.url
    assert phone.get_by_role("heading", name="您好，兴阜居委会网格员").is_visible()
    assert scroll_width(phone) <= 390, "the home page scrolls sideways at 390 px"
    shot(phone, "grid-02-home")

    phone.get_by_role("link", name="人员档案").first.click()
    phone.wait_for_load_state()
    assert "/persons/" in phone.url
    assert phone.get_by_role("heading", name="人员档案").is_visible()
    ids = phone.locator("#person-results td[data-label=身份证号]")
    assert ids.count() == 3, "the grid worker should see exactly the 3 persons assigned to them"
    assert all("*" in text for text in ids.all_inner_texts()), ids.all_inner_texts()
    assert unmasked_id_numbers(phone) == [], "a full ID number is shown to the grid worker"
    assert scroll_width(phone) <= 390, "the person list scrolls sideways at 390 px"
    shot(phone, "grid-03-persons")


def test_county_staff_sees_the_imported_persons(phone):
    login(phone, "fn_staff")
    shot(phone, "county-01-home")
    phone.goto("/persons/")
    assert phone.get_by_role("heading", name="人员档案").is_visible()
    total = phone.locator("#person-results p.muted", has_text="共").first.inner_text()
    assert int(total.split()[1]) > 1000, total  # the 1 200 sample people, less the rejected rows
    assert phone.locator("#person-results td[data-label=身份证号]").count() > 1  # a page of them
    assert unmasked_id_numbers(phone) == []
    shot(phone, "county-02-persons")


def test_login_without_javascript_at_360px(new_context):
    page = new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page.goto("/login")
    assert page.evaluate("typeof window.htmx") == "undefined", "JavaScript is not off"
    assert scroll_width(page) <= 360, "the login page scrolls sideways at 360 px"
    shot(page, "nojs-01-login")
    login(page, "fc_supervisor")
    assert page.get_by_role("heading", name="您好，阜城街道督导").is_visible()
    shot(page, "nojs-02-home")
