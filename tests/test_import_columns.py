"""Columns by meaning: header variants, ambiguity, two-row headers, remembered mappings, the
error workbook's formats and values our own export neutralised."""

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from portal.imports.columns import (
    FIELD_BY_NAME,
    HOUSEHOLD,
    INSURED,
    KEY_POPULATION,
    LAPSED,
    LIST_KINDS,
    PREFIXES,
    RESIDENT,
    SUFFIXES,
    header_signature,
    map_columns,
    match_header,
)
from portal.imports.reading import MissingColumns, open_table
from portal.spreadsheets import neutralize, write_table

# Every known column name of every list kind, with its field.
KNOWN = sorted(
    {
        (name, synonym)
        for kind in LIST_KINDS.values()
        for name in kind.fields
        for synonym in FIELD_BY_NAME[name].synonyms
    }
)
SPACES = [" ", "\u3000", "\n", "\r\n", "\t", "\u00a0"]
NOTE_TEXT = st.text(alphabet="0123456789位数字手机固话选填必填注仅限格式如：-/", max_size=6)


@st.composite
def variants(draw):
    """(header as an office might write it, the field it must be read as)."""
    field, synonym = draw(st.sampled_from(KNOWN))
    text, meaning = synonym, field
    if not synonym.isascii():
        # Suffixes follow the name and must suit its field; prefixes stand before it, the one
        # nearest the name first, each giving the meaning it gives (户籍 + 社区: hukou_region).
        for _ in range(draw(st.integers(0, 2))):
            allowed = sorted(s for s, fields in SUFFIXES.items() if field in fields)
            if allowed:
                text += draw(st.sampled_from(allowed))
        for _ in range(draw(st.integers(0, 2))):
            allowed = sorted(p for p, rule in PREFIXES.items() if meaning in rule)
            if allowed:
                prefix = draw(st.sampled_from(allowed))
                text, meaning = prefix + text, PREFIXES[prefix][meaning]
    else:
        text = draw(st.sampled_from([text, text.upper()]))
    if draw(st.booleans()):  # a note in brackets, full- or half-width, before or after
        opening, closing = draw(
            st.sampled_from([("(", ")"), ("（", "）"), ("【", "】"), ("[", "]")])
        )
        note = opening + draw(NOTE_TEXT) + closing
        text = text + note if draw(st.booleans()) else note + text
    if draw(st.booleans()):
        text = draw(st.sampled_from(["*", "※", ""])) + text + draw(st.sampled_from(["：", ":", ""]))
    for _ in range(draw(st.integers(0, 3))):  # spaces and line breaks anywhere inside
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(SPACES)) + text[at:]
    return text, meaning


@settings(max_examples=1500, deadline=None)
@given(variants())
def test_every_variant_of_every_known_name_is_read_as_its_field(case):
    header, meaning = case
    hit = match_header(header)
    assert hit is not None and hit.field == meaning, (header, meaning, hit)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("所属社区代码", "region"),
        ("所在社区名称", "region"),
        ("现居住社区", "region"),
        ("所在村（社区）名称", "region"),
        ("户籍社区", "hukou_region"),
        ("户籍所在社区名称", "hukou_region"),
        ("户籍地区划代码", "hukou_region"),
        ("参保区划代码", "insured_region"),
        ("参保人身份证号码", "id_number"),
        ("身份证号码(18位)", "id_number"),
        ("身份证号码（18位）（必填）", "id_number"),
        ("联系电话（手机）", "phone"),
        ("（必填）姓名", "name"),
        ("本人手机号码", "phone"),
        ("性别代码", "sex"),
        ("险种名称", "scheme"),
        ("参保状态名称", "status"),
        ("所在单位名称", "employer"),
        ("公民身份\n号码", "id_number"),
        ("所 属 社 区", "region"),
        ("户籍地", "hukou_region"),
        ("参保地", "insured_region"),
    ],
)
def test_common_variants(header, field):
    assert match_header(header).field == field


@pytest.mark.parametrize(
    "header",
    [
        "所在网格",  # a grid is not a community
        "网格",
        "户主姓名",  # another person
        "户主身份证号码",
        "联系人电话",
        "紧急联系人手机号码",
        "与户主关系",
        "单位地址",  # the employer's, not the person's
        "出生地",  # a place, not the birth date
        "证件类型",
        "户籍状态",  # the register's state, not the insured status
        "居住地",  # neither the registered nor the insured place
        "户号",
        "姓名身份证号",  # two names in one cell
        "户籍地/居住地",
        "兴阜社区",  # data, not a header
        "新盛居委会",
        "13812345678",
        "张三",
    ],
)
def test_unrelated_or_ambiguous_headers_are_not_mapped(header):
    assert match_header(header) is None


