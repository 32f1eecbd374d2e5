"""The plain way of reading a big household list (portal/imports/plain.py) accepts only rows the
general way accepts, and writes the very line the general way writes.

Rows are generated cell by cell from what registers hold, clean values and each trap beside
them, and read twice: the general way (Table.rows → Importer.validated → stage_line) and as a
forked reader reads them (Importer.lines: the plain way where it can, the general way where it
cannot). The lines, the rejections with their reasons and original cells, the ID numbers seen,
the rows read and the rows skipped must all be the same.
"""

from dataclasses import replace
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permissions import scope_for
from portal.imports import kinds, plain
from portal.imports.columns import map_columns
from portal.imports.kinds import Context
from portal.imports.reading import Table
from portal.imports.validation import RegionResolver
from tests.factories import make_id

TODAY = date(2026, 11, 23)
HOUSEHOLD = kinds.IMPORTERS["household"]
HEADER = [
    "序号",
    "姓名",
    "公民身份号码",
    "性别",
    "出生日期",
    "联系电话",
    "村（社区）代码",
    "户籍地",
    "现住址",
]

BIRTHS = ("19800101", "19900215", "20000229", "19491231")
# A small pool: duplicates occur.
IDS = [make_id(n, birth=birth) for birth in BIRTHS for n in (1, 2, 7)]
OTHER_IDS = [
    IDS[0].lower().replace("X", "x"),
    f" {IDS[1]} ",
    IDS[2][:17] + ("0" if IDS[2][17] != "0" else "1"),  # a wrong check character
    IDS[3].translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "320923800101011",  # 15 digits
    "32092320300101001X",  # born in the future
    "320923199002300011",  # 30 February
    3.2092319800101e17,  # stored as a number
    "",
    "身份证号",
]
# What each column may hold besides a clean value: the traps of real registers.
TRAPS = (
    st.sampled_from(["", "  ", "合计", "总计：", "注：以上人员", "1", "张三", 0.0]),  # 序号
    st.sampled_from([" 李四 ", "", "  ", "王\t五", "赵\\六", "欧阳" * 40, 3.0, "Ａ"]),  # 姓名
    st.sampled_from(IDS + OTHER_IDS),  # 公民身份号码
    st.sampled_from(["男", "女", " 男 ", "1", "2", "未知", 1.0, "  "]),  # 性别
    st.sampled_from(
        ["1980-01-01", "1990/2/15", "20000229", "1949年12月31日", datetime(1980, 1, 1),
         date(1990, 2, 15), "1980-01-02", "  ", 29221.0]
    ),  # 出生日期
    st.sampled_from(
        ["138 1234 5678", "0515-88123456", "12345", 13812345678.0, "  ", "１３８１２３４５６７８",
         "23812345678", "12812345678"]
    ),  # 联系电话
    st.sampled_from(
        ["320923001002", "320902001001", "", "320923", 320923001001.0, " 320923001001 ",
         "阜城社区", "没有这个社区"]
    ),  # 村（社区）代码
    st.sampled_from(["320923", "阜宁县", 320923.0, "32092300100", "  "]),  # 户籍地
    st.sampled_from([" 幸福路2号 ", "a\tb", "长" * 250, 5.0, "x\\y", "  ", ""]),  # 现住址
)  # fmt: skip


@st.composite
def register_rows(draw) -> list:
    """A clean register row (which the plain way takes), then none, one or a few of its cells
    replaced by a trap: every trap is tried in a row that is otherwise plain."""
    serial = float(draw(st.integers(1, 10**6)))
    id_number = draw(st.sampled_from(IDS))  # drawn from a small pool: duplicates occur
    male = int(id_number[16]) % 2
    sex = draw(st.sampled_from(["", "男" if male else "女"]))
    born = id_number[6:14]
    birth = draw(st.sampled_from(["", f"{born[:4]}-{born[4:6]}-{born[6:]}"]))
    phone = draw(st.sampled_from(["", "13812345678", "19912345678"]))
    address = draw(st.sampled_from(["", "幸福路1号", "阜城街道 12 号"]))
    row = [serial, "张三", id_number, sex, birth, phone, "320923001001", "", address]
    for column in draw(st.lists(st.integers(0, len(HEADER) - 1), max_size=3)):
        row[column] = draw(TRAPS[column])
    return row


ROWS = st.lists(
    st.one_of(
        register_rows(),
        register_rows(),
        st.just([""] * len(HEADER)),  # a blank row
        st.just(["", "", IDS[0]]),  # a row that stops short of the mapped columns
    ),
    max_size=30,
)


