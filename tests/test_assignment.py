"""Bulk assignment, auto-assignment by community (包片) and handover, through the desk's POSTs."""

from collections import Counter
from datetime import timedelta

import pytest

from portal.desk import assignment
from portal.persons import codes
from portal.persons.models import PersonFile
from portal.timeutil import local_today
from tests.desk_helpers import (
    FUCHENG,
    WUTAN,
    XINGFU,
    XINSHENG,
    ZHONGXIN,
    file_of,
    history_of,
    user_id,
)
from tests.helpers import database

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

ASSIGN = f"/desk/{FUCHENG}/assign"
AUTO = f"/desk/{FUCHENG}/auto-assign"
HANDOVER = f"/desk/{FUCHENG}/handover"
EXTREME_POVERTY = codes.KEY_POPULATION_BY_CODE["extreme_poverty"].bit
STUDENT = codes.KEY_POPULATION_BY_CODE["student"].bit


def post_assign(client, worker, ids=(), *, selection="ticked", due="", **filters):
    data = {"worker": str(worker), "selection": selection, "due_date": due, "file_ids": list(ids)}
    data.update({"state": "unassigned"} | filters)
    return client.post(ASSIGN, data=data)


def flashed(client) -> str:
    return client.get(f"/desk/{FUCHENG}").get_data(as_text=True)


# --- bulk assignment --------------------------------------------------------------------------


def test_ticked_files_go_to_the_worker_with_history_version_and_time(app, login, make_file):
    a, b, c = make_file(), make_file(), make_file()
    g1 = user_id(app, "fc_grid1")
    client = login("fc_supervisor")
    response = post_assign(client, g1, [a.file_id, b.file_id])
    assert response.status_code == 302
    assert "已分配 2 个档案给 兴阜居委会网格员。" in flashed(client)
    for made in (a, b):
        f = file_of(app, made.file_id)
        assert (f.state, f.assignee_id, f.version) == ("assigned", g1, 2)
        assert f.assigned_at is not None
        (entry,) = history_of(app, made.person_id, "assign")
        assert entry.changes == {
            "assignee_id": [None, g1],
            "file_state": ["unassigned", "assigned"],
        }
        assert entry.user_id == user_id(app, "fc_supervisor")
    untouched = file_of(app, c.file_id)
    assert (untouched.state, untouched.assignee_id, untouched.version) == ("unassigned", None, 1)
    assert history_of(app, c.person_id) == []


def test_filter_selects_by_community_state_key_population_and_reason(app, login, make_file):
    poor = make_file(XINGFU, key_populations=EXTREME_POVERTY, reason="hardship")
    poor_other_reason = make_file(XINGFU, key_populations=EXTREME_POVERTY, reason="lost_contact")
    student = make_file(XINGFU, key_populations=STUDENT, reason="hardship")
    poor_elsewhere = make_file(XINSHENG, key_populations=EXTREME_POVERTY, reason="hardship")
    poor_following = make_file(
        XINGFU, "following", "fc_grid1", key_populations=EXTREME_POVERTY, reason="hardship"
    )
    g1 = user_id(app, "fc_grid1")
    client = login("fc_supervisor")
    response = post_assign(
        client,
        g1,
        selection="filter",
        community=XINGFU,
        key_population="government_paid",
        reason="hardship",
    )
    assert response.status_code == 302
    assert file_of(app, poor.file_id).assignee_id == g1
    for other in (poor_other_reason, student, poor_elsewhere):
        assert file_of(app, other.file_id).assignee_id is None
    assert file_of(app, poor_following.file_id).version == 1  # state filter: unassigned only


def test_filter_on_all_open_states_reassigns_and_keeps_the_state(
    app, login, make_file, make_worker
):
    g3 = make_worker("fc_grid3", XINGFU)
    following = make_file(XINGFU, "following", "fc_grid1")
    declined = make_file(XINGFU, "declined", "fc_grid1")
    closed = make_file(XINGFU, "exempt", "fc_grid1")
    client = login("fc_supervisor")
    post_assign(client, g3, selection="filter", state="open", community=XINGFU)
    g1 = user_id(app, "fc_grid1")
    for made, state in ((following, "following"), (declined, "declined")):
        f = file_of(app, made.file_id)
        assert (f.state, f.assignee_id) == (state, g3)
        (entry,) = history_of(app, made.person_id, "assign")
        assert entry.changes == {"assignee_id": [g1, g3]}  # the state did not change
    assert file_of(app, closed.file_id).assignee_id == g1


