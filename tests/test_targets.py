"""Targets (目标): parsing and validation, the editable table (errors keep every typed value,
nothing saved), audit old → new, scope, the Excel template → upload → confirmation → save, and
the dashboard's 目标 / 完成进度 columns and sort."""

import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.stats.figures import Figures
from portal.targets import service
from portal.targets.models import RegionTarget
from portal.years.selection import current_year
from tests.dashboard_helpers import (
    FUCHENG,
    FUNING,
    TINGHU,
    WUTAN,
    WUTAN_COMMUNITY,
    XINGFU,
    XINSHENG,
    child_table,
    fill,
)
from tests.helpers import database, fetch


@pytest.fixture
def year(app):
    with app.app_context():
        return current_year()


@pytest.fixture
def known(app, year):
    """兴阜 8 must-insure, 6 insured (75 %); 新盛 4, 1 insured (25 %); 吴滩 2, 2 (100 %)."""
    fill(app, year)
    return year


def targets(app, year) -> dict[str, tuple[str, int]]:
    return {
        t.region_code: (t.kind, t.value) for t in fetch(app, select(RegionTarget)) if t.year == year
    }


def set_target(app, year, code, kind, value):
    with database(app) as s:
        s.merge(RegionTarget(year=year, region_code=code, kind=kind, value=value))


def events(app) -> list[AuditEvent]:
    return fetch(app, select(AuditEvent).where(AuditEvent.action == "target.set"))


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "points"),
    [
        ("95", 9500),
        ("95%", 9500),
        ("95.5", 9550),
        (" 96.25 % ", 9625),
        ("９５．５％", 9550),
        ("０.９５", 95),  # 0.95 %, not 95 %: numbers are percents, never fractions
        ("0", 0),
        ("100", 10000),
        ("100.00%", 10000),
    ],
)
def test_a_rate_is_read_in_percent(text, points):
    assert service.parse_rate(text) == points


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("101", "0～100%"),
        ("-1", "0～100%"),
        ("abc", "不是数字"),
        ("95.555", "两位小数"),
        ("%", "不是数字"),
        ("nan", "不是数字"),
    ],
)
def test_a_bad_rate_is_refused_in_chinese(text, message):
    with pytest.raises(service.TargetError, match=message):
        service.parse_rate(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("12000", 12000), ("12,000", 12000), ("12000人", 12000), ("12000.0", 12000), ("0", 0)],
)
def test_a_count_is_a_whole_number(text, value):
    assert service.parse_count(text) == value


@pytest.mark.parametrize(
    ("text", "message"), [("-5", "负数"), ("12.5", "整数"), ("很多", "不是数字")]
)
def test_a_bad_count_is_refused_in_chinese(text, message):
    with pytest.raises(service.TargetError, match=message):
        service.parse_count(text)


def test_labels_and_progress():
    rate = RegionTarget(kind="rate", value=9650)
    count = RegionTarget(kind="count", value=12000)
    assert service.target_label(rate) == "96.5%"
    assert service.target_label(RegionTarget(kind="rate", value=9500)) == "95%"
    assert service.target_label(count) == "12,000 人"
    assert service.target_label(None) == "—"
    figures = Figures(persons=1000, insured=950)
    assert service.progress(rate, figures) == pytest.approx(0.95 / 0.965)
    assert service.progress(RegionTarget(kind="count", value=1000), figures) == pytest.approx(0.95)
    assert service.progress(None, figures) is None
    assert service.progress(rate, None) is None
    assert service.progress(rate, Figures()) is None  # nobody to insure: no coverage
    assert service.progress(RegionTarget(kind="count", value=0), figures) is None


# --- the editable table -----------------------------------------------------------------------


def form(year, **rows) -> dict:
    """rows: code=(kind, text)."""
    data = {"year": str(year)}
    for code, (kind, text) in rows.items():
        data[f"kind-{code}"] = kind
        data[f"value-{code}"] = text
    return data


