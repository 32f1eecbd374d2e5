"""The report forms as workbooks and pages (portal/reports/workbook.py, views.py), opened with
openpyxl: the layout of a Chinese statistical form, the print setup, the 合计 row, the detail
list masked per the user's rights (and audited), a form added as a file, a snapshot re-rendered."""

import io
import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.accounts.models import Grant, User
from portal.audit.details import Lookups, describe
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.reports import forms
from tests.factories import FULL_MOBILE, FUNING, make_id, person
from tests.factories.reports import FUCHENG, YANCHENG, build_report_world
from tests.helpers import database

YEAR = 2026


@pytest.fixture
def world(app):
    with database(app) as _:
        with app.test_request_context():
            made = build_report_world()
            db.session.commit()
    return made


def book_of(table, actor=None, detail=True):
    stream = io.BytesIO()
    forms.write_workbook(table, stream, actor=actor, detail=detail)
    return load_workbook(io.BytesIO(stream.getvalue()))


def cells(sheet) -> dict[str, object]:
    return {c.coordinate: c.value for row in sheet.iter_rows() for c in row if c.value is not None}


def figures(sheet, table) -> list[list]:
    """The 合计 row and the region rows as written (row 9 on), one list per row."""
    width = 2 + len(table.form.columns)
    last = 9 + len(table.rows)
    return [
        list(r) for r in sheet.iter_rows(min_row=9, max_row=last, max_col=width, values_only=True)
    ]


def test_the_form_sheet_is_laid_out_as_a_statistical_form(ctx, world):
    table = forms.compute("cleanup_summary", FUNING, YEAR)
    sheet = book_of(table).worksheets[0]
    found = cells(sheet)
    width = 2 + len(table.form.columns)  # 甲 乙 + 14 columns: A … P
    assert found["M1"] == "表    号：医保清查1表"
    assert found["M2"] == "制表机关：××省医疗保障局"
    assert found["M3"].startswith("批准文号：")
    assert found["A4"] == "阜宁县2026年度基本医疗保险参保情况清查工作汇总表"
    assert found["A5"] == "填报单位（盖章）：阜宁县" and found["D5"].startswith("填报日期：")
    assert found["O5"] == "计量单位：人"
    merges = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A4:P4", "M1:P1", "A6:A7", "B6:B7", "C6:C7", "D6:D7", "E6:G6", "H6:I6"} <= merges
    assert (found["E6"], found["E7"], found["F7"], found["G7"]) == (
        "已参保人数",
        "合计",
        "职工医保",
        "居民医保",
    )
    assert (found["H6"], found["H7"], found["I7"]) == ("身份信息错误", "发现", "已更正")
    code_row = [c.value for c in sheet[8]][:width]
    assert code_row == ["甲", "乙", *range(1, 15)]
    rows = figures(sheet, table)
    assert rows[0][0] == "合计" and [r[0] for r in rows[1:3]] == ["阜城街道", "吴滩街道"]
    assert rows[-1][0] == "本级"
    # 合计 equals the sum of the rows in every column with a figure; the blank one is "—".
    for index in range(2, width):
        column = [r[index] for r in rows]
        if column[0] == "—":
            assert set(column) == {"—"}
            continue
        assert column[0] == sum(column[1:]), index
    assert rows[1][2:5] == [10, 9, 5]
    foot = [v for k, v in found.items() if isinstance(v, str) and v.startswith("单位负责人")]
    assert foot and all(w in foot[0] for w in ("统计负责人", "填表人", "联系电话", "报出日期"))
    assert any(isinstance(v, str) and "第7栏" in v and "无法如实统计" in v for v in found.values())


def test_the_form_prints_on_a4_landscape_one_page_wide(ctx, world):
    table = forms.compute("not_enrolled", YANCHENG, YEAR)
    sheet = book_of(table).worksheets[0]
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert int(sheet.page_setup.fitToWidth) == 1 and int(sheet.page_setup.fitToHeight) == 0
    assert sheet.print_title_rows == "$6:$8"
    assert sheet.print_area.endswith(f"$A$1:$AD${sheet.max_row}")
    assert sheet.freeze_panes == "C9"


def test_every_balance_rule_holds_in_the_written_workbook(ctx, world):
    for region in (FUNING, YANCHENG, FUCHENG):
        for code in forms.FORMS:
            table = forms.compute(code, region, YEAR)
            rows = figures(book_of(table).worksheets[0], table)
            read = [
                forms.FormRow(
                    r[1] or "",
                    r[0],
                    {c.code: v for c, v in zip(table.form.columns, r[2:], strict=True) if v != "—"},
                )
                for r in rows
            ]
            again = forms.FormTable(code, region, table.region_name, YEAR, read[1:], read[0], None)
            assert forms.check(again) == [], (code, region)