def test_files_outside_the_workers_communities_are_left_and_counted(app, login, make_file):
    inside, outside = make_file(XINGFU), make_file(XINSHENG)
    client = login("fc_supervisor")
    post_assign(client, user_id(app, "fc_grid1"), [inside.file_id, outside.file_id])
    assert "已分配 1 个档案给 兴阜居委会网格员；1 个不在该网格员的社区，未分配。" in flashed(client)
    assert file_of(app, outside.file_id).assignee_id is None


def test_due_date_is_set_and_recorded(app, login, make_file):
    made = make_file()
    due = local_today() + timedelta(days=10)
    client = login("fc_supervisor")
    post_assign(client, user_id(app, "fc_grid1"), [made.file_id], due=due.isoformat())
    assert file_of(app, made.file_id).due_date == due
    (entry,) = history_of(app, made.person_id, "assign")
    assert entry.changes["due_date"] == [None, due.isoformat()]


def test_injected_ids_outside_the_scope_or_township_are_never_touched(app, login, make_file):
    mine = make_file(XINGFU)
    wutan = make_file(WUTAN)
    g1 = user_id(app, "fc_grid1")
    # A township supervisor: the Wutan file is outside their scope.
    client = login("fc_supervisor")
    post_assign(client, g1, [mine.file_id, wutan.file_id, 987654321])
    assert "已分配 1 个档案" in flashed(client)
    assert file_of(app, wutan.file_id).version == 1
    # County staff: in their scope, but not a file of this township's desk.
    other = make_file(XINGFU)
    county = login("fn_staff")
    county.post(ASSIGN, data={"worker": g1, "selection": "ticked", "file_ids": [wutan.file_id]})
    wutan_file = file_of(app, wutan.file_id)
    assert (wutan_file.assignee_id, wutan_file.version) == (None, 1)
    assert history_of(app, wutan.person_id) == []
    assert file_of(app, other.file_id).version == 1


def test_a_supervisor_cannot_assign_to_a_worker_of_another_township(app, login, make_file):
    made = make_file()
    client = login("fc_supervisor")
    response = post_assign(client, user_id(app, "wt_grid1"), [made.file_id])
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "不能分配给其他乡镇的网格员。" in html
    assert f'value="{made.file_id}" id="file-{made.file_id}" checked' in html  # ticks kept
    assert file_of(app, made.file_id).version == 1


@pytest.mark.parametrize(
    ("worker", "ids", "due", "message"),
    [
        ("", "one", "", "请选择网格员。"),
        ("999999", "one", "", "所选网格员不存在，请重新选择。"),
        ("fc_supervisor", "one", "", "阜城街道督导 不是网格员，不能分配档案。"),
        ("wt_grid1", "one", "", "不能分配给其他乡镇的网格员。"),
        ("fc_grid1", "none", "", "请先勾选要分配的档案，或选择“分配全部符合条件的档案”。"),
        ("fc_grid1", "one", "yesterday", "截止日期不能早于今天。"),
        ("fc_grid1", "one", "2026-13-45", "日期格式不正确，请按“年-月-日”填写"),
        ("fc_grid1", "bad", "", "所勾选的档案编号无效，请刷新页面后重新勾选。"),
    ],
)
def test_every_refusal_has_a_chinese_message_and_changes_nothing(
    app, login, make_file, worker, ids, due, message
):
    made = make_file()
    if worker and not worker.isdigit():
        worker = user_id(app, worker)
    file_ids = {"one": [made.file_id], "none": [], "bad": ["1 OR 1=1"]}[ids]
    if due == "yesterday":
        due = (local_today() - timedelta(days=1)).isoformat()
    response = post_assign(login("fc_supervisor"), worker, file_ids, due=due)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert file_of(app, made.file_id).version == 1


def test_a_disabled_worker_is_refused(app, login, make_file, make_worker):
    gone = make_worker("fc_gone", XINGFU, active=False)
    made = make_file()
    response = post_assign(login("fc_supervisor"), gone, [made.file_id])
    assert "fc_gone网格员 的账户已停用，不能分配档案。" in response.get_data(as_text=True)
    assert file_of(app, made.file_id).assignee_id is None


