"""Charts: the SVG holds the right bars for known data (widths proportional, the target where it
belongs, labels escaped, a few KB), the page shows every chart inline and every figure in tables
without JavaScript, the PNG downloads, and nobody sees a chart outside their region."""

import re
import struct
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import text

from portal.charts.bars import CoverageRow, count_chart, coverage_chart
from portal.charts.png import to_png
from portal.charts.trend import Point, trend_chart
from portal.targets.models import RegionTarget
from portal.years.selection import current_year
from tests.dashboard_helpers import FUCHENG, FUNING, TINGHU, WUTAN, XINGFU, XINSHENG, fill
from tests.helpers import database

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def bars(root: ET.Element) -> dict[str, ET.Element]:
    return {
        r.get("data-key"): r
        for r in root.iter(f"{SVG}rect")
        if "bar" in (r.get("class") or "").split() and r.get("data-key")  # not the legend
    }


def targets(root: ET.Element) -> list[ET.Element]:
    return [
        ln
        for ln in root.iter(f"{SVG}line")
        if "target" in (ln.get("class") or "").split() and ln.get("data-value")  # not the legend
    ]


def width(element: ET.Element) -> float:
    return float(element.get("width"))


# --- the SVG from plain data ------------------------------------------------------------------


def test_coverage_bars_are_proportional_and_each_target_sits_at_its_rate():
    rows = [
        CoverageRow("a", "甲镇", 0.5, 0.6),
        CoverageRow("b", "乙镇", 1.0, 0.6),
        CoverageRow("c", "丙镇", 0.25, None),
        CoverageRow("d", "丁镇", None, None),  # nobody to insure: no bar
    ]
    root = parse(coverage_chart(rows, ident="t", title="参保率", desc="说明"))
    found = bars(root)
    assert set(found) == {"a", "b", "c"}
    assert found["a"].get("data-label") == "甲镇" and found["a"].get("data-value") == "0.5"
    full = width(found["b"])  # the axis runs 0–100 % (a value below 60 %)
    assert width(found["a"]) == pytest.approx(full / 2, abs=0.1)
    assert width(found["c"]) == pytest.approx(full / 4, abs=0.1)
    left = float(found["a"].get("x"))
    assert found["a"].get("class") == "bar below" and found["b"].get("class") == "bar ok"
    assert found["c"].get("class") == "bar"  # no target
    # Targets differ per row (丙 has none): one marker on each row that has one, at 60 %.
    marks = {m.get("data-key"): m for m in targets(root)}
    assert set(marks) == {"a", "b"}
    for mark in marks.values():
        assert float(mark.get("x1")) == pytest.approx(left + 0.6 * full, abs=0.1)
        assert mark.get("data-value") == "0.6"
    # 丁 is listed with "—" and no bar.
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "丁镇" in texts and "—" in texts


def test_one_target_line_when_every_child_has_the_same_target_and_the_axis_starts_high():
    rows = [CoverageRow("a", "甲镇", 0.9, 0.95), CoverageRow("b", "乙镇", 0.98, 0.95)]
    svg = coverage_chart(rows, ident="t", title="参保率", desc="说明")
    root = parse(svg)
    found = bars(root)
    # Everything ≥ 60 %: the axis starts at 80 % (a round 10 % below 85 %), says so, and the
    # bars measure from there.
    assert "横轴从 80% 起" in root.find(f"{SVG}desc").text
    a, b = width(found["a"]), width(found["b"])
    assert a / b == pytest.approx((0.9 - 0.8) / (0.98 - 0.8), abs=0.01)
    plot = b / ((0.98 - 0.8) / 0.2)
    (line,) = targets(root)
    assert line.get("class") == "target all"
    left = float(found["a"].get("x"))
    assert float(line.get("x1")) == pytest.approx(left + (0.95 - 0.8) / 0.2 * plot, abs=0.2)
    assert "目标 95.0%" in [t.text for t in root.iter(f"{SVG}text")]