def test_the_detail_list_is_masked_without_the_unmask_grant(app, world, login):
    response = login("fn_staff").get(f"/reports/{FUNING}/not_enrolled.xlsx?year={YEAR}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    detail = book.worksheets[1]
    assert detail.title == "未参保人员明细"
    rows = list(detail.iter_rows(min_row=3, values_only=True))
    assert len(rows) == len(world.uninsured) == 7
    numbers = {r[4] for r in rows}
    assert numbers.isdisjoint(world.uninsured) and all("*" in n for n in numbers)
    assert not any(r[9] and FULL_MOBILE.search(r[9]) for r in rows)
    assert {r[6] for r in rows} >= {"经济困难", "外出务工", "原因未登记", "未建档"}
    with database(app) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "report_form")
        ).one()
        assert event.action == "export" and event.region_code == FUNING
        assert event.detail["masked"] is True and event.detail["detail_rows"] == 7
        assert event.detail["form"] == "not_enrolled"
        # The audit log reads it in Chinese: the form by its title, the counts by their names.
        shown = dict(describe(event.detail, Lookups({}, {})))
        assert shown["报表"] == "不参加基本医疗保险人员情况表" and shown["明细人数"] == "7"
        assert shown["内容"] == "报表" and shown["号码脱敏"] == "是"


def test_the_detail_list_is_full_and_audited_with_the_unmask_grant(app, world, login):
    with database(app) as session:
        staff = session.scalar(select(User).where(User.username == "fn_staff"))
        session.add(Grant(user_id=staff.id, role="unmask", region_code=FUNING))
    client = login("fn_staff")
    # A link (GET) stays masked even for a holder of the grant; no purpose, no full numbers.
    masked = load_workbook(
        io.BytesIO(client.get(f"/reports/{FUNING}/not_enrolled.xlsx?year={YEAR}").data)
    )
    assert {r[4] for r in masked.worksheets[1].iter_rows(min_row=3, values_only=True)}.isdisjoint(
        world.uninsured
    )
    page = client.get(f"/reports/{FUNING}?year={YEAR}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post(
        f"/reports/{FUNING}/not_enrolled.xlsx?year={YEAR}", data={"csrf_token": token}
    )
    assert refused.status_code == 303
    assert "导出完整号码须填写用途" in client.get(refused.location).get_data(as_text=True)
    response = client.post(
        f"/reports/{FUNING}/not_enrolled.xlsx?year={YEAR}",
        data={"csrf_token": token, "purpose": "医保经办核对"},
    )
    rows = list(
        load_workbook(io.BytesIO(response.data))
        .worksheets[1]
        .iter_rows(min_row=3, values_only=True)
    )
    assert {r[4] for r in rows} == set(world.uninsured)
    assert any(r[9] == "13812345678" for r in rows)
    assert (
        "完整号码" in response.headers["Content-Disposition"]
        or "%E5%AE%8C%E6%95%B4" in response.headers["Content-Disposition"]
    )
    with database(app) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "report_form")
        ).all()[-1]
        assert event.detail["masked"] is False and "完整号码" in event.target_label
        assert event.detail["purpose"] == "医保经办核对"


def test_a_city_lists_the_detail_counts_per_county_instead_of_persons(ctx, world, user):
    table = forms.compute("not_enrolled", YANCHENG, YEAR)
    detail = book_of(table, actor=user("yc_staff")).worksheets[1]
    rows = list(detail.iter_rows(min_row=3, values_only=True))
    funing = next(r for r in rows if r[2] == FUNING)
    assert funing[1] == "阜宁县" and funing[3] == 7 and funing[4] == "明细由各县（市、区）报送"
    assert rows[-1][1] == "合计" and rows[-1][3] == 7


def test_a_snapshot_renders_the_same_form_without_the_detail(ctx, world, user):
    table = forms.compute("not_enrolled", FUNING, YEAR)
    frozen = forms.FormTable.from_snapshot(json.loads(json.dumps(table.to_snapshot())))
    live = book_of(table, actor=user("fn_staff"))
    again = book_of(frozen, actor=user("fn_staff"))
    assert cells(again.worksheets[0]) == cells(live.worksheets[0])
    assert len(again.worksheets) == 1 and len(live.worksheets) == 2


