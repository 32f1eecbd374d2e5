"""A returned proposal is plain to the worker (a 已退回 badge on the list, the supervisor's
comment at the top of the file page), and whoever proposed a closure cannot approve it."""

import io
import re

from sqlalchemy import select

from portal.visits.models import Visit
from tests.desk_helpers import FUCHENG, file_of
from tests.evidence_helpers import jpeg_bytes
from tests.helpers import fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

REVIEWS = f"/desk/{FUCHENG}/reviews"
HIDDEN = re.compile(
    r'<input id="(idempotency_key|version|token)" name="\1" type="hidden" value="([^"]*)"'
)


def row_of(html: str, name: str) -> str:
    listing = html.split('<ol class="tasks">', 1)[1].split("</ol>", 1)[0]
    return next(r for r in listing.split("</li>") if f"<b>{name}</b>" in r)


def test_a_returned_proposal_shows_a_badge_and_the_comment_above_the_form(
    app, login, make_proposal
):
    made, visit_id = make_proposal(note="家属口述")
    supervisor = login("fc_supervisor")
    supervisor.post(
        f"/desk/reviews/{visit_id}", data={"decision": "return", "comment": "请补充死亡证明"}
    )
    worker = login("fc_grid1")
    html = worker.get("/tasks/").get_data(as_text=True)
    (name,) = re.findall(
        r"<b>([^<]+)</b>", html.split('<ol class="tasks">', 1)[1].split("</ol>")[0]
    )
    assert '<em class="returned">已退回</em>' in row_of(html, name)
    page = worker.get(f"/tasks/{made.file_id}").get_data(as_text=True)
    notice = page.index("已退回")
    assert "请补充死亡证明" in page[notice : page.index("记录走访")]
    assert notice < page.index('<dl class="facts">') < page.index("记录走访")
    assert "阜城街道督导" in page[notice : page.index('<dl class="facts">')]
    # A new visit answers the return: the badge and the notice go.
    form = dict(HIDDEN.findall(page))
    worker.post(
        f"/tasks/{made.file_id}/visit",
        data={**form, "method": "phone", "outcome": "unreachable"},
    )
    html = worker.get("/tasks/").get_data(as_text=True)
    assert "已退回" not in html
    assert "督导意见" not in worker.get(f"/tasks/{made.file_id}").get_data(as_text=True)


def test_whoever_proposed_a_closure_cannot_approve_it(app, login, make_file):
    made = make_file(state="assigned", assignee="fc_grid1")
    supervisor = login("fc_supervisor")
    page = supervisor.get(f"/tasks/{made.file_id}").get_data(as_text=True)
    form = dict(HIDDEN.findall(page))
    response = supervisor.post(
        f"/tasks/{made.file_id}/visit",
        data={
            **form,
            "method": "in_person",
            "outcome": "deceased",
            "note": "督导亲自走访",
            "evidence": (io.BytesIO(jpeg_bytes(800, 600)), "死亡证明.jpg"),
        },
    )
    assert response.status_code == 302
    assert file_of(app, made.file_id).state == "pending_review"
    (visit,) = fetch(app, select(Visit).where(Visit.file_id == made.file_id))
    queue = supervisor.get(REVIEWS).get_data(as_text=True)
    item = queue[queue.index(f'id="visit-{visit.id}"') :]
    item = item[: item.index("</li>")]
    assert "须由他人审核" in item
    assert 'value="approve"' not in item
    response = supervisor.post(f"/desk/reviews/{visit.id}", data={"decision": "approve"})
    assert "由您本人提出，须由他人审核" in response.get_data(as_text=True)
    assert file_of(app, made.file_id).state == "pending_review"
    # Someone else with the review right approves it.
    response = login("fn_staff").post(f"/desk/reviews/{visit.id}", data={"decision": "approve"})
    assert response.status_code == 302
    assert file_of(app, made.file_id).state == "exempt"


def test_a_workers_proposal_is_approved_by_the_supervisor_as_before(app, login, make_proposal):
    made, visit_id = make_proposal()
    client = login("fc_supervisor")
    queue = client.get(REVIEWS).get_data(as_text=True)
    assert "须由他人审核" not in queue and 'value="approve"' in queue
    client.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    assert file_of(app, made.file_id).state == "exempt"
