"""Reading hand-made lists: header below titles, synonyms, Excel row numbers, raw values kept."""

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from portal.imports.columns import (
    FIELDS,
    HOUSEHOLD,
    INSURED,
    KEY_POPULATION,
    LAPSED,
    LIST_KINDS,
    map_columns,
    match_header,
    missing_message,
    normalize_header,
)
from portal.imports.reading import MissingColumns, ReadError, open_table

pytestmark = pytest.mark.no_db

HEADER = [
    "序号",
    "姓 名",
    "公民身份号码\n（18位）",
    "性别",
    "出生日期",
    "手机号码",
    "村（社区）代码",
    "现住址",
]
FULL_WIDTH_ID = "３２０９２３１９９００１０１１２３４"


def household_workbook(path: Path) -> Path:
    """A register as offices type it: merged title, subtitle, blank rows, total and footer."""
    wb = Workbook()
    ws = wb.active
    ws.title = "户籍人口"
    ws["A1"] = "阜宁县阜城街道户籍人口花名册"
    ws.merge_cells("A1:H1")
    ws["A2"] = "填报单位：阜城街道办事处"
    ws["F2"] = "填报日期：2026年11月"
    ws.append([])  # row 3 stays blank
    ws.append(HEADER)  # row 4
    ws.append(
        [
            1,
            "张三",
            "32092319900101123x",
            "男",
            dt.date(1990, 1, 1),
            13800000000,
            "320923001001",
            "阜城街道1号",
        ]
    )  # row 5
    ws.append(
        [2, "李四", 320923199001011234, "女", "1990.01.01", "13900000000", "320923001001", ""]
    )
    ws.append([])  # row 7 blank
    ws.append([3, "王五", FULL_WIDTH_ID, "男", None, None, "阜城社区", None])  # row 8
    ws.append(["合  计", None, None, None, None, None, None, "3人"])  # row 9
    ws.append([])
    ws.append(["填表人：赵六", None, None, "审核人：钱七"])  # row 11
    wb.save(path)
    return path


def rows_of(table):
    return [(r.row_number, r.values) for r in table.rows()]


# --- xlsx ----------------------------------------------------------------------------------


def test_header_below_titles_is_found_and_rows_keep_excel_numbers_and_raw_values(tmp_path):
    table = open_table(household_workbook(tmp_path / "h.xlsx"), "xlsx", HOUSEHOLD)
    assert table.header_row == 4 and table.header_rows == (4,)
    assert table.sheet_name == "户籍人口" and table.reader == "calamine"
    assert table.column_map.fields == {
        "name": 1,
        "id_number": 2,
        "sex": 3,
        "birth_date": 4,
        "phone": 5,
        "region": 6,
        "address": 7,
    }
    assert table.headers[2] == "公民身份号码 （18位）"
    rows = list(table.rows())
    assert [r.row_number for r in rows] == [5, 6, 8]
    first, second, third = rows
    assert first.values["id_number"] == "32092319900101123x"  # lowercase x kept
    assert first.values["birth_date"] == dt.date(1990, 1, 1)
    assert first.values["phone"] == 13800000000.0 and isinstance(first.values["phone"], float)
    assert first.raw[0] == 1.0  # every .xlsx number is a float
    # An ID typed into a numeric cell arrives as the float Excel kept, never repaired.
    assert isinstance(second.values["id_number"], float)
    assert abs(second.values["id_number"] - 320923199001011234) < 1000
    assert second.values["birth_date"] == "1990.01.01"
    assert second.values["address"] == ""
    assert third.values["id_number"] == FULL_WIDTH_ID
    assert third.values["phone"] == "" and third.values["region"] == "阜城社区"
    assert len(third.raw) == len(HEADER)
    assert [(s.row_number, s.reason) for s in table.skipped] == [(9, "total"), (11, "footer")]


def test_rows_can_be_read_twice(tmp_path):
    table = open_table(household_workbook(tmp_path / "h.xlsx"), "xlsx", HOUSEHOLD)
    assert rows_of(table) == rows_of(table)


