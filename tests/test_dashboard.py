"""The dashboard (统计): the right numbers for known data, the child table (合计, sorting, rank,
drill-down, links whose lists hold exactly the count), the gap warning, scope, the audited
export and the year picker."""

import io
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.stats import maintain
from portal.years.selection import current_year
from tests.dashboard_helpers import (
    FUCHENG,
    FUNING,
    TINGHU,
    WUTAN,
    XINGFU,
    XINSHENG,
    add_person,
    child_table,
    fill,
)
from tests.helpers import database


@pytest.fixture
def year(app):
    with app.app_context():
        return current_year()


@pytest.fixture(params=["counted", "maintained"])
def settle(app, request, year):
    """Each test runs twice: on figures counted from the base tables (a year nobody maintains
    yet) and on the maintained table (portal/stats/maintain.py), rebuilt after the data."""

    def _settle():
        if request.param == "maintained":
            with database(app) as session:
                maintain.rebuild(session.connection(), prefix="3209", year=year)

    return _settle


@pytest.fixture
def known(app, year, settle):
    fill(app, year)
    settle()
    return year


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_headline_shows_the_figures_of_the_known_data(login, known):
    html = page(login("fc_supervisor"), f"/dashboard/{FUCHENG}")
    assert f"{known} 参保年度" in html and "数据截至" in html
    # 12 must-insure (13 on the lists, 1 deceased not counted), 7 insured, 5 uninsured.
    assert re.search(r">12(</a>)?</strong><span>应参保人数", html)
    assert re.search(r">7(</a>)?</strong><span>已参保人数", html)
    assert "58.3%</strong><span>参保率" in html
    assert re.search(r">5(</a>)?</strong><span>未参保人数", html)
    assert "<dt>户籍人口</dt><dd>12</dd>" in html
    assert "<dt>常住人口（非户籍）</dt><dd>1</dd>" in html
    assert re.search(r"<dt>不再列入</dt><dd>(<a [^>]+>)?1", html)
    assert re.search(r"<dt>职工医保</dt><dd>(<a [^>]+>)?2(</a>)?</dd>", html)
    assert re.search(r"<dt>居民医保</dt><dd>(<a [^>]+>)?5(</a>)?</dd>", html)
    assert "<dt>异地参保</dt><dd>1</dd>" in html and "<dt>本地参保</dt><dd>6</dd>" in html
    assert "<dt>外出务工</dt><dd>1</dd>" in html
    assert re.search(r"<dt>待分配</dt><dd>(<a [^>]+>)?3(</a>)?</dd>", html)
    assert re.search(r"<dt>已核销</dt><dd>(<a [^>]+>)?1(</a>)?</dd>", html)


def test_the_gap_warning_appears_only_when_a_government_paid_person_is_uninsured(login, known):
    client = login("fn_staff")
    street = page(client, f"/dashboard/{FUCHENG}")
    assert re.search(r"政府资助重点人群未全部参保：缺口 <a href=\"[^\"]+\">1</a> 人", street)
    # At a street it leads to the communities with the largest gap first.
    assert "sort=government_paid_gap&amp;dir=desc#children" in street
    assert "政府资助重点人群未全部参保" in page(client, f"/dashboard/{XINSHENG}")
    # Xingfu's government-paid person is insured; Wutan has none.
    assert "政府资助重点人群未全部参保" not in page(client, f"/dashboard/{XINGFU}")
    assert "政府资助重点人群未全部参保" not in page(client, f"/dashboard/{WUTAN}")


def test_children_side_by_side_with_a_total_equal_to_the_parent(login, known):
    table = child_table(page(login("fn_staff"), f"/dashboard/{FUCHENG}"))
    assert table.order[:2] == [XINGFU, XINSHENG] and table.order[-1] == "total"
    xingfu, xinsheng, total = table.rows[XINGFU], table.rows[XINSHENG], table.rows["total"]
    assert [xingfu[k].text for k in ("must_insure", "insured", "uninsured", "coverage")] == [
        "8",
        "6",
        "2",
        "75.0%",
    ]
    assert [xinsheng[k].text for k in ("uninsured", "government_paid_gap", "unassigned")] == [
        "3",
        "1",
        "2",
    ]
    for key in ("must_insure", "insured", "uninsured", "government_paid_gap", "open_files"):
        assert int(total[key].text) == sum(
            int(row[key].text) for code, row in table.rows.items() if code != "total"
        ), key
    assert total["coverage"].text == "58.3%"


