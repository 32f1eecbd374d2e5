"""代管: a supervisor lets a grid worker of another community of the same township cover files,
with a reason. The worker sees and visits the covered files and nothing else of that community;
the covering grant ends when the last covered file is handed back or reassigned, or when the
supervisor ends it; every step is an audit event in Chinese."""

import re

import pytest
from sqlalchemy import select

from permissions import scope_for
from permissions.grants import can_manage_user, grantable_roles
from portal.accounts.models import Grant, User
from portal.audit.details import Lookups, describe_text
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.persons.models import PersonFile
from portal.regions.models import Region
from tests.desk_helpers import FUCHENG, WUTAN_STREET, XINGFU, XINSHENG, file_of, history_of
from tests.desk_helpers import user_id as user_id_of
from tests.helpers import database, fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

COVER = f"/desk/{FUCHENG}/cover"
END = f"/desk/{FUCHENG}/cover/end"
REASON = "新盛居委会网格员病假两周"
HIDDEN = re.compile(
    r'<input id="(idempotency_key|version|token)" name="\1" type="hidden" value="([^"]*)"'
)


def post_cover(client, worker, ids, reason=REASON, url=COVER, **extra):
    data = {"worker": str(worker), "file_ids": [str(i) for i in ids], "cover_reason": reason}
    return client.post(url, data={"state": "open", **data, **extra})


def covering_grants(app, username="fc_grid1") -> list[Grant]:
    return fetch(
        app,
        select(Grant)
        .join(User, User.id == Grant.user_id)
        .where(User.username == username, Grant.role == "covering_worker"),
    )


def events(app, action) -> list[AuditEvent]:
    return fetch(app, select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))


def in_words(app, event) -> str:
    with app.app_context():
        return describe_text(event.detail, Lookups.for_events([event]))


@pytest.fixture
def covered(app, login, make_file):
    """fc_supervisor lets fc_grid1 (兴阜) cover one file of 新盛 → (file, the other 新盛 file)."""
    mine = make_file(XINSHENG, name="代管甲")
    other = make_file(XINSHENG, "assigned", "fc_grid2", name="新盛乙")
    client = login("fc_supervisor")
    response = post_cover(client, user_id_of(app, "fc_grid1"), [mine.file_id])
    assert response.status_code == 302, response.get_data(as_text=True)
    desk = client.get(f"/desk/{FUCHENG}?state=open").get_data(as_text=True)
    assert "已将 1 个档案交给 兴阜居委会网格员 代管。" in desk
    return mine, other


# --- the rules ----------------------------------------------------------------------------------


def test_cover_needs_a_reason(app, login, make_file):
    made = make_file(XINSHENG)
    client = login("fc_supervisor")
    for reason in ("", "   "):
        page = post_cover(client, user_id_of(app, "fc_grid1"), [made.file_id], reason=reason)
        assert page.status_code == 200
        assert "请填写代管原因" in page.get_data(as_text=True)
    too_long = post_cover(client, user_id_of(app, "fc_grid1"), [made.file_id], reason="因" * 201)
    assert "代管原因不能超过 200 字。" in too_long.get_data(as_text=True)
    assert file_of(app, made.file_id).assignee_id is None
    assert covering_grants(app) == []


def test_only_a_worker_of_the_same_township_may_cover(app, login, make_file):
    made = make_file(XINSHENG)
    client = login("fc_supervisor")
    page = post_cover(client, user_id_of(app, "wt_grid1"), [made.file_id])
    assert "不能分配给其他乡镇的网格员。" in page.get_data(as_text=True)
    supervisor = post_cover(client, user_id_of(app, "fc_supervisor"), [made.file_id])
    assert "不是网格员" in supervisor.get_data(as_text=True)
    assert file_of(app, made.file_id).assignee_id is None
    assert covering_grants(app, "wt_grid1") == []


def test_a_file_of_the_workers_own_community_is_assigned_not_covered(app, login, make_file):
    own = make_file(XINGFU)
    client = login("fc_supervisor")
    page = post_cover(client, user_id_of(app, "fc_grid1"), [own.file_id])
    assert "本社区的档案请直接分配" in page.get_data(as_text=True)
    assert file_of(app, own.file_id).assignee_id is None
    assert covering_grants(app) == []


