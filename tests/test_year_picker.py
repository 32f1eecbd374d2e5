"""A user picks the insurance year their pages show; the choice lasts for the session."""

from datetime import date

import pytest

from portal.years import selection
from portal.years.periods import Calendar


@pytest.fixture
def december_2026(monkeypatch):
    monkeypatch.setattr(selection, "local_today", lambda: date(2026, 12, 2))


def test_the_default_is_the_year_whose_collection_period_is_open(app, december_2026):
    with app.test_request_context("/"):
        assert selection.current_year() == 2027
        assert selection.selected_year() == 2027
        assert selection.choices()[0] == 2028 and 2026 in selection.choices()


def test_a_picked_year_is_kept_and_a_bad_one_refused(app, login, december_2026):
    client = login("fn_staff")
    response = client.post("/year", data={"year": "2026", "next": "/comparisons/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/comparisons/")
    with client.session_transaction() as session:
        assert session[selection.SESSION_KEY] == 2026
    response = client.post("/year", data={"year": "1999", "next": "/"}, follow_redirects=True)
    assert "请选择有效的参保年度" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert session[selection.SESSION_KEY] == 2026  # the earlier choice is not lost
    client.post("/year", data={"year": "2027", "next": "/"})
    with client.session_transaction() as session:
        assert selection.SESSION_KEY not in session  # back to the current year


def test_the_picker_never_redirects_off_the_site(login, december_2026):
    client = login("fn_staff")
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post("/year", data={"year": "2026", "next": target})
        assert response.headers["Location"].endswith("/")
        assert "evil" not in response.headers["Location"]


def test_configured_period_moves_the_default(app, december_2026):
    with app.test_request_context("/"):
        app.config["COLLECTION_START"] = "12-15"
        try:
            assert selection.current_year() == 2026
        finally:
            app.config["COLLECTION_START"] = "09-01"
    assert Calendar.parse("12-15").current_year(date(2026, 12, 15)) == 2027