def input_value(html: str, code: str) -> str:
    found = re.search(rf'name="value-{code}"[^>]*value="([^"]*)"', html)
    assert found, f"no input for {code}"
    return found.group(1)


def selected_kind(html: str, code: str) -> str:
    select_html = html.split(f'name="kind-{code}"', 1)[1].split("</select>", 1)[0]
    return re.search(r'<option value="(\w+)" selected', select_html).group(1)


def row_error(html: str, code: str) -> str | None:
    found = re.search(rf'id="error-{code}">([^<]*)<', html)
    return found.group(1) if found else None


def test_the_table_lists_the_children_with_their_figures(login, known):
    html = login("fc_supervisor").get(f"/targets/{FUCHENG}").get_data(as_text=True)
    assert "设定下级目标" in html and f"{known} 参保年度" in html
    assert "兴阜居委会" in html and "新盛居委会" in html
    assert re.search(r'data-label="应参保">8<', html) and re.search(
        r'data-label="参保率">75.0%<', html
    )


def test_saving_sets_the_targets_and_audits_old_to_new(app, login, known):
    client = login("fn_staff")
    response = client.post(
        f"/targets/{FUNING}", data=form(known, **{FUCHENG: ("rate", "95%"), WUTAN: ("count", "2")})
    )
    assert response.status_code == 302
    assert targets(app, known) == {FUCHENG: ("rate", 9500), WUTAN: ("count", 2)}
    first = {e.region_code: e.detail for e in events(app)}
    assert first[FUCHENG] == {"参保年度": known, "原目标": "未设定", "新目标": "95%"}
    assert first[WUTAN]["新目标"] == "2 人"
    # Change one, keep one (unchanged writes nothing), then clear it.
    client.post(
        f"/targets/{FUNING}", data=form(known, **{FUCHENG: ("rate", "96.5"), WUTAN: ("count", "2")})
    )
    found = [e for e in events(app) if e.region_code == FUCHENG]
    assert (
        len(found) == 2
        and found[-1].detail["原目标"] == "95%"
        and found[-1].detail["新目标"] == "96.5%"
    )
    assert len([e for e in events(app) if e.region_code == WUTAN]) == 1
    client.post(f"/targets/{FUNING}", data=form(known, **{WUTAN: ("count", "")}))
    assert targets(app, known) == {FUCHENG: ("rate", 9650)}
    assert [e for e in events(app) if e.region_code == WUTAN][-1].detail["新目标"] == "未设定"
    page = client.get(f"/targets/{FUNING}").get_data(as_text=True)
    assert input_value(page, FUCHENG) == "96.5" and "阜宁县经办" in page  # last changed by


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (("rate", "101"), "0～100%"),
        (("rate", "-3"), "0～100%"),
        (("rate", "九十五"), "不是数字"),
        (("count", "9"), "超过该地区应参保人数 8"),
    ],
)
def test_an_invalid_row_refuses_everything_and_keeps_what_was_typed(
    app, login, known, bad, message
):
    client = login("fc_supervisor")
    response = client.post(
        f"/targets/{FUCHENG}", data=form(known, **{XINGFU: bad, XINSHENG: ("count", "3")})
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in row_error(html, XINGFU)
    assert row_error(html, XINSHENG) is None
    assert input_value(html, XINGFU) == bad[1] and selected_kind(html, XINGFU) == bad[0]
    assert input_value(html, XINSHENG) == "3" and selected_kind(html, XINSHENG) == "count"
    assert "所有目标均未保存" in html
    assert targets(app, known) == {} and events(app) == []


def test_a_count_up_to_the_population_is_accepted(app, login, known):
    client = login("fc_supervisor")
    assert (
        client.post(f"/targets/{FUCHENG}", data=form(known, **{XINGFU: ("count", "8")})).status_code
        == 302
    )
    assert targets(app, known) == {XINGFU: ("count", 8)}


# --- scope ------------------------------------------------------------------------------------


def test_a_county_user_cannot_open_a_sibling_county(login, known):
    client = login("fn_staff")
    assert client.get(f"/targets/{TINGHU}").status_code == 404
    assert client.post(f"/targets/{TINGHU}", data={"year": known}).status_code == 404
    assert client.get(f"/targets/{TINGHU}/template.xlsx").status_code == 404


def test_a_township_supervisor_sets_only_their_own_communities(app, login, known):
    client = login("fc_supervisor")
    assert client.get(f"/targets/{FUCHENG}").status_code == 200
    assert client.get(f"/targets/{WUTAN}").status_code == 404
    assert client.get(f"/targets/{FUNING}").status_code == 404
    # A sibling's community smuggled into the own township's form is refused, not saved.
    response = client.post(
        f"/targets/{FUCHENG}", data=form(known, **{WUTAN_COMMUNITY: ("rate", "90")})
    )
    assert response.status_code == 302 and targets(app, known) == {}


def test_a_grid_worker_sets_nothing(login, known):
    assert login("fc_grid1").get(f"/targets/{FUCHENG}").status_code == 403


# --- the Excel template and the upload --------------------------------------------------------


def workbook_bytes(rows, *, sheet_title="Sheet1", percent_cells=()) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    for row in rows:
        sheet.append(row)
    for ref in percent_cells:
        sheet[ref].number_format = "0.0%"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client, code, year, content: bytes, name="目标.xlsx"):
    return client.post(
        f"/targets/{code}/upload",
        data={"year": str(year), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_template_download_fill_upload_confirm_save(app, login, known):
    set_target(app, known, XINSHENG, "count", 2)
    client = login("fc_supervisor")
    response = client.get(f"/targets/{FUCHENG}/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["目标", "填写说明"]
    rows = [list(r) for r in book["目标"].iter_rows(values_only=True)]
    assert rows[0] == ["区划代码", "区划名称", "应参保人数", "目标类型", "目标值"]
    assert rows[1] == [XINGFU, "兴阜居委会", 8, None, None]
    assert rows[2] == [XINSHENG, "新盛居委会", 4, "参保人数", 2]
    assert "0.95 表示 0.95%" in " ".join(r[0] for r in book["填写说明"].iter_rows(values_only=True))
    # Fill it in: a rate for 兴阜, 新盛 cleared, and upload.
    sheet = book["目标"]
    sheet["D2"], sheet["E2"] = "参保率", 96.5
    sheet["E3"] = None
    buffer = io.BytesIO()
    book.save(buffer)
    response = upload(client, FUCHENG, known, buffer.getvalue())
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "尚未保存" in html and "来自文件" in html
    assert input_value(html, XINGFU) == "96.5" and selected_kind(html, XINGFU) == "rate"
    assert input_value(html, XINSHENG) == "" and selected_kind(html, XINSHENG) == "count"
    assert targets(app, known) == {XINSHENG: ("count", 2)}  # nothing saved yet
    # The confirmation table posts what it shows.
    response = client.post(
        f"/targets/{FUCHENG}",
        data=form(known, **{XINGFU: ("rate", "96.5"), XINSHENG: ("count", "")}),
    )
    assert response.status_code == 302
    assert targets(app, known) == {XINGFU: ("rate", 9650)}


def test_an_upload_with_header_variants_in_any_order(app, login, known):
    content = workbook_bytes(
        [
            ["阜城街道目标表"],  # a title row above the header
            ["目标参保率（%）", "名称", "行政区划代码", "目标参保人数"],
            [None, "新盛居委会", XINSHENG, 3],
            [0.9, "兴阜居委会", int(XINGFU), None],  # a percentage cell: 90 %, a numeric code
            ["合计", None, None, None],
        ],
        percent_cells=["A4"],
    )
    html = upload(login("fc_supervisor"), FUCHENG, known, content).get_data(as_text=True)
    assert "上传的文件有误" not in html
    assert input_value(html, XINGFU) == "90%" and selected_kind(html, XINGFU) == "rate"
    assert input_value(html, XINSHENG) == "3" and selected_kind(html, XINSHENG) == "count"
    assert targets(app, known) == {}


def test_an_upload_with_type_and_value_columns(login, known):
    content = workbook_bytes(
        [["类型", "目标", "代码"], ["人数", "5", XINGFU], ["参保率", "95", XINSHENG]]
    )
    html = upload(login("fc_supervisor"), FUCHENG, known, content).get_data(as_text=True)
    assert input_value(html, XINGFU) == "5" and selected_kind(html, XINGFU) == "count"
    assert input_value(html, XINSHENG) == "95" and selected_kind(html, XINSHENG) == "rate"


def test_an_upload_shows_value_errors_beside_the_rows_before_saving(app, login, known):
    content = workbook_bytes([["区划代码", "目标类型", "目标值"], [XINGFU, "参保人数", 99]])
    html = upload(login("fc_supervisor"), FUCHENG, known, content).get_data(as_text=True)
    assert "超过该地区应参保人数 8" in row_error(html, XINGFU)
    assert input_value(html, XINGFU) == "99" and targets(app, known) == {}


def test_an_upload_naming_codes_that_are_not_children_is_refused_with_row_numbers(
    app, login, known
):
    content = workbook_bytes(
        [
            ["区划代码", "目标值"],
            [XINGFU, "95%"],
            [WUTAN_COMMUNITY, "95%"],  # a community of the sibling street
            ["320923999999", "95%"],  # no such region
            [XINGFU, "96%"],  # twice
            [None, "90%"],
        ]
    )
    html = upload(login("fc_supervisor"), FUCHENG, known, content).get_data(as_text=True)
    assert "上传的文件有误" in html
    assert f"第 3 行：区划代码 {WUTAN_COMMUNITY} 不是阜城街道的下级区划" in html
    assert "第 4 行：区划代码 320923999999 不存在" in html
    assert "第 5 行：区划代码 320923001001 与第 2 行重复" in html
    assert "第 6 行：缺少区划代码" in html
    assert html.index("第 3 行") < html.index("第 4 行") < html.index("第 5 行")
    assert targets(app, known) == {}


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"not a workbook", "目标.xlsx", "内容不是 Excel 工作簿"),
        (b"a,b\n1,2\n", "目标.csv", ".xlsx"),
        (None, "目标.xlsx", "没有找到表头"),
    ],
)
def test_an_unreadable_upload_says_why(login, known, content, name, message):
    if content is None:
        content = workbook_bytes([["姓名", "身份证号"], ["张三", "1"]])
    html = upload(login("fc_supervisor"), FUCHENG, known, content, name).get_data(as_text=True)
    assert "上传的文件有误" in html and message in html