def test_cover_assigns_grants_and_records_the_reason(app, login, make_file, covered):
    mine, other = covered
    g1 = user_id_of(app, "fc_grid1")
    f = file_of(app, mine.file_id)
    assert (f.assignee_id, f.state) == (g1, "assigned")
    (grant,) = covering_grants(app)
    assert grant.region_code == XINSHENG
    assert grant.granted_by_id == user_id_of(app, "fc_supervisor")
    (entry,) = history_of(app, mine.person_id, "assign")
    assert entry.changes["cover_reason"] == [None, REASON]
    assert entry.changes["assignee_id"] == [None, g1]
    desk = login("fc_supervisor").get(f"/desk/{FUCHENG}?state=open").get_data(as_text=True)
    assert "代管：兴阜居委会网格员（兴阜居委会）" in desk  # the file's row
    assert "代管：新盛居委会" in desk  # the worker's row, with 结束代管
    assert "结束代管" in desk
    history = login("fc_supervisor").get(f"/persons/{mine.person_id}").get_data(as_text=True)
    assert "代管原因" in history and REASON in history


def test_cover_events_are_audited_in_chinese(app, covered):
    (assigned,) = [e for e in events(app, "file.assign") if e.detail.get("kind") == "cover"]
    text = in_words(app, assigned)
    assert "方式：代管" in text and f"代管原因：{REASON}" in text
    assert "网格员：兴阜居委会网格员" in text and "区划：新盛居委会" in text
    (granted,) = events(app, "role.grant")
    assert granted.target_label == "fc_grid1"
    text = in_words(app, granted)
    assert "角色：代管网格员" in text and "区划：新盛居委会" in text
    assert f"代管原因：{REASON}" in text


# --- what the covering worker sees ----------------------------------------------------------------


def test_the_worker_sees_and_visits_the_covered_file_and_nothing_else(app, login, covered):
    mine, other = covered
    worker = login("fc_grid1")
    tasks = worker.get("/tasks/").get_data(as_text=True)
    assert "代管甲" in tasks and "代管 · 新盛居委会" in tasks
    assert "新盛乙" not in tasks
    assert "找到 0 个" in worker.get("/tasks/?q=新盛乙").get_data(as_text=True)
    assert "找到 1 个" in worker.get("/tasks/?q=代管甲").get_data(as_text=True)
    assert worker.get(f"/tasks/{other.file_id}").status_code == 404
    assert worker.get(f"/persons/{other.person_id}").status_code == 404
    persons = worker.get("/persons/").get_data(as_text=True)
    assert "代管甲" in persons and "新盛乙" not in persons
    assert worker.get(f"/persons/{mine.person_id}").status_code == 200
    page = worker.get(f"/tasks/{mine.file_id}")
    assert page.status_code == 200
    form = dict(HIDDEN.findall(page.get_data(as_text=True)))
    response = worker.post(
        f"/tasks/{mine.file_id}/visit",
        data={**form, "method": "in_person", "outcome": "will_pay"},
    )
    assert response.status_code == 302
    assert file_of(app, mine.file_id).state == "following"


def test_the_covering_scope_is_the_assigned_files_only(app, ctx, covered):
    worker = db.session.scalar(select(User).where(User.username == "fc_grid1"))
    for action in ("person.view", "visit.record", "person.unmask"):
        scope = scope_for(worker, action)
        assert "320923001002" in scope.assigned_prefixes, action
        assert not any(p.startswith("320923001002") for p in scope.prefixes), action
    for action in ("region.view", "stats.view", "stats.view_own", "file.receive", "desk.view"):
        scope = scope_for(worker, action)
        assert not any("320923001002".startswith(p) for p in scope.prefixes), action
        assert "320923001002" not in scope.assigned_prefixes, action


def test_plain_assignment_never_gives_the_covering_worker_more_of_that_community(
    app, login, make_file, covered
):
    waiting = make_file(XINSHENG, name="待分配丙")
    client = login("fc_supervisor")
    g1 = user_id_of(app, "fc_grid1")
    client.post(
        f"/desk/{FUCHENG}/assign",
        data={"worker": str(g1), "selection": "ticked", "file_ids": [waiting.file_id]},
    )
    assert file_of(app, waiting.file_id).assignee_id is None  # outside 兴阜: not assigned
    client.post(f"/desk/{FUCHENG}/auto-assign")
    assert file_of(app, waiting.file_id).assignee_id == user_id_of(app, "fc_grid2")


# --- the end of a 代管 --------------------------------------------------------------------------


