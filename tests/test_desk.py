"""The desk pages: townships in scope, one township's desk, the read-only view, navigation."""

import re
from datetime import timedelta

import pytest

from permissions import enforcer as enforcer_module
from permissions.enforcer import POLICY_PATH, PolicyEnforcer
from portal.persons import codes
from portal.timeutil import local_today
from tests.desk_helpers import (
    FUCHENG,
    WUTAN,
    WUTAN_STREET,
    XINGFU,
    XINSHENG,
    file_of,
    user_id,
)

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

FULL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


@pytest.fixture
def busy(make_file, make_proposal):
    """Fucheng: 2 unassigned, 1 overdue, 1 proposal; Wutan: 1 unassigned."""
    yesterday = local_today() - timedelta(days=1)
    return {
        "unassigned": make_file(XINGFU),
        "poor": make_file(
            XINSHENG, key_populations=codes.KEY_POPULATION_BY_CODE["orphan"].bit, name="孤儿甲"
        ),
        "overdue": make_file(XINGFU, "assigned", "fc_grid1", due=yesterday),
        "proposal": make_proposal(XINGFU)[0],
        "closed": make_file(XINGFU, "exempt", "fc_grid1"),
        "wutan": make_file(WUTAN, name="吴滩人员"),
    }


def test_county_staff_sees_the_townships_with_their_figures(login, busy):
    html = login("fn_staff").get("/desk/").get_data(as_text=True)
    assert "阜城街道" in html and "吴滩街道" in html
    row = html[html.index("阜城街道") : html.index("</tr>", html.index("阜城街道"))]
    cells = re.findall(r'data-label="([^"]+)">(.*?)</td>', row, re.S)
    figures = {label: re.sub(r"<[^>]+>", "", value).strip() for label, value in cells}
    assert figures["在办档案"] == "4"
    assert figures["待分配"] == "2"
    assert figures["逾期未走访"] == "1"
    assert figures["待审核"] == "1"


def test_a_supervisor_of_one_township_goes_straight_to_its_desk(login):
    response = login("fc_supervisor").get("/desk/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/desk/{FUCHENG}")


def test_the_desk_shows_workers_communities_and_figures(app, login, busy, make_worker):
    make_worker("fc_grid3", XINGFU, XINSHENG)
    html = login("fc_supervisor").get(f"/desk/{FUCHENG}").get_data(as_text=True)
    assert "兴阜居委会网格员" in html and "新盛居委会网格员" in html
    assert "兴阜居委会、新盛居委会" in html  # fc_grid3's two communities
    assert "吴滩" not in html.split("<h2>档案</h2>")[0]
    # fc_grid1: 2 open (overdue assigned + proposal), 1 to visit, 1 overdue
    row = html[
        html.index("兴阜居委会网格员</td>") : html.index(
            "</tr>", html.index("兴阜居委会网格员</td>")
        )
    ]
    assert '<td data-label="在办">2</td>' in row
    assert '<td data-label="待走访">1</td>' in row
    assert 'badge-off">1</strong>' in row
    # The file table: unassigned by default, masked, with the government-paid group marked.
    assert "孤儿甲" in html and "<mark" in html
    assert "吴滩人员" not in html
    assert not FULL_ID.search(html)
    assert "按包片自动分配（2 个待分配）" in html


def test_filters_and_htmx_partial(login, busy):
    client = login("fc_supervisor")
    html = client.get(f"/desk/{FUCHENG}?state=open&key_population=government_paid").get_data(
        as_text=True
    )
    assert "孤儿甲" in html and "符合条件的档案 1 个" in html
    partial = client.get(f"/desk/{FUCHENG}?state=assigned", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert "<html" not in body and "符合条件的档案 1 个" in body
    assert partial.headers["Vary"] == "HX-Request" or "HX-Request" in partial.headers["Vary"]


def test_pages_keep_the_filters(app, login, make_file):
    app.config["DESK_FILES_PER_PAGE"] = 2
    try:
        for _ in range(3):
            make_file(XINGFU)
        html = (
            login("fc_supervisor").get(f"/desk/{FUCHENG}?community={XINGFU}").get_data(as_text=True)
        )
    finally:
        app.config.pop("DESK_FILES_PER_PAGE")
    assert f"community={XINGFU}" in html and "page=2" in html


def test_outside_the_scope_is_not_found(login):
    client = login("fc_supervisor")
    assert client.get(f"/desk/{WUTAN_STREET}").status_code == 404
    assert client.get(f"/desk/{XINGFU}").status_code == 404  # a community is not a desk
    assert client.get("/desk/320923000000").status_code == 404  # nor a county
    assert login("fc_grid1").get("/desk/").status_code == 403


def test_navigation_shows_the_desk_to_whoever_may_see_it(login):
    assert 'href="/desk/"' in login("fc_supervisor").get("/").get_data(as_text=True)
    assert 'href="/desk/"' in login("fn_staff").get("/").get_data(as_text=True)
    assert 'href="/desk/"' not in login("fc_grid1").get("/").get_data(as_text=True)
    assert 'href="/desk/"' not in login("js_auditor").get("/").get_data(as_text=True)


# --- read-only: desk.view without file.assign ------------------------------------------------


@pytest.fixture
def county_staff_without_assign(tmp_path, monkeypatch):
    """The policy with county staff's file.assign and file.review removed."""
    policy = tmp_path / "policy.csv"
    lines = POLICY_PATH.read_text(encoding="utf-8").splitlines()
    dropped = {"p, county_staff, file.assign, *", "p, county_staff, file.review, *"}
    policy.write_text("\n".join(x for x in lines if x.strip() not in dropped), encoding="utf-8")
    monkeypatch.setattr(enforcer_module, "_shared", PolicyEnforcer(policy_path=policy))


def test_read_only_desk_hides_the_controls_and_refuses_the_posts(
    app, login, busy, county_staff_without_assign
):
    client = login("fn_staff")
    html = client.get(f"/desk/{FUCHENG}").get_data(as_text=True)
    assert "兴阜居委会网格员" in html
    for control in ("分配勾选的档案", "按包片自动分配（", ">交接</button>", 'name="file_ids"'):
        assert control not in html
    assert "您可以查看本乡镇的工作情况" in html
    g1 = user_id(app, "fc_grid1")
    made = busy["unassigned"]
    posts = {
        f"/desk/{FUCHENG}/assign": {"worker": g1, "selection": "ticked", "file_ids": made.file_id},
        f"/desk/{FUCHENG}/auto-assign": {},
        f"/desk/{FUCHENG}/handover": {"from_worker": g1, "to_worker": "none"},
    }
    for url, data in posts.items():
        assert client.post(url, data=data).status_code == 403, url
    assert file_of(app, made.file_id).version == 1
    assert client.get(f"/desk/{FUCHENG}/reviews").status_code == 403
