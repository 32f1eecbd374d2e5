"""The review queue: proposed closures listed for the supervisor, approved or returned."""

import re

from sqlalchemy import select

from portal.visits.models import Visit
from tests.desk_helpers import (
    FUCHENG,
    WUTAN,
    file_of,
    history_of,
)
from tests.helpers import fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

REVIEWS = f"/desk/{FUCHENG}/reviews"
FULL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def visit(app, visit_id) -> Visit:
    (found,) = fetch(app, select(Visit).where(Visit.id == visit_id))
    return found


def test_the_queue_lists_the_townships_proposals_with_the_evidence(login, make_proposal):
    made, _ = make_proposal(note="邻居证实已于去年去世")
    make_proposal(WUTAN, note="吴滩的申请")
    html = login("fc_supervisor").get(REVIEWS).get_data(as_text=True)
    assert "邻居证实已于去年去世" in html
    assert "死亡" in html and "死亡未销户" in html  # outcome, reason
    assert "兴阜居委会网格员" in html and "上门" in html
    assert "吴滩的申请" not in html
    assert made.id_number not in html and not FULL_ID.search(html)
    assert made.id_number[:3] in html  # masked, not hidden


def test_approve_closes_the_file_as_exempt_with_history(app, login, make_proposal):
    made, visit_id = make_proposal()
    client = login("fc_supervisor")
    response = client.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    assert response.status_code == 302 and response.headers["Location"].endswith(REVIEWS)
    assert "已通过，档案已核销。" in client.get(REVIEWS).get_data(as_text=True)
    f = file_of(app, made.file_id)
    assert (f.state, f.close_cause, f.reason_code) == ("exempt", "review", "deceased")
    assert visit(app, visit_id).review_state == "approved"
    (entry,) = history_of(app, made.person_id, "review")
    assert entry.changes["file_state"] == ["pending_review", "exempt"]
    page = client.get(f"/persons/{made.person_id}").get_data(as_text=True)
    assert "<strong>审核</strong>" in page
    assert "审核结果：（空） → 已通过" in page
    assert "档案状态：待审核 → 已核销" in page


def test_return_sends_the_file_back_with_the_comment(app, login, make_proposal):
    made, visit_id = make_proposal()
    client = login("fc_supervisor")
    client.post(f"/desk/reviews/{visit_id}", data={"decision": "return", "comment": "请补充证明"})
    assert file_of(app, made.file_id).state == "following"
    assert visit(app, visit_id).review_comment == "请补充证明"
    page = client.get(f"/persons/{made.person_id}").get_data(as_text=True)
    assert "审核意见：（空） → 请补充证明" in page
    assert "档案状态：待审核 → 跟进中" in page


def test_refusals_keep_the_input_and_change_nothing(app, login, make_proposal):
    made, visit_id = make_proposal()
    client = login("fc_supervisor")
    response = client.post(f"/desk/reviews/{visit_id}", data={"decision": "return"})
    assert "退回时请写明原因，网格员会看到这条意见。" in response.get_data(as_text=True)
    response = client.post(
        f"/desk/reviews/{visit_id}", data={"decision": "maybe", "comment": "我的意见"}
    )
    html = response.get_data(as_text=True)
    assert "请选择“通过”或“退回”。" in html
    assert "我的意见</textarea>" in html
    response = client.post(
        f"/desk/reviews/{visit_id}", data={"decision": "return", "comment": "长" * 501}
    )
    assert "审核意见不能超过 500 字。" in response.get_data(as_text=True)
    assert file_of(app, made.file_id).state == "pending_review"
    assert history_of(app, made.person_id, "review") == []


def test_proposals_outside_the_scope_or_already_decided_are_not_found(app, login, make_proposal):
    _, wutan_visit = make_proposal(WUTAN)
    _, visit_id = make_proposal()
    client = login("fc_supervisor")
    assert (
        client.post(f"/desk/reviews/{wutan_visit}", data={"decision": "approve"}).status_code == 404
    )
    client.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    assert client.post(f"/desk/reviews/{visit_id}", data={"decision": "return"}).status_code == 404
    assert login("fc_grid1").post(f"/desk/reviews/{visit_id}", data={}).status_code == 403


def test_county_staff_reviews_the_township_queue(app, login, make_proposal):
    made, visit_id = make_proposal()
    client = login("fn_staff")
    assert "家属告知已去世" in client.get(REVIEWS).get_data(as_text=True)
    client.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    assert file_of(app, made.file_id).state == "exempt"