def test_a_header_that_reads_as_two_fields_is_left_for_the_mapping_step(monkeypatch):
    """Were 户 and 籍 prefixes of their own, 户籍社区 could be the community (户 + 籍 + 社区) or
    the registered place (户籍 + 社区): equally long names, two fields, no guess."""
    from portal.imports import columns

    rules = {**columns._PREFIX_RULES, "户": {"region": "region"}, "籍": {"region": "region"}}
    monkeypatch.setattr(columns, "_PREFIX_RULES", rules)
    for cached in (columns._match_key, columns._through_prefixes):
        cached.cache_clear()
    try:
        assert match_header("户籍社区") is None
        cmap = map_columns(["姓名", "身份证号", "户籍社区"], HOUSEHOLD)
        assert cmap.missing == ("region",) and cmap.unused == ((2, "户籍社区"),)
    finally:
        monkeypatch.undo()
        for cached in (columns._match_key, columns._through_prefixes):
            cached.cache_clear()
    assert match_header("户籍社区").field == "hukou_region"


def test_insured_registered_and_residence_places_are_never_confused():
    header = ["姓名", "身份证号", "参保地", "户籍地", "居住地", "所在社区", "参保险种"]
    insured = map_columns(header, INSURED)
    assert insured.fields == {"name": 0, "id_number": 1, "insured_region": 2, "region": 5,
                              "scheme": 6}  # fmt: skip
    resident = map_columns(header, RESIDENT)
    assert resident.fields == {"name": 0, "id_number": 1, "hukou_region": 3, "region": 5}
    assert (4, "居住地") in resident.unused


def test_an_exact_header_beats_an_affixed_one_and_one_column_per_field():
    cmap = map_columns(["姓名", "身份证号", "现所在社区", "所属社区", "社区名称"], HOUSEHOLD)
    assert cmap.fields["region"] == 3  # exact
    assert [d[0] for d in cmap.duplicates] == [2, 4]
    # Two affixed columns for one field: the longer known name, then the one further left.
    cmap = map_columns(["姓名", "身份证号", "所在社区代码", "所在村（社区）名称"], HOUSEHOLD)
    assert cmap.fields["region"] == 3
    assert cmap.duplicates == ((2, "所在社区代码", "region"),)


def _xlsx(path: Path, rows, merges=()) -> Path:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    for cells in merges:
        ws.merge_cells(cells)
    wb.save(path)
    return path


ID1 = "32092319900101123X"


def test_a_two_row_merged_header_of_groups(tmp_path):
    """户籍信息 and 居住信息 each merged over 社区 | 地址; 姓名 and 身份证号 merged down."""
    path = _xlsx(
        tmp_path / "r.xlsx",
        [
            ["常住人口登记表"],
            ["序号", "姓名", "身份证号", "户籍信息", None, "居住信息", None],
            [None, None, None, "社区", "地址", "社区", "地址"],
            [1, "张三", ID1, "320923002001", "吴滩1号", "320923001001", "兴阜2号"],
        ],
        merges=("A1:G1", "A2:A3", "B2:B3", "C2:C3", "D2:E2", "F2:G2"),
    )
    table = open_table(path, "xlsx", RESIDENT)
    assert table.header_rows == (2, 3)
    assert table.column_map.fields == {
        "name": 1,
        "id_number": 2,
        "hukou_region": 3,
        "region": 5,
        "address": 6,
    }
    assert table.headers[3] == "户籍社区"
    (row,) = table.rows()
    assert row.values["region"] == "320923001001"
    assert row.values["address"] == "兴阜2号"


def test_a_header_split_over_two_rows(tmp_path):
    """The second row holds the rest of the names (身份证 over 号码), a CSV without merges."""
    path = tmp_path / "s.csv"
    path.write_text(
        "姓名,身份证,所属,联系\n,号码,社区,电话\n张三," + ID1 + ",320923001001,13800000000\n",
        encoding="utf-8",
    )
    table = open_table(path, "csv", HOUSEHOLD)
    assert table.header_rows == (1, 2)
    assert table.column_map.fields == {"name": 0, "id_number": 1, "region": 2, "phone": 3}


def test_a_refusal_says_which_row_and_cells_the_mapping_step_offers(tmp_path):
    path = _xlsx(
        tmp_path / "g.xlsx",
        [["标题"], ["姓名", "身份证号", "所在网格"], ["张三", ID1, "兴阜网格"]],
    )
    with pytest.raises(MissingColumns) as caught:
        open_table(path, "xlsx", HOUSEHOLD)
    refusal = caught.value
    assert refusal.header_rows == (2,)
    assert refusal.headers == ("姓名", "身份证号", "所在网格")
    assert refusal.fields == {"name": 0, "id_number": 1}
    assert refusal.missing == ("region",)
    assert refusal.details()["signature"] == header_signature(["姓名", "身份证号 ", "所在\n网格"])


def test_a_sheet_with_no_known_header_offers_its_widest_row(tmp_path):
    path = _xlsx(tmp_path / "n.xlsx", [["名单"], ["甲", "乙", "丙"], ["张三", ID1, "兴阜"]])
    with pytest.raises(MissingColumns, match="没有找到表头") as caught:
        open_table(path, "xlsx", HOUSEHOLD)
    assert caught.value.header_rows == (2,)
    assert caught.value.headers == ("甲", "乙", "丙")


