def test_home_after_login(login):
    client = login("fc_supervisor")
    page = client.get("/")
    assert page.status_code == 200
    assert "阜城街道督导" in page.get_data(as_text=True)