def test_the_svg_is_an_accessible_image_without_script_and_escapes_labels():
    rows = [CoverageRow("x", '<script>alert("x")</script>&', 0.7, None)]
    svg = coverage_chart(rows, ident="chart-x", title="A<B>", desc="C&D")
    root = parse(svg)  # well-formed XML
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-x-title chart-x-desc"
    assert root.find(f"{SVG}title").get("id") == "chart-x-title"
    assert root.find(f"{SVG}title").text == "A<B>" and root.find(f"{SVG}desc").text.startswith(
        "C&D"
    )
    assert root.get("width") == "100%" and root.get("viewBox").startswith("0 0 360 ")
    assert "Noto Sans CJK SC" in root.get("font-family")
    assert not list(root.iter(f"{SVG}script")) and "<script" not in svg
    assert bars(root)["x"].get("data-label") == '<script>alert("x")</script>&'


def test_sizes_stay_a_few_kb_and_the_chart_grows_downwards():
    def chart(n):
        rows = [
            CoverageRow(f"3209230{i:02d}000", f"第{i}街道", 0.9 + i % 10 / 100, 0.95)
            for i in range(n)
        ]
        return coverage_chart(rows, ident="t", title="参保率", desc="说明")

    ten, hundred = chart(10), chart(100)
    assert len(ten.encode()) < 5_000
    assert len(hundred.encode()) < 30_000  # ~250 bytes a row
    heights = [float(parse(s).get("viewBox").split()[3]) for s in (ten, hundred)]
    assert heights[1] - heights[0] == pytest.approx(90 * 22)


def test_count_bars_leave_zero_out_and_the_funnel_is_centered():
    items = [("away", "外出务工", 30), ("lost", "失联", 10)]
    root = parse(count_chart(items, ident="r", title="原因", desc="", empty="无", of_total=40))
    found = bars(root)
    assert width(found["lost"]) == pytest.approx(width(found["away"]) / 3, abs=0.1)
    assert "30（75.0%）" in [t.text for t in root.iter(f"{SVG}text")]
    stages = [("files", "档案", 100), ("visited", "已走访", 50), ("enrolled", "已参保", 10)]
    root = parse(
        count_chart(
            stages, ident="f", title="漏斗", desc="", empty="无", of_total=100, centered=True
        )
    )
    centers = {k: float(r.get("x")) + width(r) / 2 for k, r in bars(root).items()}
    assert len(set(round(c, 1) for c in centers.values())) == 1
    empty = count_chart([], ident="e", title="原因", desc="", empty="没有在办档案")
    assert "没有在办档案" in empty and not bars(parse(empty))


def _points(days: int, first: date = date(2025, 6, 1)) -> list[Point]:
    return [
        Point(
            first + timedelta(days=i),
            0.9 + i / days / 20,
            500 - i // 2,
            filled=30 <= i < 35,
            year=2026 if first + timedelta(days=i) < date(2025, 9, 1) else 2027,
        )
        for i in range(days)
    ]


def test_the_trend_draws_two_lines_bands_for_filled_days_and_the_year_change():
    svg = trend_chart(_points(548), ident="t", title="趋势", desc="")
    root = parse(svg)
    paths = {p.get("class"): p.get("d") for p in root.iter(f"{SVG}path")}
    assert set(paths) == {"line coverage", "line open"}
    assert all(d.startswith("M") for d in paths.values())
    (band,) = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "filled"]
    assert (band.get("data-from"), band.get("data-to")) == ("2025-07-01", "2025-07-05")
    (year,) = [ln for ln in root.iter(f"{SVG}line") if ln.get("class") == "year"]
    assert year.get("data-year") == "2027"
    assert len(svg.encode()) < 8_000
    # A gap of more than 8 days breaks the line: two "M" in each path.
    points = _points(40)
    points = points[:20] + points[30:]
    paths = [
        p.get("d")
        for p in parse(trend_chart(points, ident="t", title="", desc="")).iter(f"{SVG}path")
    ]
    assert all(d.count("M") == 2 for d in paths)


