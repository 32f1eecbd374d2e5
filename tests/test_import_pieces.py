"""A big sheet is cut into workbooks of consecutive rows, one per core (portal/imports/pieces.py),
which the loader and its readers parse at the same time (loader.py).

What must hold: the rows of the pieces, read with the header found in piece 0, are exactly the
rows of the upload, with their Excel row numbers; a sheet that is not plainly safe to cut is not
cut (and is read whole, as before); an import through pieces gives the same counts and error
workbook as one in a single process, including rows refused after staging, whose cells each
piece's reader hands back.
"""

import io
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from portal.imports import kinds, pieces, reading
from portal.persons.models import Person
from tests.factories import child_processes, latest_batch, make_id, run_jobs, upload
from tests.helpers import database, fetch

HOUSEHOLD = kinds.IMPORTERS["household"].list_kind
HEADER = ["序号", "姓名", "公民身份号码", "联系电话", "村（社区）代码", "现住址"]


@pytest.fixture(autouse=True)
def small_sheets_are_cut(monkeypatch):
    monkeypatch.setattr(pieces, "MIN_BYTES", 0)


def _workbook(rows, *, write_only=False, merges=(), before=None) -> bytes:
    """A register "户籍人口" of `rows` under a title row and a header row (Excel rows 1 and 2);
    `before`: (name, rows) of a sheet placed before it."""
    wb = Workbook(write_only=write_only)
    if not write_only:
        wb.remove(wb.active)
    if before is not None:
        other = wb.create_sheet(before[0])
        for row in before[1]:
            other.append(row)
    ws = wb.create_sheet("户籍人口")
    ws.append(["阜宁县户籍人口花名册"])
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    for merge in merges:
        ws.merge_cells(merge)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _people(count: int) -> list[list]:
    return [
        [n, f"人{n}", make_id(n, birth="19600101"), None, "320923001001", f"幸福路{n}号"]
        for n in range(1, count + 1)
    ]


def _rows(table: reading.Table, band=(0, None)) -> list[tuple[int, list]]:
    return [(s.row_number, s.values) for s in table.rows(*band)]


@pytest.mark.no_db
@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("write_only", [False, True], ids=["shared-strings", "inline-strings"])
def test_the_pieces_hold_every_row_once_with_its_excel_number(tmp_path, count, write_only):
    path = tmp_path / "list.xlsx"
    path.write_bytes(_workbook(_people(300), write_only=write_only))
    whole = reading.open_table(path, "xlsx", HOUSEHOLD)
    cut = pieces.split(path, count, tmp_path)
    assert cut is not None and cut.sheet_name == "户籍人口"
    assert len(cut.paths) == count and len(cut.cuts) == count - 1
    assert all(reading.HEADER_SCAN_ROWS < c for c in cut.cuts)
    assert cut.last_row == 302
    first = reading.open_table(cut.paths[0], "xlsx", HOUSEHOLD)
    assert (first.header_rows, first.column_map) == (whole.header_rows, whole.column_map)
    header = first.header_only()
    got = []
    for index, piece_path in enumerate(cut.paths):
        table = first if index == 0 else header.over(reading.parse_sheet(piece_path, "户籍人口"))
        got += _rows(table, cut.band(index, 3))
    assert got == _rows(whole)
    assert [n for n, _ in got] == list(range(3, 303))
    with zipfile.ZipFile(cut.paths[1]) as zf:
        assert b"<dimension" not in zf.read("xl/worksheets/sheet1.xml")


@pytest.mark.no_db
def test_a_sheet_that_is_not_plainly_safe_to_cut_is_read_whole(tmp_path):
    cases = {
        "merged cells in the data": _workbook(_people(300), merges=["F100:F102"]),
        "too few rows to cut beyond the header": _workbook(_people(40)),
    }
    for what, content in cases.items():
        path = tmp_path / "list.xlsx"
        path.write_bytes(content)
        assert pieces.split(path, 2, tmp_path) is None, what
        assert list(tmp_path.glob("piece-*")) == [], what  # nothing is left behind
    path = tmp_path / "list.xlsx"
    path.write_bytes(_workbook(_people(300), merges=["A1:F1"]))  # a merged title is fine
    assert pieces.split(path, 2, tmp_path) is not None