def test_the_page_shows_both_forms_their_checks_and_downloads(world, login):
    page = login("fn_staff").get(f"/reports/{FUNING}?year={YEAR}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "基本医疗保险参保情况清查工作汇总表" in text and "不参加基本医疗保险人员情况表" in text
    assert text.count("平衡关系核对通过") == 2
    assert f"/reports/{FUNING}/cleanup_summary.xlsx?year={YEAR}" in text
    # 合计 first under the code row, as in the workbook.
    assert re.search(
        r'data-form="cleanup_summary".*?<tr class="codes"><th>甲</th><th>乙</th><th>1</th>'
        r'.*?<tbody>\s*<tr class="total" data-region="total">\s*<th scope="row">合计</th>',
        text,
        re.S,
    )


def test_a_region_outside_the_scope_is_not_found(world, login):
    client = login("fn_staff")
    assert client.get(f"/reports/320902000000?year={YEAR}").status_code == 404
    assert client.get(f"/reports/320902000000/cleanup_summary.xlsx?year={YEAR}").status_code == 404
    assert client.get(f"/reports/{FUNING}/nothing.xlsx?year={YEAR}").status_code == 404


PROVINCE_FORM = """
code = "gov_paid"
order = 5
title = "政府资助参保人员参保情况表"
table_number = "苏医保3表"
authority = "江苏省医疗保障局"
approval = "苏医保函〔2026〕1号"

[[columns]]
code = "c1"
label = "政府资助人员"
source = "government_paid"

[[columns]]
code = "c2"
group = "其中"
label = "已参保"
source = "government_paid_insured"

[[columns]]
code = "c3"
group = "其中"
label = "未参保"
source = "government_paid - government_paid_insured"

[[rules]]
check = "c1 = c2 + c3"
message = "政府资助人员应等于已参保与未参保之和"
"""


def test_a_form_dropped_into_the_configured_directory_shows_up_and_renders(
    app, world, login, tmp_path, monkeypatch
):
    (tmp_path / "gov_paid.toml").write_text(PROVINCE_FORM, encoding="utf-8")
    monkeypatch.setitem(app.config, "REPORT_FORMS_DIR", str(tmp_path))
    client = login("fn_staff")
    text = client.get(f"/reports/{FUNING}?year={YEAR}").get_data(as_text=True)
    assert "政府资助参保人员参保情况表" in text and text.count("平衡关系核对通过") == 3
    response = client.get(f"/reports/{FUNING}/gov_paid.xlsx?year={YEAR}")
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert sheet["A4"].value == "阜宁县2026年度政府资助参保人员参保情况表"
    assert sheet["A9"].value == "合计" and sheet["D6"].value == "其中"
    with app.test_request_context():
        assert list(forms.FORMS)[-1] == "gov_paid"


def test_names_in_the_detail_list_are_escaped_and_never_run_as_formulas(app, world, login):
    with database(app):
        with app.test_request_context():
            person(make_id(990, birth="19800101"), FUCHENG[:9] + "001", name="=1+1<&>")
            db.session.flush()
    response = login("fn_staff").get(f"/reports/{FUCHENG}/not_enrolled.xlsx?year={YEAR}")
    rows = list(
        load_workbook(io.BytesIO(response.data))
        .worksheets[1]
        .iter_rows(min_row=3, values_only=True)
    )
    assert "'=1+1<&>" in {r[3] for r in rows}
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert {r[6] for r in rows if r[3] == "'=1+1<&>"} == {"未建档"}


def test_a_broken_definition_file_is_named_and_leaves_the_other_forms_usable(
    app, world, login, tmp_path, monkeypatch
):
    (tmp_path / "gov_paid.toml").write_text(PROVINCE_FORM, encoding="utf-8")
    (tmp_path / "broken.toml").write_text(
        PROVINCE_FORM.replace('"gov_paid"', '"broken"').replace(
            'source = "government_paid"', 'source = "__import__(1)"'
        ),
        encoding="utf-8",
    )
    (tmp_path / "again.json").write_text(
        json.dumps(forms.FORMS["cleanup_summary"].as_dict(), ensure_ascii=False), encoding="utf-8"
    )
    monkeypatch.setitem(app.config, "REPORT_FORMS_DIR", str(tmp_path))
    page = login("fn_staff").get(f"/reports/{FUNING}?year={YEAR}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "报表定义 broken.toml：第 1 栏（政府资助人员）的来源无法识别" in text
    assert "报表定义 again.json：报表代码 cleanup_summary 与内置报表重复" in text
    assert text.count("平衡关系核对通过") == 3  # the two built-in forms and gov_paid