def test_a_trend_of_one_day_says_it_has_nothing_yet():
    svg = trend_chart(_points(1), ident="t", title="趋势", desc="")
    assert "暂无趋势数据" in svg and "<path" not in svg


def test_the_png_is_a_picture_twice_the_chart_size():
    svg = count_chart(
        [("a", "外出务工", 3)],
        ident="r",
        title="",
        desc="",
        empty="",
        standalone=True,
        heading=("阜城街道未参保原因", "2027参保年度"),
    )
    png = to_png(svg)
    assert png.startswith(b"\x89PNG")
    width_px, height_px = struct.unpack(">II", png[16:24])
    assert width_px == 720 and height_px == 2 * int(float(parse(svg).get("height")))


# --- the dashboard: page, routes, scope -------------------------------------------------------


@pytest.fixture
def year(app):
    with app.app_context():
        return current_year()


@pytest.fixture
def known(app, year):
    fill(app, year)
    with database(app) as session:
        session.add(RegionTarget(year=year, region_code=XINGFU, kind="rate", value=9000))
        session.add(RegionTarget(year=year, region_code=XINSHENG, kind="count", value=2))
        # Ten days of trend for Fucheng, the fourth filled in later.
        today = date.today()
        for back in range(10, 0, -1):
            session.execute(
                text(
                    "INSERT INTO daily_figures (region_code, day, year, persons, excluded, "
                    "insured, open_files, files, filled, taken_at) VALUES "
                    "(:code, :day, :year, 13, 1, :insured, :open, 6, :filled, :at)"
                ),
                {
                    "code": FUCHENG,
                    "day": today - timedelta(days=back),
                    "year": year,
                    "insured": 7 - back // 4,
                    "open": 5 + back // 4,
                    "filled": back == 7,
                    "at": datetime(2026, 1, 1),
                },
            )
    return year


def _figure(html: str, name: str) -> str:
    match = re.search(rf'<figure[^>]*data-chart="{name}".*?</figure>', html, re.S)
    assert match, f"no {name} chart on the page"
    return match.group(0)


def _table(figure: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", figure.split("<tbody>")[1], re.S)
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
        for r in rows
    ]


def test_the_page_shows_every_chart_inline_and_every_figure_in_tables(login, known):
    response = login("fc_supervisor").get(f"/dashboard/{FUCHENG}")
    html = response.get_data(as_text=True)
    for name in ("coverage", "trend", "reasons", "funnel"):
        figure = _figure(html, name)
        assert "<svg" in figure and 'role="img"' in figure
        assert f"/dashboard/{FUCHENG}/chart/{name}.png?year={known}" in figure
        assert "下载图片" in figure and "<summary>数据表</summary>" in figure
    assert "<script" not in html.split('class="charts"')[1].split("</section>")[0]
    # The page's Content-Security-Policy allows no inline style: the charts' colours come from
    # the linked static/charts.css, never from a <style> inside the page.
    assert "<style" not in html and "/static/charts.css?v=" in html
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]

    coverage = _figure(html, "coverage")
    root = parse(re.search(r"<svg.*?</svg>", coverage, re.S).group(0))
    found = bars(root)
    assert found[XINGFU].get("data-value") == "0.75" and found[XINSHENG].get("data-value") == "0.25"
    assert width(found[XINGFU]) == pytest.approx(3 * width(found[XINSHENG]), abs=0.3)
    marks = {m.get("data-key"): m.get("data-value") for m in targets(root)}
    assert marks == {XINGFU: "0.9", XINSHENG: "0.5"}  # 2 persons of 4 must-insure
    table = _table(coverage)
    assert table[:2] == [
        ["兴阜居委会", "8", "6", "75.0%", "90%", "未达标"],
        ["新盛居委会", "4", "1", "25.0%", "2 人（折合 50.0%）", "未达标"],
    ]
    # Every other community of the street: a row of zeros, and no bar (nobody to insure).
    assert len(table) == len(root.findall(f".//{SVG}text[@text-anchor='end']")) > 2
    assert all(row[1:] == ["0", "0", "—", "—", "—"] for row in table[2:])
    assert set(found) == {XINGFU, XINSHENG}
    reasons = {row[0]: row[1:] for row in _table(_figure(html, "reasons"))}
    assert reasons["外出务工"] == ["1", "20.0%"] and reasons["未填写原因"] == ["4", "80.0%"]
    assert reasons["合计"] == ["5", "100.0%"] and reasons["失联"] == ["0", "0.0%"]
    assert _table(_figure(html, "funnel")) == [
        ["本年度档案", "6", "100.0%"],
        ["已走访", "0", "0.0%"],
        ["同意参保", "0", "0.0%"],
        ["已参保", "0", "0.0%"],
    ]
    trend = _figure(html, "trend")
    assert 'class="filled"' in trend and 'class="line coverage"' in trend
    table = _table(trend)
    assert table[-1][-1] == "实时" and table[-1][2:6] == ["12", "7", "58.3%", "5"]


