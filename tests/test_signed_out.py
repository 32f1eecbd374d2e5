"""Signing out clears the device (shared phones): the header and the script of the next page."""


def test_logout_clears_site_storage_and_the_next_login_page_clears_drafts(login):
    client = login("fc_grid1")
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"storage"'
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "/static/signed-out.js?v=" in page
    # Only once, right after 退出: a login page reached otherwise (a session that timed out,
    # with a draft the worker still needs) keeps the drafts.
    assert "signed-out.js" not in client.get("/login").get_data(as_text=True)


def test_an_ordinary_login_page_keeps_the_drafts(client):
    assert "signed-out.js" not in client.get("/login").get_data(as_text=True)