def test_an_upload_without_a_file(login, known):
    response = login("fc_supervisor").post(f"/targets/{FUCHENG}/upload", data={"year": known})
    assert response.status_code == 200 and "请选择要上传的 Excel 文件" in response.get_data(
        as_text=True
    )


# --- the dashboard ----------------------------------------------------------------------------


def test_the_dashboard_shows_targets_progress_and_sorts_by_progress(app, login, known):
    # 兴阜 75 % of a 80 % target: 93.8 %; 新盛 1 insured of 2: 50.0 %.
    set_target(app, known, XINGFU, "rate", 8000)
    set_target(app, known, XINSHENG, "count", 2)
    client = login("fc_supervisor")
    html = client.get(f"/dashboard/{FUCHENG}").get_data(as_text=True)
    table = child_table(html)
    assert table.rows[XINGFU]["target"].text == "80%"
    assert table.rows[XINGFU]["progress"].text == "93.8%"
    assert table.rows[XINSHENG]["target"].text == "2 人"
    assert table.rows[XINSHENG]["progress"].text == "50.0%"
    assert "完成进度" in html and "设定下级目标" in html
    for direction, first in (("asc", XINSHENG), ("desc", XINGFU)):
        ordered = child_table(
            client.get(f"/dashboard/{FUCHENG}?sort=progress&dir={direction}").get_data(as_text=True)
        ).order
        # The two with a target first, in the order asked; the rest (no target) after them.
        assert ordered[:2] == [first, ({XINGFU, XINSHENG} - {first}).pop()]