def test_rank_by_coverage_ties_share_a_rank_and_sorting_follows_the_header(
    login, known, app, settle
):
    with database(app) as s:  # a third county township at Wutan's 100 %
        add_person(s, "320923003001", insured="resident")
    settle()
    client = login("fn_staff")
    table = child_table(page(client, f"/dashboard/{FUNING}"))
    ranks = {code: row["rank"].text for code, row in table.rows.items() if code != "total"}
    assert ranks[WUTAN] == ranks["320923003000"] == "1"
    assert ranks[FUCHENG] == "3"
    assert ranks["320923004000"] == "—"  # nobody to insure: no coverage, no rank
    by_coverage = child_table(page(client, f"/dashboard/{FUNING}?sort=coverage&dir=desc"))
    assert by_coverage.order[:3] == [WUTAN, "320923003000", FUCHENG]
    ascending = child_table(page(client, f"/dashboard/{FUNING}?sort=uninsured&dir=asc"))
    assert ascending.order[-2:] == [FUCHENG, "total"]
    html = page(client, f"/dashboard/{FUNING}?sort=coverage&dir=desc")
    assert 'href="/dashboard/320923000000?year=' in html and "sort=coverage&amp;dir=asc" in html


def test_every_child_drills_down_to_its_own_dashboard_to_the_community(login, known):
    client = login("yc_staff")
    table = child_table(page(client, f"/dashboard/{FUNING}"))
    assert urlsplit(table.rows[FUCHENG]["name"].href).path == f"/dashboard/{FUCHENG}"
    # Above the community, counts link to the child's dashboard.
    assert urlsplit(table.rows[FUCHENG]["uninsured"].href).path == f"/dashboard/{FUCHENG}"
    street = child_table(page(client, f"/dashboard/{FUCHENG}"))
    assert urlsplit(street.rows[XINGFU]["name"].href).path == f"/dashboard/{XINGFU}"
    html = page(client, f"/dashboard/{XINGFU}")
    assert "没有下级区划" in html
    assert '<a href="/dashboard/320900000000?' in html  # the breadcrumb up to Yancheng …
    assert "/dashboard/320000000000" not in html  # … never above the user's own region


def _list_length(client, href: str) -> int:
    """The number of persons the linked list says it holds (its filters all accepted)."""
    assert urlsplit(href).path == "/persons/"
    html = page(client, href)
    assert "请修正查询条件" not in html
    return int(re.search(r"共 (\d+) 人", html).group(1))


def test_community_counts_link_to_a_list_as_long_as_the_count(login, known):
    client = login("fn_staff")
    table = child_table(page(client, f"/dashboard/{FUCHENG}"))
    xinsheng = table.rows[XINSHENG]
    for key in ("uninsured", "unassigned", "insured", "government_paid_gap"):
        cell = xinsheng[key]
        assert cell.href, key
        assert parse_qs(urlsplit(cell.href).query)["region"] == [XINSHENG]
        assert _list_length(client, cell.href) == int(cell.text), key
    # Xingfu has a deceased person, out of the must-insure population: the lists leave them out
    # as the figures do (the 应参保 filter), so every count still links to a list as long.
    xingfu = table.rows[XINGFU]
    for key in ("must_insure", "insured", "uninsured", "government_paid_gap", "unassigned"):
        assert xingfu[key].href, key
        assert _list_length(client, xingfu[key].href) == int(xingfu[key].text), key
    assert _list_length(client, table.rows[XINGFU]["unassigned"].href) == 1


def test_headline_counts_of_every_level_link_to_lists_as_long(login, known):
    """The township's and the county's headline cards link to the persons list with exactly
    their filter (the region's whole subtree), exclusions included."""
    client = login("fn_staff")
    for region in (FUNING, FUCHENG, XINGFU):
        html = page(client, f"/dashboard/{region}")
        cards = re.findall(
            r'<div><strong(?: class="badge-off")?><a href="([^"]+)">(\d+)</a></strong>'
            r"<span>([^<]+)</span></div>",
            html,
        )
        by_label = {label: (href.replace("&amp;", "&"), int(n)) for href, n, label in cards}
        for label in ("应参保人数", "已参保人数", "未参保人数"):
            href, count = by_label[label]
            assert parse_qs(urlsplit(href).query)["region"] == [region]
            assert _list_length(client, href) == count, (region, label)
        excluded = re.search(r'<dt>不再列入</dt><dd><a href="([^"]+)">(\d+)</a>', html)
        assert excluded, region
        assert _list_length(client, excluded.group(1).replace("&amp;", "&")) == int(
            excluded.group(2)
        )