def test_a_table_starting_further_right_keeps_absolute_column_indexes(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["C3"] = "姓名"
    ws["D3"] = "身份证号"
    ws["E3"] = "所属社区"
    ws["C4"], ws["D4"], ws["E4"] = "张三", "32092319900101123X", "320923001001"
    wb.save(tmp_path / "right.xlsx")
    table = open_table(tmp_path / "right.xlsx", "xlsx", HOUSEHOLD)
    assert table.header_row == 3
    assert table.column_map.fields == {"name": 2, "id_number": 3, "region": 4}
    (row,) = table.rows()
    assert row.row_number == 4 and row.raw[:3] == ["", "", "张三"]


def test_two_row_header_and_vertically_merged_cells(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["重点人群名单"])
    ws.append(["序号", "姓名", "身份证号", "居住信息", None, "人员类别", "联系方式", None])  # 2
    ws.append([None, None, None, "村（社区）", "现住址", None, "手机", "固话"])  # row 3
    for cells in ("A1:H1", "B2:B3", "D2:E2", "G2:H2"):
        ws.merge_cells(cells)
    ws.append([1, "张三", "32092319900101123X", "阜城社区", "1号", "低保对象", "13800000000"])  # 4
    ws.append([2, "张小三", "320923201001011230", None, "1号", "低保对象"])  # 5
    ws.append([3, "张老三", "320923195001011231", None, "", "特困人员"])  # 6
    ws.append([4, "李四", "320923195001011248", "新村社区", "2号", "特困人员"])  # 7
    ws.merge_cells("D4:D6")
    ws.merge_cells("E4:E5")
    wb.save(tmp_path / "k.xlsx")
    table = open_table(tmp_path / "k.xlsx", "xlsx", KEY_POPULATION)
    assert table.header_row == 2 and table.header_rows == (2, 3)
    assert table.column_map.fields == {
        "name": 1,
        "id_number": 2,
        "region": 3,
        "address": 4,
        "category": 5,
        "phone": 6,  # 联系方式 is itself a phone header; the 手机 column under it
    }
    assert table.headers[3:8] == ("村（社区）", "现住址", "人员类别", "联系方式", "固话")
    rows = list(table.rows())
    assert [r.row_number for r in rows] == [4, 5, 6, 7]
    assert [r.values["region"] for r in rows] == ["阜城社区", "阜城社区", "阜城社区", "新村社区"]
    assert [r.values["address"] for r in rows] == ["1号", "1号", "", "2号"]
    assert rows[1].raw[3] == ""  # raw keeps the cell as read
    plain = open_table(tmp_path / "k.xlsx", "xlsx", KEY_POPULATION, fill_merged=False)
    assert [r.values["region"] for r in plain.rows()] == ["阜城社区", "", "", "新村社区"]


def test_repeated_header_rows_from_pasted_sheets_are_skipped(tmp_path):
    wb = Workbook()
    ws = wb.active
    for _ in range(2):
        ws.append(["姓名", "身份证号", "所属社区"])
        ws.append(["张三", "32092319900101123X", "320923001001"])
    wb.save(tmp_path / "p.xlsx")
    table = open_table(tmp_path / "p.xlsx", "xlsx", HOUSEHOLD)
    assert [r.row_number for r in table.rows()] == [2, 4]
    assert [(s.row_number, s.reason) for s in table.skipped] == [(3, "header")]


def test_the_first_sheet_with_a_matching_header_is_used_unless_one_is_named(tmp_path):
    wb = Workbook()
    wb.active.title = "填表说明"
    wb.active["A1"] = "请按模板填写，身份证号请设为文本格式。"
    hidden = wb.create_sheet("旧名单")
    hidden.append(["姓名", "身份证号", "所属社区"])
    hidden.append(["旧", "32092319900101123X", "1"])
    hidden.sheet_state = "hidden"
    current = wb.create_sheet("新名单")
    current.append(["姓名", "身份证号", "所属社区"])
    current.append(["新", "32092319900101123X", "1"])
    wb.save(tmp_path / "m.xlsx")
    table = open_table(tmp_path / "m.xlsx", "xlsx", HOUSEHOLD)
    assert table.sheet_name == "新名单"
    assert table.sheet_names == ("填表说明", "旧名单", "新名单")
    assert [r.values["name"] for r in table.rows()] == ["新"]
    assert open_table(tmp_path / "m.xlsx", "xlsx", HOUSEHOLD, sheet="旧名单").sheet_name == "旧名单"
    assert open_table(tmp_path / "m.xlsx", "xlsx", HOUSEHOLD, sheet=1).sheet_name == "旧名单"
    with pytest.raises(ReadError, match="没有工作表“花名册”"):
        open_table(tmp_path / "m.xlsx", "xlsx", HOUSEHOLD, sheet="花名册")


def test_missing_required_column_names_it_and_its_synonyms(tmp_path):
    wb = Workbook()
    wb.active.append(["花名册"])
    wb.active.append(["姓名", "身份证号", "性别"])
    wb.save(tmp_path / "x.xlsx")
    with pytest.raises(MissingColumns) as caught:
        open_table(tmp_path / "x.xlsx", "xlsx", HOUSEHOLD)
    exc = caught.value
    assert exc.missing == ("region",) and exc.header_row == 2 and exc.sheet_name == "Sheet"
    assert "第 2 行找到了表头" in exc.message
    assert "所属社区（村）" in exc.message and "村（社区）" in exc.message
    assert "社区代码" in exc.message
    assert "公民身份号码" not in exc.message  # only what is missing


def test_a_sheet_without_any_header_says_so(tmp_path):
    wb = Workbook()
    wb.active.append(["一", "二"])
    wb.active.append([1, 2])
    wb.save(tmp_path / "x.xlsx")
    with pytest.raises(MissingColumns, match="没有找到表头") as caught:
        open_table(tmp_path / "x.xlsx", "xlsx", HOUSEHOLD)
    assert "身份证号" in caught.value.message and caught.value.header_row is None


def test_error_cells_and_unsaved_formulas_read_as_empty(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "所属社区"])
    ws.append(["张三", "=VLOOKUP(A2,Sheet2!A:B,2,0)", "#N/A"])
    ws["C2"].data_type = "e"
    wb.save(tmp_path / "e.xlsx")
    (row,) = open_table(tmp_path / "e.xlsx", "xlsx", HOUSEHOLD).rows()
    assert row.values == {"name": "张三", "id_number": "", "region": ""}