@pytest.mark.no_db
def test_rows_without_numbers_are_not_cut(tmp_path):
    """Some writers leave out r="…": calamine would then number a piece's rows from 1."""
    path = tmp_path / "list.xlsx"
    path.write_bytes(_workbook(_people(300), write_only=True))
    unnumbered = tmp_path / "unnumbered.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(unnumbered, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                data = data.replace(b'<row r="', b'<row x="')
            out.writestr(info.filename, data, zipfile.ZIP_DEFLATED)
    assert pieces.split(unnumbered, 2, tmp_path) is None


def _big_register(app, outsider: str) -> bytes:
    """200 people (Excel rows 3-202, cut at about row 100); in piece 1, row 150 is a person
    a resident list places outside Funing (a register does not take them over), row 180
    repeats row 20 and row 190 has a bad check character."""
    rows = _people(200)
    rows[150 - 3][2] = outsider
    rows[180 - 3][2] = rows[20 - 3][2]
    good = rows[190 - 3][2]
    rows[190 - 3][2] = good[:17] + ("1" if good[17] != "1" else "2")
    with database(app) as session:
        session.add(
            Person(id_number=outsider, name="外县人", sex="1", birth_date=date(1945, 1, 1),
                   region_code="320902001001", in_register=True, in_resident_list=True)
        )  # fmt: skip
    return _workbook(rows)


@pytest.fixture
def cuts(monkeypatch, tmp_path):
    """A function listing, per import, the sheet cut into pieces (None: read whole). The loader
    cuts in a process of its own: it notes each outcome in a file."""
    notes = tmp_path / "cuts.txt"
    original = pieces.split

    def split(*args):
        made = original(*args)
        with notes.open("a") as f:
            f.write(f"{made.sheet_name if made else ''}\n")
        return made

    monkeypatch.setattr(pieces, "split", split)
    return lambda: [line or None for line in notes.read_text().splitlines()]


def test_an_import_through_pieces_counts_and_refuses_as_in_one_process(
    app,
    login,
    forked,
    cuts,
):
    before = child_processes()
    outsider = make_id(999, birth="19450101", region="320902")
    client = login("fn_staff")
    upload(client, _big_register(app, outsider))
    run_jobs(app)
    batch = latest_batch(app)
    assert cuts() == ["户籍人口"] and forked == [2]
    assert batch.state == "succeeded", batch.message
    assert (batch.rows_read, batch.created, batch.rejected) == (200, 197, 3), batch.message
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    got = [r[:4] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [(n, name) for n, _, _, name in got] == [(150, "人148"), (180, "人178"), (190, "人188")]
    assert "居住在辖区外的" in got[0][1] and "320902001001" in got[0][1]
    assert "与本文件第20行是同一人" in got[1][1]
    assert "校验位错误" in got[2][1]
    assert fetch(app, select(func.count()).select_from(Person)) == [198]
    assert child_processes() == before


def test_a_list_on_another_sheet_is_read_whole_from_the_first_piece(
    app,
    login,
    forked,
    cuts,
):
    """The biggest sheet is cut, but the list is on a smaller sheet before it: the pieces'
    readers leave and the loader reads the list from piece 0, which holds that sheet whole."""
    before = child_processes()
    ids = [make_id(n, birth="19700101") for n in range(1, 4)]
    listing = [HEADER, *[[n, f"甲{n}", i, None, "320923001001", None] for n, i in enumerate(ids)]]
    wb = Workbook()
    wb.active.title = "名单"
    for row in listing:
        wb.active.append(row)
    notes = wb.create_sheet("说明")
    for n in range(300):
        notes.append([f"第{n}条", "无"])
    buffer = io.BytesIO()
    wb.save(buffer)
    client = login("fn_staff")
    upload(client, buffer.getvalue())
    run_jobs(app)
    batch = latest_batch(app)
    assert cuts() == ["说明"] and forked == [2]  # read by two readers of the sheet
    assert batch.state == "succeeded", batch.message
    assert (batch.rows_read, batch.created) == (3, 3)
    assert child_processes() == before


def test_a_piece_that_cannot_be_parsed_fails_the_batch_and_leaves_nothing(
    app,
    login,
    forked,
    cuts,
    monkeypatch,
):
    before = child_processes()

    def parse_sheet(path, name):
        raise ValueError("broken piece")

    monkeypatch.setattr(reading, "parse_sheet", parse_sheet)
    upload(login("fn_staff"), _workbook(_people(200)))
    run_jobs(app)
    batch = latest_batch(app)
    assert cuts() == ["户籍人口"]
    assert batch.state == "failed"
    assert "数据未作任何修改" in batch.message
    assert fetch(app, select(func.count()).select_from(Person)) == [0]
    assert child_processes() == before