@pytest.fixture
def context(ctx, user):
    scope = scope_for(user("fn_staff"), "data.import")
    return Context(scope=scope, region_code="320923000000", today=TODAY,
                   resolver=RegionResolver(scope))  # fmt: skip


def _table(rows: list[list], header=HEADER) -> Table:
    column_map = map_columns(header, HOUSEHOLD.list_kind)
    return Table(
        file_kind="xlsx",
        list_kind=HOUSEHOLD.list_kind,
        header_row=1,
        header_rows=(1,),
        headers=tuple(header),
        column_map=column_map,
        last_row=len(rows) + 1,
        _source=lambda: iter([header, *rows]),
    )


def _read(importer, table, context, *, general: bool):
    rejections, seen, ticks = [], {}, []
    if general:
        line = importer.parallel_stage.line
        rows = importer.validated(table.rows(), context, rejections, ticks.append, seen)
        lines = [line(number, row) for number, row in rows]
    else:
        lines = list(importer.lines(table, (0, None), context, rejections, ticks.append, seen))
    refused = [(r.row_number, r.reason, r.raw) for r in rejections]
    return lines, refused, seen, ticks[-1], list(table.skipped)


def _counting(monkeypatch) -> list[int]:
    """The number of rows the plain way accepted, as a one-item list updated as it goes."""
    accepted = [0]
    make = plain.household_lines

    def counted(fields, context, seen):
        quick = make(fields, context, seen)

        def line(number, row):
            text = quick(number, row)
            accepted[0] += text is not None
            return text

        return line

    stage = replace(HOUSEHOLD.parallel_stage, plain=counted)
    monkeypatch.setitem(kinds.IMPORTERS, "household", replace(HOUSEHOLD, parallel_stage=stage))
    return accepted


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(rows=ROWS)
def test_the_plain_way_gives_what_the_general_way_gives(context, rows):
    table = _table(rows)
    assert _read(HOUSEHOLD, table, context, general=False) == _read(
        HOUSEHOLD, table, context, general=True
    )


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(rows=ROWS, order=st.permutations(range(len(HEADER))))
def test_any_column_order_and_missing_optional_columns(context, rows, order):
    """The plain way finds each cell by the column map, whatever the layout: columns shuffled,
    and the optional ones (性别, 出生日期, 联系电话, 户籍地, 现住址) sometimes left out."""
    keep = [i for i in order if i in (1, 2, 6) or i % 2 == len(rows) % 2]
    table = _table([[row[i] for i in keep if i < len(row)] for row in rows],
                   [HEADER[i] for i in keep])  # fmt: skip
    assert _read(HOUSEHOLD, table, context, general=False) == _read(
        HOUSEHOLD, table, context, general=True
    )


def test_clean_rows_take_the_plain_way(context, monkeypatch):
    accepted = _counting(monkeypatch)
    importer = kinds.IMPORTERS["household"]
    rows = [
        [float(n), f"人{n}", make_id(n, birth="19800101"), "男" if n % 2 else "", "", "13812345678",
         "320923001001", "", f"幸福路{n}号"]
        for n in range(1, 201)
    ]  # fmt: skip
    rows[10][3] = "女"  # disagrees with the ID number: refused the general way
    rows[20][2] = rows[4][2]  # the same person again
    table = _table(rows)
    lines, refused, seen, read, _ = _read(importer, table, context, general=False)
    assert accepted == [198]
    assert (len(lines), read, len(seen)) == (198, 200, 198)
    assert [(n, reason[:8]) for n, reason, _ in refused] == [
        (12, "性别「女」与身份"),
        (22, "与本文件第6行是"),
    ]
    fields = ["2", make_id(1, birth="19800101"), "人1", "1", "1980-01-01", "13812345678"]
    assert lines[0] == "\t".join([*fields, "320923001001", "\\N", "幸福路1号"]) + "\n"
    assert (lines, refused, seen) == _read(importer, table, context, general=True)[:3]


def test_a_sheet_with_merged_data_cells_is_read_the_general_way(context, monkeypatch):
    """Merged values fill down the general way only, so such a table never takes the plain one."""
    accepted = _counting(monkeypatch)
    rows = [[1.0, "甲", IDS[0], "", "", "", "320923001001", "", ""],
            [2.0, "乙", IDS[4], "", "", "", "", "", ""]]  # fmt: skip
    table = replace(_table(rows), _merges=[((1, 6), (2, 6))])  # 村（社区） merged over both rows
    lines, refused, *_ = _read(kinds.IMPORTERS["household"], table, context, general=False)
    assert accepted == [0]
    assert (len(lines), refused) == (2, [])
    assert lines[1].split("\t")[6] == "320923001001"