def test_an_xlsx_calamine_rejects_is_read_with_openpyxl(tmp_path):
    # A workbook with an Excel 4.0 macro sheet: calamine refuses the whole file.
    wb = Workbook()
    wb.active.title = "名单"
    wb.active.append(["姓名", "身份证号", "所属社区"])
    wb.active.append(["张三", "32092319900101123X", "320923001001"])
    wb.active.append([])
    wb.active.append(["李四", "320923199001011234", dt.date(2020, 1, 2)])
    wb.create_sheet("宏")["A1"] = 1
    wb.save(tmp_path / "plain.xlsx")
    path = tmp_path / "macro.xlsx"
    with zipfile.ZipFile(tmp_path / "plain.xlsx") as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b'officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet2',
                    b'office/2006/relationships/xlMacrosheet" Target="/xl/worksheets/sheet2',
                )
            zout.writestr(info, data)
    table = open_table(path, "xlsx", HOUSEHOLD)
    assert table.reader == "openpyxl" and table.sheet_name == "名单"
    assert rows_of(table) == [
        (2, {"name": "张三", "id_number": "32092319900101123X", "region": "320923001001"}),
        (4, {"name": "李四", "id_number": "320923199001011234", "region": dt.date(2020, 1, 2)}),
    ]
    table.close()


def test_a_real_xlsx_stored_under_another_suffix_is_read_by_content(tmp_path):
    household_workbook(tmp_path / "h.xlsx").rename(tmp_path / "batch-1.xls")
    table = open_table(tmp_path / "batch-1.xls", "xlsx", HOUSEHOLD)
    assert [r.row_number for r in table.rows()] == [5, 6, 8]


def test_far_apart_cells_are_a_read_error_not_a_crash(tmp_path):
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "所属社区"])
    wb.active["XFD1048576"] = "x"
    wb.save(tmp_path / "far.xlsx")
    with pytest.raises(ReadError, match="数据范围过大"):
        open_table(tmp_path / "far.xlsx", "xlsx", HOUSEHOLD)


def test_a_corrupt_workbook_is_a_read_error(tmp_path):
    path = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook><sheets><sheet")
    with pytest.raises(ReadError, match="无法读取"):
        open_table(path, "xlsx", HOUSEHOLD)


# --- xls -----------------------------------------------------------------------------------