def test_a_child_without_a_target_shows_a_dash_and_sorts_last(app, login, known):
    set_target(app, known, XINSHENG, "rate", 5000)  # 25 % of 50 %: 50 %
    client = login("fc_supervisor")
    for direction in ("asc", "desc"):
        html = client.get(f"/dashboard/{FUCHENG}?sort=progress&dir={direction}").get_data(
            as_text=True
        )
        table = child_table(html)
        assert (
            table.rows[XINGFU]["target"].text == "—" and table.rows[XINGFU]["progress"].text == "—"
        )
        assert table.order[0] == XINSHENG and table.order.index(XINGFU) > 0


def test_the_headline_shows_the_regions_own_target(app, login, known):
    set_target(app, known, FUCHENG, "rate", 6000)  # 7 of 12 insured: 58.3 % of 60 %
    html = login("fc_supervisor").get(f"/dashboard/{FUCHENG}").get_data(as_text=True)
    assert "<strong>60%</strong><span>目标参保率（上级设定）" in html
    assert "97.2%</strong><span>完成进度" in html
    html = login("fc_supervisor").get(f"/dashboard/{XINGFU}").get_data(as_text=True)
    assert "上级未设定目标" in html and "设定下级目标" not in html  # a community has no children


def test_the_city_sees_its_counties_ranked_with_targets(app, login, known):
    set_target(app, known, FUNING, "rate", 9000)
    html = (
        login("yc_staff")
        .get("/dashboard/320900000000?sort=progress&dir=desc")
        .get_data(as_text=True)
    )
    table = child_table(html)
    assert table.rows[FUNING]["target"].text == "90%"
    assert table.order[0] == FUNING  # the only county with a target comes first
    assert len([c for c in table.order if c != "total"]) >= 9


