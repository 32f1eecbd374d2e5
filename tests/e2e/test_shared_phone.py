"""A shared phone: the visit draft a grid worker left on the device is gone once they sign out,
whether or not the browser honours the logout's Clear-Site-Data header (static/signed-out.js)."""

from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import login, shot

DRAFTS = "Object.keys(localStorage).filter(k => k.startsWith('visit-draft:'))"
NOTE = "草稿：共享手机上未提交的走访"


def _without_clear_site_data(route) -> None:
    """Answer the logout as the server did, minus the header (browsers that ignore it)."""
    response = route.fetch(max_redirects=0)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "clear-site-data"}
    route.fulfill(response=response, headers=headers)


@pytest.mark.parametrize("header", [True, False], ids=["clear-site-data", "script-only"])
def test_signing_out_clears_the_visit_drafts(new_context, assign_files, header):
    (file_id,) = assign_files("fc_grid2", 1)
    page = new_context()
    if not header:
        page.route("**/logout", _without_clear_site_data)
    login(page, "fc_grid2")
    page.goto(f"/tasks/{file_id}")
    page.get_by_label("备注").fill(NOTE)
    assert page.evaluate(DRAFTS) == [f"visit-draft:{file_id}"]  # saved on input, offline-proof
    shot(page, f"shared-01-draft-{'header' if header else 'script'}")

    page.get_by_role("button", name="退出").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/login"
    page.wait_for_function("document.documentElement.dataset.deviceCleared === '1'")
    assert page.evaluate(DRAFTS) == []

    login(page, "fc_grid2")
    page.goto(f"/tasks/{file_id}")
    assert page.evaluate(DRAFTS) == []
    assert page.get_by_label("备注").input_value() == ""
    assert "已恢复本机保存" not in page.inner_text("main")
    shot(page, f"shared-02-after-{'header' if header else 'script'}")