def test_an_excel_97_workbook_is_read_with_calamine(tmp_path):
    xlwt = pytest.importorskip("xlwt", reason="xlwt (test extra) writes the .xls fixture")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("户籍人口")
    sheet.write_merge(0, 0, 0, 4, "户籍人口花名册")
    for col, text in enumerate(["序号", "姓名", "身份证号码", "出生日期", "村（社区）"]):
        sheet.write(2, col, text)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    sheet.write(3, 0, 1)
    sheet.write(3, 1, "张三")
    sheet.write(3, 2, "32092319900101123x")
    sheet.write(3, 3, dt.date(1990, 1, 1), date_style)
    sheet.write(3, 4, "320923001001")
    sheet.write(5, 0, 2)
    sheet.write(5, 1, "李四")
    sheet.write(5, 2, 320923199001011234)
    sheet.write(5, 4, 320923001001)
    sheet.write(6, 0, "合计")
    path = tmp_path / "h.xls"
    book.save(str(path))
    table = open_table(path, "xls", HOUSEHOLD)
    assert table.header_row == 3 and table.file_kind == "xls"
    first, second = table.rows()
    assert (first.row_number, second.row_number) == (4, 6)
    assert first.raw[0] == 1 and isinstance(first.raw[0], int)  # .xls keeps integers
    assert first.values["id_number"] == "32092319900101123x"
    assert first.values["birth_date"] == dt.date(1990, 1, 1)
    assert isinstance(second.values["id_number"], float)
    assert second.values["region"] == 320923001001
    assert [s.reason for s in table.skipped] == ["total"]


# --- csv -----------------------------------------------------------------------------------


def _csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


CSV_TEXT = (
    "户籍人口花名册,,,\r\n"
    "\r\n"
    "序号,姓名,公民身份号码,村（社区）\r\n"
    "1,张三,320923199001011234,0013\r\n"
    '2,"李,四","32092319900101123x","阜城\r\n社区"\r\n'
    "\r\n"
    "3,王五,320923195001011231,320923001001\r\n"
    "合计,3人,,\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030", "utf-16"])
def test_csv_in_the_usual_encodings_reads_every_value_as_text(tmp_path, encoding):
    table = open_table(_csv(tmp_path / "h.csv", CSV_TEXT, encoding), "csv", HOUSEHOLD)
    assert table.header_row == 3 and table.reader == "csv" and table.delimiter == ","
    assert table.encoding == {"utf-8": "utf-8-sig", "gbk": "gb18030"}.get(encoding, encoding)
    rows = list(table.rows())
    assert [r.row_number for r in rows] == [4, 5, 7]  # records, as Excel shows them
    assert rows[0].values == {"name": "张三", "id_number": "320923199001011234", "region": "0013"}
    assert rows[1].values["name"] == "李,四" and rows[1].values["region"] == "阜城\r\n社区"
    assert rows[1].values["id_number"] == "32092319900101123x"
    assert all(isinstance(v, str) for r in rows for v in r.raw)
    assert [s.reason for s in table.skipped] == ["total"]


def test_tab_separated_text_is_read(tmp_path):
    text = "姓名\t身份证号\t所属社区\n张三\t32092319900101123X\t320923001001\n"
    table = open_table(_csv(tmp_path / "t.csv", text, "gbk"), "csv", HOUSEHOLD)
    assert table.delimiter == "\t"
    assert [r.values["region"] for r in table.rows()] == ["320923001001"]


def test_csv_missing_a_column_and_undecodable_csv(tmp_path):
    with pytest.raises(MissingColumns, match="所属社区"):
        open_table(_csv(tmp_path / "m.csv", "姓名,身份证号\n张三,1\n", "utf-8"), "csv", HOUSEHOLD)
    path = tmp_path / "bad.csv"
    path.write_bytes("姓名,身份证号,所属社区\n".encode() + b"\xff\xfe\xfa\x80\x81\n")
    with pytest.raises(ReadError, match="编码"):
        open_table(path, "csv", HOUSEHOLD)


def test_a_broken_csv_row_is_a_read_error_with_its_number(tmp_path):
    text = "姓名,身份证号,所属社区\n张三,1,2\n李四,1," + "长" * 200_000 + "\n"
    path = _csv(tmp_path / "n.csv", text, "utf-8")
    with pytest.raises(ReadError, match="第 3 行"):
        list(open_table(path, "csv", HOUSEHOLD).rows())
    path = _csv(tmp_path / "n.csv", text.replace("\n李四", "\n" * 40 + "李四"), "utf-8")
    table = open_table(path, "csv", HOUSEHOLD)
    with pytest.raises(ReadError, match="第 42 行"):
        list(table.rows())