def test_a_change_meanwhile_keeps_nothing(app, ctx, user, make_file, monkeypatch):
    """All or nothing: when the UPDATE touches fewer files than planned, nothing is kept."""
    a, b = make_file(), make_file()
    original = assignment._update

    def one_file_changed_meanwhile(*args):
        return original(*args).where(PersonFile.id != b.file_id)

    monkeypatch.setattr(assignment, "_update", one_file_changed_meanwhile)
    township = _township(FUCHENG)
    with pytest.raises(assignment.AssignmentConflict, match="本次没有分配任何档案"):
        assignment.assign(
            user("fc_supervisor"),
            township,
            assignment.Selection(file_ids=(a.file_id, b.file_id)),
            user("fc_grid1").id,
        )
    assert file_of(app, a.file_id).assignee_id is None


def _township(code):
    from portal.extensions import db
    from portal.regions.models import Region

    return db.session.get(Region, code)


# --- auto-assignment --------------------------------------------------------------------------


def test_auto_assign_balances_workers_sharing_a_community(app, login, make_file, make_worker):
    g3 = make_worker("fc_grid3", XINGFU)
    g1, g2 = user_id(app, "fc_grid1"), user_id(app, "fc_grid2")
    xingfu = [make_file(XINGFU) for _ in range(7)]
    xinsheng = [make_file(XINSHENG) for _ in range(3)]
    nobody = [make_file(ZHONGXIN) for _ in range(2)]
    client = login("fc_supervisor")
    assert client.post(AUTO, data={}).status_code == 302
    assert "已按包片自动分配 10 个档案；2 个档案所在社区没有网格员，仍待分配。" in flashed(client)
    shared = Counter(file_of(app, m.file_id).assignee_id for m in xingfu)
    assert set(shared) == {g1, g3}
    assert abs(shared[g1] - shared[g3]) <= 1
    assert {file_of(app, m.file_id).assignee_id for m in xinsheng} == {g2}
    assert {file_of(app, m.file_id).state for m in nobody} == {"unassigned"}
    for m in xingfu + xinsheng:
        f = file_of(app, m.file_id)
        assert f.state == "assigned" and f.version == 2
        assert len(history_of(app, m.person_id, "assign")) == 1


def test_auto_assign_gives_the_least_loaded_worker_the_first_file(
    app, login, make_file, make_worker
):
    g3 = make_worker("fc_grid3", XINGFU)
    g1 = user_id(app, "fc_grid1")
    make_file(XINGFU, "assigned", "fc_grid1")
    make_file(XINGFU, "following", "fc_grid1")
    new = [make_file(XINGFU) for _ in range(4)]
    login("fc_supervisor").post(AUTO, data={})
    assert [file_of(app, m.file_id).assignee_id for m in new] == [g3, g1, g3, g1]


def test_auto_assign_skips_disabled_workers_and_other_townships(app, login, make_file, make_worker):
    make_worker("fc_gone", XINGFU, active=False)
    made = [make_file(XINGFU) for _ in range(3)] + [make_file(WUTAN)]
    login("fc_supervisor").post(AUTO, data={})
    g1 = user_id(app, "fc_grid1")
    assert [file_of(app, m.file_id).assignee_id for m in made] == [g1, g1, g1, None]


def test_auto_assign_refusals(app, login):
    client = login("fc_supervisor")
    past = (local_today() - timedelta(days=1)).isoformat()
    client.post(AUTO, data={"due_date": past})
    assert "截止日期不能早于今天。" in flashed(client)
    client.post(AUTO, data={})
    assert "没有待分配的档案。" in flashed(client)


# --- handover ---------------------------------------------------------------------------------


@pytest.fixture
def holdings(make_file):
    return {
        "assigned": make_file(XINGFU, "assigned", "fc_grid1"),
        "following": make_file(XINGFU, "following", "fc_grid1"),
        "review": make_file(XINGFU, "pending_review", "fc_grid1"),
        "in_xinsheng": make_file(XINSHENG, "assigned", "fc_grid1"),
        "closed": make_file(XINGFU, "enrolled", "fc_grid1"),
        "other_worker": make_file(XINSHENG, "assigned", "fc_grid2"),
    }