def test_the_export_has_target_and_progress(app, login, known):
    set_target(app, known, XINGFU, "rate", 8000)
    response = login("fn_staff").get(f"/dashboard/{FUCHENG}/export.xlsx")
    rows = [
        list(r) for r in load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)
    ]
    header = rows[1]
    assert header[3:6] == ["目标", "完成进度", "进度排名"]
    by_code = {r[1]: r for r in rows[2:]}
    assert by_code[XINGFU][3:6] == ["80%", "93.8%", 1]
    assert by_code[XINSHENG][3:6] == [None, None, None]


# --- the demo ---------------------------------------------------------------------------------


def test_the_demo_sets_targets_for_yanchengs_counties_and_funings_townships(app, year):
    from portal.demo import seed_accounts, seed_targets

    with database(app) as s:
        seed_targets(seed_accounts())
        seed_targets(seed_accounts())  # idempotent
        counties = service.targets_of_children("320900000000", year)
        townships = service.targets_of_children(FUNING, year)
        assert len(counties) >= 9 and len(townships) >= 10
        assert all(9500 <= t.value <= 10000 and t.kind == "rate" for t in counties.values())
        assert s.scalar(select(db.func.count()).select_from(RegionTarget)) == len(counties) + len(
            townships
        )


def test_the_service_refuses_a_region_that_is_not_a_child_and_writes_nothing(app, known):
    from tests.helpers import account

    actor = account(app, "fc_supervisor")
    with app.app_context():
        result = service.set_targets(
            actor,
            FUCHENG,
            known,
            [service.Entry(XINGFU, "rate", "95"), service.Entry(WUTAN_COMMUNITY, "rate", "95")],
        )
        assert not result.ok and "不是本区划的下级区划" in result.errors[WUTAN_COMMUNITY]
        assert result.changed == [] and XINGFU not in result.errors
        db.session.rollback()
    assert targets(app, known) == {} and events(app) == []