# --- columns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("身份证号", "id_number"),
        ("公民身份号码", "id_number"),
        ("身份证号码", "id_number"),
        ("证件号码", "id_number"),
        ("*身份证号：", "id_number"),
        ("身份证号（18位）", "id_number"),
        ("身份证号\n(必填)", "id_number"),
        ("姓　名", "name"),
        ("联系电话", "phone"),
        ("手机号码", "phone"),
        ("电话", "phone"),
        ("所属社区", "region"),
        ("村（社区）", "region"),
        ("村(社区)", "region"),
        ("村【社区】代码", "region"),
        ("村（社区）代码", "region"),
        ("社区代码", "region"),
        ("险种", "scheme"),
        ("参保类型", "scheme"),
        ("参保地", "insured_region"),
        ("参保状态", "status"),
        ("人员类别", "category"),
        ("停保日期", "stop_date"),
        ("断缴日期", "stop_date"),
        ("末次缴费年月", "last_paid_month"),
        ("SFZH", "id_number"),
    ],
)
def test_header_synonyms(header, field):
    assert match_header(header)[0] == field


@pytest.mark.parametrize(
    "header", ["户主姓名", "户主身份证号", "与户主关系", "备注", "", None, 1.0]
)
def test_headers_are_matched_whole_never_by_substring(header):
    assert match_header(header) is None


def test_normalisation():
    assert normalize_header(" 村（社区）\n代码* ") == "村(社区)代码"
    assert normalize_header("ＩＤ") == "id"
    assert normalize_header("\ufeff姓名") == "姓名"


def test_every_synonym_belongs_to_one_field_and_kinds_use_known_fields():
    seen = {}
    for f in FIELDS:
        for synonym in f.synonyms:
            key = normalize_header(synonym)
            assert seen.setdefault(key, f.name) == f.name, synonym
    names = {f.name for f in FIELDS}
    for kind in LIST_KINDS.values():
        assert set(kind.fields) <= names
        assert "id_number" in kind.required
        # Lists about persons already on file are keyed by the ID number alone; lists that
        # create persons need their names.
        if kind.code in ("household", "resident"):
            assert "name" in kind.required


def test_map_columns_reports_unused_and_duplicate_columns():
    cmap = map_columns(
        [
            "序号",
            "姓名",
            "身份证号",
            "户籍地址",
            "居住地址",
            "户主姓名",
            None,
            "村（社区）",
            "姓名",
        ],
        HOUSEHOLD,
    )
    assert cmap.complete
    assert cmap.fields == {"name": 1, "id_number": 2, "address": 4, "region": 7}
    assert cmap.unused == ((5, "户主姓名"),)  # 序号 is ignored quietly
    assert cmap.duplicates == ((3, "户籍地址", "address"), (8, "姓名", "name"))


def test_fixed_values_make_a_column_optional():
    assert map_columns(["姓名", "身份证号"], KEY_POPULATION).missing == ("category",)
    orphans = KEY_POPULATION.with_fixed("category", "orphan")
    assert map_columns(["姓名", "身份证号"], orphans).complete
    assert orphans.fixed_values == {"category": "orphan"}
    assert map_columns(["姓名", "身份证号"], INSURED.with_fixed("scheme", "resident")).complete
    with pytest.raises(ValueError):
        KEY_POPULATION.with_fixed("category", "nobody")
    with pytest.raises(ValueError):
        HOUSEHOLD.with_fixed("region", "320923001001")


def test_either_of_two_columns_satisfies_a_lapsed_list():
    assert map_columns(["姓名", "身份证号", "末次缴费年月"], LAPSED).complete
    assert map_columns(["姓名", "身份证号", "断缴日期"], LAPSED).complete
    cmap = map_columns(["姓名", "身份证号"], LAPSED)
    assert cmap.missing_any == (("stop_date", "last_paid_month"),)
    message = missing_message(LAPSED, cmap.missing, cmap.missing_any)
    assert "停保日期" in message and "末次缴费年月" in message and "至少需要其中一列" in message


def test_a_csv_line_too_long_to_read_whole_is_refused(tmp_path):
    text = "姓名,身份证号,所属社区\n" + "长" * (1024 * 1024 + 10)
    with pytest.raises(ReadError, match="第 2 行过长"):
        open_table(_csv(tmp_path / "long.csv", text, "utf-8"), "csv", HOUSEHOLD)