def test_handing_the_file_back_revokes_the_grant(app, login, covered):
    mine, _ = covered
    client = login("fc_supervisor")
    response = client.post(
        f"/desk/{FUCHENG}/assign",
        data={
            "worker": str(user_id_of(app, "fc_grid2")),
            "selection": "ticked",
            "state": "open",
            "file_ids": [mine.file_id],
        },
    )
    assert response.status_code == 302
    assert file_of(app, mine.file_id).assignee_id == user_id_of(app, "fc_grid2")
    assert covering_grants(app) == []
    (revoked,) = events(app, "role.revoke")
    assert revoked.target_label == "fc_grid1"
    text = in_words(app, revoked)
    assert "角色：代管网格员" in text and "原因：代管的档案已全部交回或改派" in text
    worker = login("fc_grid1")
    assert worker.get(f"/tasks/{mine.file_id}").status_code == 404


def test_a_handover_of_the_covering_worker_ends_the_grant(app, login, covered):
    mine, _ = covered
    client = login("fc_supervisor")
    client.post(
        f"/desk/{FUCHENG}/handover",
        data={"from_worker": str(user_id_of(app, "fc_grid1")), "to_worker": "none"},
    )
    assert file_of(app, mine.file_id).state == "unassigned"
    assert covering_grants(app) == []


def test_the_supervisor_ends_a_cover(app, login, covered):
    mine, _ = covered
    (grant,) = covering_grants(app)
    client = login("fc_supervisor")
    response = client.post(END, data={"grant": str(grant.id)})
    assert response.status_code == 302
    desk = client.get(f"/desk/{FUCHENG}").get_data(as_text=True)
    assert "已结束 兴阜居委会网格员 对新盛居委会的代管，收回 1 个档案待重新分配。" in desk
    f = file_of(app, mine.file_id)
    assert (f.assignee_id, f.state) == (None, "unassigned")
    assert covering_grants(app) == []
    (revoked,) = events(app, "role.revoke")
    assert "原因：督导结束代管" in in_words(app, revoked)


def test_a_proposal_waiting_for_review_keeps_the_cover_until_decided(
    app, login, make_file, covered
):
    mine, _ = covered
    with database(app) as session:
        session.get(PersonFile, mine.file_id).state = "pending_review"
    (grant,) = covering_grants(app)
    client = login("fc_supervisor")
    client.post(END, data={"grant": str(grant.id)})
    desk = client.get(f"/desk/{FUCHENG}").get_data(as_text=True)
    assert "处理完后代管自动结束" in desk
    assert len(covering_grants(app)) == 1
    assert file_of(app, mine.file_id).assignee_id == user_id_of(app, "fc_grid1")


# --- other townships and the user pages ---------------------------------------------------------


def test_a_sibling_townships_supervisor_cannot_cover_files_they_do_not_hold(
    app, login, make_file, covered
):
    made = make_file(XINSHENG, name="阜城丁")
    client = login("wt_supervisor")
    wt_grid1 = user_id_of(app, "wt_grid1")
    assert post_cover(client, wt_grid1, [made.file_id]).status_code == 404
    own_desk = post_cover(client, wt_grid1, [made.file_id], url=f"/desk/{WUTAN_STREET}/cover")
    assert own_desk.status_code == 200
    assert "没有其他社区的在办档案" in own_desk.get_data(as_text=True)
    (grant,) = covering_grants(app)
    assert client.post(END, data={"grant": str(grant.id)}).status_code == 404
    client.post(f"/desk/{WUTAN_STREET}/cover/end", data={"grant": str(grant.id)})
    assert len(covering_grants(app)) == 1
    assert file_of(app, made.file_id).assignee_id is None
    assert covering_grants(app, "wt_grid1") == []


def test_the_user_pages_neither_grant_nor_revoke_a_cover_but_still_manage_the_worker(
    app, ctx, covered
):
    supervisor = db.session.scalar(select(User).where(User.username == "fc_supervisor"))
    worker = db.session.scalar(select(User).where(User.username == "fc_grid1"))
    assert "covering_worker" not in grantable_roles(supervisor, db.session.get(Region, XINSHENG))
    assert can_manage_user(supervisor, worker)  # the covering grant does not block it
    from portal.users import operations as users

    (grant,) = [g for g in worker.grants if g.role == "covering_worker"]
    with pytest.raises(users.UserAdminError, match="无权撤销"):
        users.revoke_grant(supervisor, worker, grant.id)


def test_the_user_page_sends_a_cover_to_the_desk(app, login, covered):
    page = login("fc_supervisor").get(f"/users/{user_id_of(app, 'fc_grid1')}")
    text = page.get_data(as_text=True)
    assert "代管网格员" in text and "（在工作台结束代管）" in text