def test_the_svg_file_carries_its_own_style_and_may_use_it(login, known):
    response = login("fn_staff").get(f"/dashboard/{FUCHENG}/chart/coverage.svg?year={known}")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert "<style>" in svg and ".chart .bar{fill:" in svg and "<script" not in svg
    assert "style-src 'unsafe-inline'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none'


def test_the_png_downloads_with_a_chinese_name(login, known):
    client = login("fn_staff")
    response = client.get(f"/dashboard/{FUCHENG}/chart/coverage.png?year={known}")
    assert response.status_code == 200 and response.mimetype == "image/png"
    body = response.get_data()
    assert body.startswith(b"\x89PNG") and 5_000 < len(body) < 400_000
    assert struct.unpack(">II", body[16:24])[0] == 720
    disposition = unquote(response.headers["Content-Disposition"])
    assert "attachment" in disposition
    assert re.search(r"阜城街道-下级区划参保率-\d{8}\.png", disposition)
    svg = client.get(f"/dashboard/{FUCHENG}/chart/reasons.svg?year={known}")
    assert svg.mimetype == "image/svg+xml"
    root = parse(svg.get_data(as_text=True))
    assert root.get("width") == "360" and "阜城街道未参保原因" in svg.get_data(as_text=True)


def test_unknown_charts_and_coverage_without_children_are_not_found(login, known):
    client = login("fc_supervisor")
    assert client.get(f"/dashboard/{FUCHENG}/chart/pie.svg").status_code == 404
    assert client.get(f"/dashboard/{XINGFU}/chart/coverage.svg").status_code == 404
    assert client.get(f"/dashboard/{XINGFU}/chart/funnel.svg").status_code == 200
    page = client.get(f"/dashboard/{XINGFU}").get_data(as_text=True)
    assert 'data-chart="funnel"' in page and 'data-chart="coverage"' not in page


@pytest.mark.parametrize("kind", ["svg", "png"])
def test_nobody_sees_a_chart_outside_their_region(login, known, kind):
    # A county officer cannot open a sibling county's chart, nor a street officer the next
    # street's; a grid worker has no statistics at all.
    assert login("fn_staff").get(f"/dashboard/{TINGHU}/chart/trend.{kind}").status_code == 404
    assert login("fn_staff").get(f"/dashboard/{FUNING}/chart/trend.{kind}").status_code == 200
    assert (
        login("wt_supervisor").get(f"/dashboard/{FUCHENG}/chart/funnel.{kind}").status_code == 404
    )
    assert login("wt_supervisor").get(f"/dashboard/{WUTAN}/chart/funnel.{kind}").status_code == 200
    assert login("fc_grid1").get(f"/dashboard/{XINGFU}/chart/funnel.{kind}").status_code == 403