def test_a_remembered_mapping_reads_the_same_header_row_as_chosen(tmp_path):
    header = ["甲", "乙", "丙"]
    chosen = {"name": 0, "id_number": 1, "region": 2}
    kind = HOUSEHOLD.with_remembered({header_signature(header): chosen})
    path = _xlsx(tmp_path / "n.xlsx", [["名单"], [" 甲", "乙\n", "丙"], ["张三", ID1, "兴阜"]])
    table = open_table(path, "xlsx", kind)
    assert table.column_map.remembered and table.column_map.fields == chosen
    assert table.header_rows == (2,)
    assert [r.values for r in table.rows()] == [
        {"name": "张三", "id_number": ID1, "region": "兴阜"}
    ]
    # Another header row is recognised as usual; the mapping survives with_fixed and pickling.
    assert not map_columns(["姓名", "身份证号", "社区"], kind).remembered
    fixed = KEY_POPULATION.with_remembered({"x": {"name": 0}}).with_fixed("category", "orphan")
    assert fixed.remembered_fields == {"x": {"name": 0}}


def test_lapsed_either_column_through_affixes():
    assert map_columns(["姓名", "身份证号码", "最后缴费年月(yyyymm)"], LAPSED).complete


# --- what our own export neutralised, read back -------------------------------------------


@pytest.mark.parametrize("value", ["=1+2", "+8613800000000", "-负号开头", "@地址"])
def test_a_neutralised_value_comes_back_without_its_quote(tmp_path, value):
    assert neutralize(value) == "'" + value
    path = _xlsx(
        tmp_path / "q.xlsx",
        [
            ["姓名", "身份证号", "所属社区", "现住址"],
            ["张三", ID1, "320923001001", neutralize(value)],
        ],
    )
    (row,) = open_table(path, "xlsx", HOUSEHOLD).rows()
    assert row.values["address"] == value
    assert row.raw[3] == "'" + value  # the cell as read is kept for the error workbook


@pytest.mark.parametrize("value", ["'abc", "''=x", "'", "a'=b", "' =x"])
def test_other_quotes_are_kept(tmp_path, value):
    path = _xlsx(
        tmp_path / "q.xlsx",
        [["姓名", "身份证号", "所属社区", "现住址"], ["张三", ID1, "320923001001", value]],
    )
    (row,) = open_table(path, "xlsx", HOUSEHOLD).rows()
    assert row.values["address"] == value


# --- the error workbook's formats ----------------------------------------------------------


def test_write_table_formats_text_columns_and_wraps(tmp_path):
    path = tmp_path / "e.xlsx"
    write_table(
        path,
        "退回的行",
        ["原Excel行号", "错误原因", "姓名", "身份证号"],
        [[5, "校验位错误" * 10, "张三", ID1], [6, "=原因", "=SUM(A1)", 3.2e17]],
        text_columns=(3,),
        wrap_columns=(1,),
    )
    sheet = load_workbook(path).active
    assert sheet["D2"].number_format == "@" and sheet["D3"].number_format == "@"
    assert sheet["D2"].value == ID1
    assert sheet.column_dimensions["D"].number_format == "@"
    assert sheet["B2"].alignment.wrap_text and sheet["B3"].alignment.wrap_text
    assert sheet["B3"].value == "'=原因" and sheet["C3"].value == "'=SUM(A1)"
    assert sheet["C2"].number_format == "General"


def test_write_table_without_styles_is_unchanged(tmp_path):
    path = tmp_path / "p.xlsx"
    write_table(path, "表", ["a"], [["x"]])
    assert load_workbook(io.BytesIO(path.read_bytes())).active["A2"].value == "x"


def test_the_insured_extract_reads_the_keep_rules_columns_by_meaning():
    header = ["人员类别", "身份证号", "险种", "就业地区划代码", "缴费状态", "缴费至",
              "连续参保月数", "是否享受待遇", "所在学校", "参保地", "缴费截止日期"]  # fmt: skip
    cmap = map_columns(header, INSURED)
    assert cmap.fields == {
        "category": 0, "id_number": 1, "scheme": 2, "employer_region": 3, "payment_status": 4,
        "last_paid_month": 5, "continuous_months": 6, "benefits": 7, "employer": 8,
        "insured_region": 9, "paid_until": 10,
    }  # fmt: skip
    assert cmap.complete and not cmap.unused
    for name, field in (("学籍地", "employer_region"), ("学校所在地", "employer_region"),
                        ("待遇享受状态", "benefits"), ("学校名称", "employer")):  # fmt: skip
        assert match_header(name).field == field
    # Missing columns are fine: the keep-rules then say which fact they lack.
    assert map_columns(["身份证号", "险种"], INSURED).complete