def test_handover_moves_exactly_the_leaving_workers_open_files(app, login, make_worker, holdings):
    g3 = make_worker("fc_grid3", XINGFU)
    g1, g2 = user_id(app, "fc_grid1"), user_id(app, "fc_grid2")
    client = login("fc_supervisor")
    response = client.post(HANDOVER, data={"from_worker": g1, "to_worker": g3})
    assert response.status_code == 302
    assert (
        "已将 兴阜居委会网格员 的 3 个档案交给 fc_grid3网格员；"
        "1 个不在 fc_grid3网格员 的社区，已收回待分配。" in flashed(client)
    )
    state = {
        k: (file_of(app, m.file_id).state, file_of(app, m.file_id).assignee_id)
        for k, m in holdings.items()
    }
    assert state == {
        "assigned": ("assigned", g3),
        "following": ("following", g3),
        "review": ("pending_review", g3),
        "in_xinsheng": ("unassigned", None),
        "closed": ("enrolled", g1),
        "other_worker": ("assigned", g2),
    }
    assert file_of(app, holdings["closed"].file_id).version == 1
    assert file_of(app, holdings["other_worker"].file_id).version == 1
    (moved,) = history_of(app, holdings["following"].person_id, "assign")
    assert moved.changes == {"assignee_id": [g1, g3]}
    (returned,) = history_of(app, holdings["in_xinsheng"].person_id, "assign")
    assert returned.changes == {"assignee_id": [g1, None], "file_state": ["assigned", "unassigned"]}
    # The person's page names who held the file, and who holds it now.
    page = client.get(f"/persons/{holdings['following'].person_id}").get_data(as_text=True)
    assert "负责网格员：兴阜居委会网格员 → fc_grid3网格员" in page
    assert "<strong>分配</strong>" in page


def test_handover_back_to_unassigned_keeps_files_under_review(app, login, holdings):
    g1 = user_id(app, "fc_grid1")
    client = login("fc_supervisor")
    client.post(HANDOVER, data={"from_worker": g1, "to_worker": "none"})
    assert (
        "已收回 兴阜居委会网格员 的 3 个档案，待重新分配；"
        "1 个档案正在待审核或待比对确认，仍由 兴阜居委会网格员 负责。" in flashed(client)
    )
    assert file_of(app, holdings["review"].file_id).assignee_id == g1
    assert file_of(app, holdings["following"].file_id).state == "unassigned"


@pytest.mark.parametrize(
    ("leaving", "receiving", "message"),
    [
        ("fc_grid1", "", "请选择把档案交给哪位网格员，或选择“收回待分配”。"),
        ("fc_grid1", "fc_grid1", "不能交接给同一名网格员。"),
        ("fc_grid1", "wt_grid1", "不能分配给其他乡镇的网格员。"),
        ("wt_grid1", "none", "请选择本乡镇要交接档案的网格员。"),
        ("", "none", "请选择本乡镇要交接档案的网格员。"),
    ],
)
def test_handover_refusals(app, login, holdings, leaving, receiving, message):
    data = {
        "from_worker": user_id(app, leaving) if leaving else "",
        "to_worker": user_id(app, receiving) if receiving not in ("", "none") else receiving,
    }
    client = login("fc_supervisor")
    client.post(HANDOVER, data=data)
    assert message in flashed(client)
    assert file_of(app, holdings["assigned"].file_id).version == 1


def test_handover_of_a_worker_without_open_files(app, login):
    client = login("fc_supervisor")
    client.post(HANDOVER, data={"from_worker": user_id(app, "fc_grid2"), "to_worker": "none"})
    assert "新盛居委会网格员 没有您可以交接的在办档案。" in flashed(client)


def test_handover_finds_a_holder_whose_grant_was_revoked(app, login, make_file):
    from portal.accounts.models import Grant

    made = make_file(XINGFU, "assigned", "fc_grid1")
    g1 = user_id(app, "fc_grid1")
    with database(app) as session:
        session.query(Grant).filter_by(user_id=g1).delete()
    client = login("fc_supervisor")
    assert "（已非本乡镇网格员）" in client.get(f"/desk/{FUCHENG}").get_data(as_text=True)
    client.post(HANDOVER, data={"from_worker": g1, "to_worker": user_id(app, "fc_grid2")})
    f = file_of(app, made.file_id)
    assert (f.state, f.assignee_id) == ("unassigned", None)  # not in fc_grid2's community