def test_scope_a_sibling_county_or_township_is_not_found(login, known):
    county = login("fn_staff")
    assert county.get(f"/dashboard/{TINGHU}").status_code == 404
    assert county.get(f"/dashboard/{TINGHU}/export.xlsx").status_code == 404
    supervisor = login("fc_supervisor")
    assert supervisor.get("/dashboard/").headers["Location"].endswith(f"/dashboard/{FUCHENG}")
    assert supervisor.get(f"/dashboard/{WUTAN}").status_code == 404
    assert supervisor.get(f"/dashboard/{FUNING}").status_code == 404
    assert login("fc_grid1").get(f"/dashboard/{XINGFU}").status_code == 403
    assert login("js_auditor").get("/dashboard/").status_code == 403


def test_the_export_has_the_columns_and_a_total_equal_to_the_sum_and_is_audited(login, known, app):
    from openpyxl import load_workbook

    response = login("fn_staff").get(f"/dashboard/{FUCHENG}/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0].startswith(f"阜城街道{known}参保年度")
    header = rows[1]
    assert header[:3] == ["区划", "区划代码", "排名"] and "重点人群缺口" in header
    body = [r for r in rows[2:] if r[0] != "合计"]
    (total,) = [r for r in rows if r[0] == "合计"]
    assert len(body) == len([r for r in rows[2:-1]])
    for column in ("应参保", "已参保", "未参保", "重点人群缺口", "在办档案", "待分配"):
        index = header.index(column)
        assert total[index] == sum(r[index] for r in body), column
    assert total[header.index("应参保")] == 12
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
        assert event.actor_username == "fn_staff" and event.region_code == FUCHENG
        assert event.detail["what"] == "dashboard" and event.detail["year"] == known


def test_the_year_picker_changes_the_year_of_the_figures(login, known):
    client = login("fn_staff")
    assert re.search(r">12(</a>)?</strong><span>应参保人数", page(client, f"/dashboard/{FUCHENG}"))
    earlier = known - 1
    response = client.post("/year", data={"year": str(earlier), "next": f"/dashboard/{FUCHENG}"})
    assert response.headers["Location"].endswith(f"/dashboard/{FUCHENG}")
    html = page(client, f"/dashboard/{FUCHENG}")
    assert f"{earlier} 参保年度" in html
    # Files are per year: none in the earlier one; persons' figures are the same.
    assert "<dt>待分配</dt><dd>0</dd>" in html
    assert "所选年度不是当前参保年度" in html


def test_home_shows_the_figures_of_the_users_region(login, known):
    html = page(login("fc_supervisor"), "/")
    assert "阜城街道 · " in html and "应参保人数" in html
    assert 'href="/desk/"' in html
    grid = page(login("fc_grid1"), "/")
    assert "应参保人数" not in grid and "我的任务" in grid


def test_a_communitys_files_by_state_link_to_lists_as_long_as_the_counts(login, known):
    client = login("fc_supervisor")
    html = page(client, f"/dashboard/{XINSHENG}")
    links = re.findall(r'<dt>([^<]+)</dt><dd><a href="([^"]+)">(\d+)</a></dd>', html)
    by_label = {label: (href.replace("&amp;", "&"), int(n)) for label, href, n in links}
    for label in ("待分配", "待走访", "已参保", "居民医保"):
        href, count = by_label[label]
        assert _list_length(client, href) == count, label
    assert by_label["待分配"][1] == 2 and by_label["待走访"][1] == 1


def test_a_region_with_children_links_to_its_report_forms_and_ranking_notices(login, known):
    html = page(login("fn_staff"), f"/dashboard/{FUNING}")
    links = {
        label: unescape(href)
        for href, label in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', html)
    }
    client = login("fn_staff")
    assert client.get(links["报表与报送"]).status_code == 200
    assert client.get(links["月度通报"]).status_code == 200
    # A community has no children: nothing to rank nor to report per child.
    html = page(login("fn_staff"), f"/dashboard/{XINGFU}")
    assert "报表与报送" not in html and "月度通报" not in html
