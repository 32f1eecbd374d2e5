"""Evidence for a 死亡 proposal at phone size (390×844), with JavaScript and without: the grid
worker is refused without a photo (the note kept), a bad file beside a good photo keeps the
good one as a pending upload, the proposal is saved with it, and the supervisor sees the
thumbnail in the review queue, opens the image, and approves.

Runs after test_workday.py (file order): its proposals are approved here, so the review queue
is left empty as that test expects to find it.
"""

import re

import pytest

from tests.e2e.helpers import login, scroll_width, shot
from tests.evidence_helpers import jpeg_bytes

REVIEWS = "/desk/320923001000/reviews"


@pytest.fixture
def worker_file(live_server):
    """A file of 兴阜居委会 to visit, fc_grid1's (an unassigned one assigned to them, or one
    test_workday.py already gave them). A file the test closed stays closed (its figures were
    maintained); one it did not visit gets its assignment back."""
    from sqlalchemy import select

    from portal.accounts.models import User
    from portal.extensions import db
    from portal.persons.models import PersonFile

    app, changed = live_server.app, []

    def _take() -> int:
        with app.app_context():
            try:
                worker = db.session.scalar(select(User).where(User.username == "fc_grid1"))
                file = db.session.scalars(
                    select(PersonFile)
                    .where(
                        PersonFile.region_code == worker.region_code,
                        PersonFile.state.in_(("unassigned", "assigned")),
                    )
                    .order_by(PersonFile.state != "assigned", PersonFile.id)
                ).first()
                assert file is not None, "兴阜居委会 has no file left to visit"
                changed.append((file.id, file.assignee_id, file.state))
                file.assignee_id, file.state = worker.id, "assigned"
                db.session.commit()
                return file.id
            finally:
                db.session.remove()

    yield _take
    with app.app_context():
        try:
            for file_id, assignee_id, state in changed:
                file = db.session.get(PersonFile, file_id)
                if file.state == "assigned":  # not visited after all (a failed test)
                    file.assignee_id, file.state = assignee_id, state
            db.session.commit()
        finally:
            db.session.remove()


def _photo(name="死亡证明.jpg"):
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg_bytes(2400, 1800)}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_death_proposal_with_a_photo(new_context, worker_file, javascript):
    tag = "js" if javascript else "nojs"
    file_id = worker_file()
    worker = new_context(java_script_enabled=javascript)
    supervisor = new_context(java_script_enabled=javascript)
    login(worker, "fc_grid1")
    worker.goto(f"/tasks/{file_id}")
    name = worker.get_by_role("heading", level=1).inner_text().split()[0]
    worker.get_by_label("死亡", exact=True).check()
    note = f"村委会证实已去世（{tag}）"
    worker.get_by_label("备注").fill(note)
    if javascript:  # the hint follows the chosen outcome
        assert "须上传证明材料照片：死亡证明" in worker.locator("#evidence-hint").inner_text()
    assert scroll_width(worker) <= 390
    shot(worker, f"evidence-{tag}-01-form")

    # Without a photo: refused, in Chinese, with the note still typed.
    worker.get_by_role("button", name="保存走访记录").click()
    worker.wait_for_load_state()
    assert worker.get_by_role("alert").filter(has_text="须上传证明材料照片").count() == 1
    assert worker.get_by_label("备注").input_value() == note
    assert worker.get_by_label("死亡", exact=True).is_checked()
    shot(worker, f"evidence-{tag}-02-refused-without-photo")

    # A text file named .jpg beside a real photo: the bad one is refused, the good one kept.
    worker.locator("input[name=evidence]").first.set_input_files(_photo())
    worker.locator("input[name=evidence]").nth(1).set_input_files(
        {"name": "不是照片.jpg", "mimeType": "image/jpeg", "buffer": b"just some text"}
    )
    worker.get_by_role("button", name="保存走访记录").click()
    worker.wait_for_load_state()
    assert worker.get_by_text("“不是照片.jpg”不是可识别的图片").is_visible()
    assert worker.get_by_text("已上传 1 张，保存走访记录时一并提交。").is_visible()
    assert worker.get_by_label("备注").input_value() == note
    thumb = worker.locator(".evidence-thumbs.pending img")
    assert thumb.count() == 1
    assert worker.evaluate("(img) => img.naturalWidth", thumb.element_handle()) > 0
    assert scroll_width(worker) <= 390
    shot(worker, f"evidence-{tag}-03-bad-file-good-photo-kept")

    # Saved with the photo kept on the server: nothing chosen again.
    worker.get_by_role("button", name="保存走访记录").click()
    worker.wait_for_load_state()
    assert worker.url.split("?")[0].endswith("/tasks/")
    assert worker.get_by_text("证明材料 1 张已一并提交").is_visible()
    shot(worker, f"evidence-{tag}-04-saved")

    # The supervisor sees the thumbnail, opens the image, approves.
    login(supervisor, "fc_supervisor")
    supervisor.goto(REVIEWS)
    item = supervisor.locator("ul.reviews li", has_text=name)
    assert item.get_by_text("证据 1 张").is_visible()
    image = item.locator(".evidence-thumbs img")
    assert supervisor.evaluate("(img) => img.naturalWidth", image.element_handle()) > 0
    assert scroll_width(supervisor) <= 390
    shot(supervisor, f"evidence-{tag}-05-review-queue")
    href = item.locator(".evidence-thumbs a").get_attribute("href")
    assert re.fullmatch(r"/evidence/\d+", href)
    response = supervisor.request.get(href)
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, no-store"
    item.get_by_role("button", name="通过（核销）").click()
    supervisor.wait_for_load_state()
    assert supervisor.get_by_text("已通过，档案已核销。").is_visible()
    shot(supervisor, f"evidence-{tag}-06-approved")
