"""A plain table written row by row (spreadsheets.write_plain_table) reads back as the same table
written cell by cell by openpyxl (write_table): the same values in the same cells, read by
openpyxl and by python-calamine, with the same header, widths and formula neutralisation."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from portal.spreadsheets import write_plain_table, write_table

HEADERS = ["姓名", "公民身份号码", "年龄", "备注", "是否"]
TRICKY = ["张三", "a & b", "<tag>", " 前后空格 ", "=1+1", "+86", "-", "@x", "\tx", "", "x" * 300,
          "幸福路 12 号", "'quoted", "1 < 2 > 0", "\n换行", "emoji 😀"]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.sampled_from(TRICKY),
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
)


def _both(tmp_path, rows, widths=None):
    general, plain = tmp_path / "general.xlsx", tmp_path / "plain.xlsx"
    assert write_table(general, "人员档案", HEADERS, rows, widths) == len(rows)
    assert write_plain_table(plain, "人员档案", HEADERS, iter(rows), widths) == len(rows)
    return general, plain


def _openpyxl_values(path):
    sheet = load_workbook(path, read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _calamine_values(path):
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(VALUES, min_size=0, max_size=len(HEADERS)), max_size=12))
def test_the_plain_table_reads_back_as_openpyxl_writes_it(tmp_path_factory, rows):
    tmp_path = tmp_path_factory.mktemp("sheets")
    general, plain = _both(tmp_path, rows)
    assert _openpyxl_values(plain) == _openpyxl_values(general)
    assert _calamine_values(plain) == _calamine_values(general)


def test_header_widths_and_neutralised_formulas_are_kept(tmp_path):
    rows = [
        ["=cmd|' /C calc'!A0", "3209**********123X", 46, None, True],
        ["李四", "@SUM(1)", 7, "", False],
    ]
    _, plain = _both(tmp_path, rows, widths={1: 10, 2: 21})
    book = load_workbook(plain)
    sheet = book.active
    assert sheet.title == "人员档案"
    assert [c.value for c in sheet[1]] == HEADERS and all(c.font.bold for c in sheet[1])
    assert (sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width) == (10, 21)
    assert [c.value for c in sheet[2]] == [
        "'=cmd|' /C calc'!A0",
        "3209**********123X",
        46,
        None,
        True,
    ]
    assert [c.value for c in sheet[3]][:3] == ["李四", "'@SUM(1)", 7]


def test_characters_xml_cannot_hold_are_left_out_not_fatal(tmp_path):
    path = tmp_path / "plain.xlsx"
    assert write_plain_table(path, "表", ["名"], [["响\x07铃\x00"]]) == 1
    assert _openpyxl_values(path) == [["名"], ["响铃"]]


def test_a_value_of_another_kind_is_refused_and_leaves_no_file(tmp_path):
    path = tmp_path / "plain.xlsx"
    with pytest.raises(TypeError):
        write_plain_table(path, "表", ["日期"], [[date(2026, 1, 1)]])
    assert list(tmp_path.iterdir()) == []
