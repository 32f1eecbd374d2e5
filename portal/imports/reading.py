"""Read an uploaded list (.xlsx, .xls, .csv) as header-mapped rows with their Excel row numbers.

What `open_table` does, in order:

- .xlsx: `safety.check_sheet_extent` first (calamine would abort the process on a sheet whose
  cells are far apart), then python-calamine; openpyxl (read-only) only if calamine cannot parse
  the file. .xls: python-calamine. .csv: the csv module, every value a str.
- Finds the header row among the first `HEADER_SCAN_ROWS` rows: the row that meets the most
  required columns of the list kind, then maps the most fields. Title rows, a merged title cell
  (calamine puts the text in the first cell and leaves the rest empty), subtitle rows and blank
  rows above the header are passed over. A two-row header (联系方式 over 手机 | 固话, or 姓名
  merged down over two rows, or a group cell such as 户籍信息 merged over 社区 | 地址, read
  户籍社区 | 户籍地址, or a name split over two rows, 身份证 over 号码) is recognised when the
  two rows together map more than either.
- Multiple sheets: the first visible worksheet whose header has every required column, then the
  hidden ones, unless `sheet` (name or 0-based index) is given.
- Raises `MissingColumns` (Chinese message naming each missing column and its accepted headers,
  and the header row found, its cells and what they map to: what the mapping step offers) when
  no sheet has all required columns, and `ReadError` when the file cannot be read at all.

What `Table.rows()` yields and skips:

- One `SourceRow` per data row below the header, with `row_number` as Excel shows it (1-based,
  blank rows and title rows counted; for CSV the record number, which is the row Excel shows).
- `raw` is the row exactly as the reader gave it, indexed by column (A = 0). `values` maps each
  field to its cell. Values keep their original types: calamine gives str, float (every number
  of an .xlsx, even 1 or an 18-digit ID typed into a numeric cell, which arrives as
  3.209231990010113e+17 having lost its last digits), int (integers stored as such in .xls),
  bool, datetime.date (a date-formatted whole number), datetime.datetime, datetime.time,
  datetime.timedelta. An empty cell is "" (never None), and so is an error cell (#N/A, #VALUE!)
  or a formula whose result was never saved. CSV values are always str. A text value our own
  export neutralised (a `'` before =, +, - or @: spreadsheets.neutralize) is given back without
  the `'` in `values` (never in `raw`).
- Vertically merged cells (a 村（社区） cell merged down over a household's rows) are filled
  down into `values` for every row of the merge; `raw` keeps the empty cells as read.
- Skipped, never yielded: fully blank rows (every cell "" or whitespace); rows whose first
  non-empty cell is 合计/总计/小计/共计 (totals, anywhere in the sheet, not only at the end);
  footer rows starting 填表人/制表人/审核人/负责人/填报日期/注：… ; repeats of the header row
  (sheets pasted together). Skipped rows other than blank ones are listed in `Table.skipped`.

`rows()` may be called again for a second pass; each call reads from the top.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from portal.imports.columns import (
    GROUP_SUFFIXES,
    ColumnMap,
    ListKind,
    header_signature,
    map_columns,
    match_header,
    missing_message,
    unquote,
)
from portal.imports.safety import DEFAULT_MAX_CELLS, FileKind, UnsafeFile, check_sheet_extent

__all__ = [
    "HEADER_SCAN_ROWS",
    "MissingColumns",
    "ReadError",
    "SkippedRow",
    "SourceRow",
    "Table",
    "open_table",
]

HEADER_SCAN_ROWS = 30
MAX_SHEETS_TRIED = 20  # each sheet tried is parsed whole by calamine

_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)
_NEUTRALISED = ("'=", "'+", "'-", "'@")
_DIGITS = frozenset("0123456789０１２３４５６７８９")
_TOTAL = re.compile(r"^(?:总合计|合计|总计|小计|共计)(?:$|[^\u4e00-\u9fff]|[人户数])")
_FOOTER = re.compile(
    r"^(?:(?:填表|填报|制表|审核|复核|统计|经办|单位负责|负责)人|(?:填表|填报|制表|审核)日期"
    r"|(?:填表|填报|制表|审核|复核):|填报单位|(?:注|备注|说明)(?:\d|:))"
)


class ReadError(ValueError):
    """The file cannot be read as a list; `message` is Chinese and shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MissingColumns(ReadError):
    """No sheet has a header with every required column of the list kind."""

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...] = (),
        missing_any: tuple[tuple[str, ...], ...] = (),
        header_row: int | None = None,
        sheet_name: str | None = None,
        header_rows: tuple[int, ...] = (),
        headers: tuple[str, ...] = (),
        fields: dict[str, int] | None = None,
    ):
        super().__init__(message)
        self.missing = missing
        self.missing_any = missing_any
        self.header_row = header_row
        self.sheet_name = sheet_name
        self.header_rows = header_rows  # the row(s) most like a header; () if none was found
        self.headers = headers  # their text per column (A = 0)
        self.fields = dict(fields or {})  # what was recognised there: field → column

    @property
    def signature(self) -> str:
        return header_signature(self.headers)

    def details(self) -> dict:
        """What the mapping step needs (JSON-ready)."""
        return {
            "message": self.message,
            "sheet": self.sheet_name,
            "header_rows": list(self.header_rows),
            "headers": list(self.headers),
            "fields": self.fields,
            "missing": list(self.missing),
            "missing_any": [list(g) for g in self.missing_any],
            "signature": self.signature,
        }


class SourceRow(NamedTuple):
    """One data row: its Excel row number, its mapped values and the whole row as read."""

    row_number: int
    values: dict[str, Any]
    raw: list[Any]


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A non-blank row below the header that is not data: 'total', 'footer', 'header'."""

    row_number: int
    reason: str
    text: str


RowSource = Callable[[], Iterator[list[Any]]]


@dataclass
class Table:
    """A list found in an upload: where its header is, how its columns map, and its rows."""

    file_kind: FileKind
    list_kind: ListKind
    header_row: int  # 1-based Excel row of the header (the first of two for a two-row header)
    header_rows: tuple[int, ...]
    headers: tuple[str, ...]  # header text per column (A = 0), two-row headers combined
    column_map: ColumnMap
    sheet_name: str | None = None  # None for CSV
    sheet_names: tuple[str, ...] = ()
    last_row: int | None = None  # last Excel row with data (progress hint); None for CSV
    encoding: str | None = None  # CSV only
    delimiter: str | None = None  # CSV only
    reader: str = "calamine"  # or "openpyxl" (fallback) or "csv"
    skipped: list[SkippedRow] = field(default_factory=list)
    _source: RowSource | None = field(default=None, repr=False)
    _merges: Sequence[tuple[tuple[int, int], tuple[int, int]]] = field(default=(), repr=False)
    _close: Callable[[], None] | None = field(default=None, repr=False)

    def rows(self, from_row: int = 0, to_row: int | None = None) -> Iterator[SourceRow]:
        """Data rows below the header, in order; see the module docstring for what is skipped.

        `from_row`/`to_row`: only the data rows of that band of Excel row numbers (inclusive)."""
        shape = self.shaper()
        for number, row in self.numbered(from_row, to_row):
            source = shape(number, row)
            if source is not None:
                yield source

    def numbered(self, from_row: int = 0, to_row: int | None = None) -> Iterator[tuple[int, list]]:
        """(Excel row number, row as read) of every row below the header, blank ones included,
        within the band `from_row`..`to_row` (inclusive)."""
        if self._source is None:
            raise ReadError("表格已关闭。")
        from_row = max(from_row, self.header_rows[-1] + 1)
        # islice passes over the rows above the band in C: a piece of a cut sheet (pieces.py)
        # starts with as many empty rows as the pieces before it hold.
        return islice(enumerate(self._source(), 1), from_row - 1, to_row)

    def shaper(self) -> Callable[[int, list], SourceRow | None]:
        """A function taking each row `numbered` yields, in order, to its SourceRow, or to None
        for a row that is not data (blank, a total, a footer, a repeated header; all but the
        blank ones are listed in `skipped`). It holds the state of merges filled down, so each
        pass over the rows needs a shaper of its own."""
        if self._source is None:
            raise ReadError("表格已关闭。")
        self.skipped = []
        skipped = self.skipped
        items = tuple(self.column_map.fields.items())
        names = tuple(name for name, _ in items)
        width = max((col for _, col in items), default=-1) + 1
        # A row reaching every mapped column (nearly all of them) is picked in one C call.
        pick = itemgetter(*(col for _, col in items)) if len(items) > 1 else None
        data_start = self.header_rows[-1]  # 1-based; data begins on the next row
        fill_plan = _merge_plan(self._merges, data_start, self.column_map.fields.values())
        active: dict[int, tuple[int, Any]] = {}  # column → (last 0-based row, value)
        id_column = self.column_map.fields.get("id_number")
        id_header = self.headers[id_column] if id_column is not None else None

        def shape(number: int, row: list) -> SourceRow | None:
            first = None
            for value in row:
                if value.__class__ is str:
                    if value and not value.isspace():
                        first = value
                        break
                elif value is not None and value != "":
                    first = value
                    break
            if first is None:
                return None
            if first.__class__ is str:
                reason = not_data(first)
                if reason:
                    skipped.append(SkippedRow(number, reason, first.strip()[:50]))
                    return None
            n = len(row)
            if id_header and id_column < n:
                cell = row[id_column]
                if (
                    cell.__class__ is str
                    and cell[:1] not in _DIGITS
                    and " ".join(cell.split()) == id_header
                ):
                    skipped.append(SkippedRow(number, "header", id_header))
                    return None
            if pick is not None and n >= width:
                values = dict(zip(names, pick(row), strict=True))
            else:
                values = {name: (row[col] if col < n else "") for name, col in items}
            if fill_plan or active:
                _fill_merged(number - 1, row, values, items, fill_plan, active)
            for value in values.values():  # 0.4 µs a row: only a quote looks further
                if value.__class__ is str and value[:1] == "'":
                    _unquote_values(values)
                    break
            return SourceRow(number, values, row)

        return shape

    @property
    def merges_data(self) -> bool:
        """Whether merged cells reach into the data rows (their values fill down row by row)."""
        data_start = self.header_rows[-1]
        return bool(_merge_plan(self._merges, data_start, self.column_map.fields.values()))

    def header_only(self) -> Table:
        """The table without its rows (which cannot be pickled): for a piece's reader."""
        return replace(self, _source=None, _merges=(), _close=None)

    def over(self, sheet) -> Table:
        """This table's header over the rows of `sheet`, a parsed piece of the same sheet
        (pieces.py); no merged cell reaches a piece other than the first."""
        end = sheet.end
        return replace(
            self,
            last_row=end[0] + 1 if end else 0,
            _source=lambda: _calamine_rows(sheet),
            _merges=(),
            _close=None,
        )

    def close(self) -> None:
        self._source = None
        self._merges = ()
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unquote_values(values: dict[str, Any]) -> None:
    """Text our own export neutralised ('=…, '+…, '-…, '@…: spreadsheets.neutralize) as it was."""
    for name, value in values.items():
        if value.__class__ is str and value.startswith(_NEUTRALISED):
            values[name] = value[1:]


_NOT_DATA_STARTS = frozenset("合总小共填制审复统经单负注备说")


def not_data(text: str) -> str | None:
    """Why a row whose first non-empty cell is `text` is not data ('total', 'footer'), or None."""
    if text.lstrip()[:1] not in _NOT_DATA_STARTS:
        return None
    key = "".join(unicodedata.normalize("NFKC", text).split())
    if _TOTAL.match(key):
        return "total"
    if _FOOTER.match(key):
        return "footer"
    return None


def _merge_plan(merges, data_start: int, columns) -> dict[int, list[tuple[int, int]]]:
    """Vertical merges starting below the header, in mapped columns: 0-based row → [(col, end)]."""
    wanted = set(columns)
    plan: dict[int, list[tuple[int, int]]] = {}
    for (r0, c0), (r1, _c1) in merges:
        if r1 > r0 and r0 >= data_start and c0 in wanted:
            plan.setdefault(r0, []).append((c0, r1))
    return plan


def _fill_merged(index, row, values, items, plan, active) -> None:
    """Fill `values` from merges covering this row; start the merges whose top cell is here."""
    if active:
        by_column = None
        for col in list(active):
            last, value = active[col]
            if index > last:
                del active[col]
                continue
            if by_column is None:
                by_column = {c: name for name, c in items}
            name = by_column[col]
            if values[name] == "":
                values[name] = value
    for col, last in plan.pop(index, ()):
        value = row[col] if col < len(row) else ""
        if value != "":
            active[col] = (last, value)


# --- opening -------------------------------------------------------------------------------


def open_table(
    path: Path,
    kind: FileKind,
    list_kind: ListKind,
    sheet: str | int | None = None,
    *,
    max_cells: int | None = DEFAULT_MAX_CELLS,
    fill_merged: bool = True,
) -> Table:
    """Open an upload that `safety.inspect_upload` accepted as `kind` and find its list.

    `max_cells` bounds the dense grid calamine builds for one .xlsx sheet (None skips the
    check: only for files the portal wrote itself).
    """
    path = Path(path)
    if kind == "csv":
        return _open_csv(path, list_kind)
    if kind == "xlsx" and max_cells is not None:
        try:
            check_sheet_extent(path, max_cells=max_cells)
        except UnsafeFile as exc:
            raise ReadError(exc.message) from exc
    if kind not in ("xlsx", "xls"):
        raise ValueError(f"unknown file kind {kind!r}")
    try:
        return _open_calamine(path, kind, list_kind, sheet, fill_merged)
    except _CalamineUnreadable as exc:
        if kind != "xlsx":
            raise ReadError(_UNREADABLE) from exc.__cause__
        return _open_openpyxl(path, list_kind, sheet)


_UNREADABLE = (
    "无法读取这个 Excel 文件，它可能已损坏，或是由不标准的软件生成的。"
    "请用 Excel 或 WPS 打开它，“另存为” Excel 工作簿（.xlsx）后再上传。"
)
_PASSWORD = (
    "文件设置了密码，无法读取。请在 Excel 中取消密码（文件 → 信息 → 保护工作簿），保存后再上传。"
)


class _CalamineUnreadable(Exception):
    """calamine failed on a file another reader might manage."""


def _calamine(call: Callable[[], Any]) -> Any:
    """Run a calamine call; its errors, and the panics pyo3 raises as BaseException, become ours."""
    from python_calamine import PasswordError

    try:
        return call()
    except PasswordError as exc:
        raise ReadError(_PASSWORD) from exc
    except (ReadError, UnsafeFile):
        raise
    except BaseException as exc:
        if isinstance(exc, _PASS_THROUGH):
            raise
        raise _CalamineUnreadable() from exc


def _calamine_rows(sheet) -> Iterator[list[Any]]:
    """The sheet's rows from Excel row 1, each list indexed from column A.

    calamine's iter_rows() already yields padding rows for the empty rows above the first used
    row (so the n-th list is Excel row n), but each list starts at the first used column. When
    that is column A (nearly always), calamine's own iterator is returned: no Python frame per
    row."""
    start = sheet.start
    if start is None:
        return iter(())
    if start[1]:
        pad = [""] * start[1]
        return (pad + row for row in sheet.iter_rows())
    return sheet.iter_rows()


def _sheet_order(metadata, sheet: str | int | None, names: Sequence[str]) -> list[int]:
    if sheet is not None:
        if isinstance(sheet, int):
            if 0 <= sheet < len(names):
                return [sheet]
        elif sheet in names:
            return [list(names).index(sheet)]
        shown = "、".join(f"“{n}”" for n in names)
        raise ReadError(f"工作簿中没有工作表“{sheet}”。工作簿中的工作表：{shown}。")
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    visible, hidden = [], []
    for index, meta in enumerate(metadata):
        if meta.typ == SheetTypeEnum.WorkSheet:
            (visible if meta.visible == SheetVisibleEnum.Visible else hidden).append(index)
    return (visible + hidden)[:MAX_SHEETS_TRIED]


def _open_calamine(
    path: Path, kind: FileKind, list_kind: ListKind, sheet: str | int | None, fill_merged: bool
) -> Table:
    from python_calamine import CalamineWorkbook

    # from_filelike sniffs the format from the content; from_path trusts the extension, and an
    # upload stored under another name (or a real .xlsx named .xls) would then fail.
    with path.open("rb") as f:
        workbook = _calamine(lambda: CalamineWorkbook.from_filelike(f))
    try:
        names = tuple(workbook.sheet_names)
        failures: list[tuple[_Header | None, str]] = []
        for index in _sheet_order(workbook.sheets_metadata, sheet, names):
            ws = _calamine(lambda i=index: workbook.get_sheet_by_index(i))
            merges = ws.merged_cell_ranges or ()
            top = list(islice(_calamine_rows(ws), HEADER_SCAN_ROWS))
            head = _detect_header(top, list_kind, merges)
            if head is not None and head.column_map.complete:
                end = ws.end
                return Table(
                    file_kind=kind,
                    list_kind=list_kind,
                    header_row=head.rows[0],
                    header_rows=head.rows,
                    headers=head.column_map.headers,
                    column_map=head.column_map,
                    sheet_name=names[index],
                    sheet_names=names,
                    last_row=end[0] + 1 if end else 0,
                    _source=lambda ws=ws: _calamine_rows(ws),
                    _merges=merges if fill_merged else (),
                )
            failures.append((head or _widest(top), names[index]))
    finally:
        workbook.close()
    raise _missing(list_kind, failures)


def parse_sheet(path: Path, sheet_name: str):
    """The named worksheet of a workbook the portal wrote itself (a piece), parsed whole."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    try:
        return workbook.get_sheet_by_name(sheet_name)
    finally:
        workbook.close()


def _open_openpyxl(path: Path, list_kind: ListKind, sheet: str | int | None) -> Table:
    """Fallback for an .xlsx calamine cannot parse: openpyxl read-only (slow, but streaming)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ReadError(_UNREADABLE) from exc
    names = tuple(workbook.sheetnames)
    if sheet is not None:
        order = _sheet_order((), sheet, names)
    else:
        states = [ws.sheet_state for ws in workbook.worksheets]
        order = [i for i, s in enumerate(states) if s == "visible"]
        order += [i for i, s in enumerate(states) if s != "visible"]
    failures: list[tuple[_Header | None, str]] = []
    try:
        for index in order[:MAX_SHEETS_TRIED]:
            ws = workbook[names[index]]
            if not hasattr(ws, "iter_rows"):
                continue  # a chartsheet

            def source(ws=ws) -> Iterator[list[Any]]:
                ws.reset_dimensions()  # don't trust the file's <dimension>
                for row in ws.iter_rows(values_only=True):
                    yield [_from_openpyxl(v) for v in row]

            top = list(islice(source(), HEADER_SCAN_ROWS))
            head = _detect_header(top, list_kind)
            if head is not None and head.column_map.complete:
                return Table(
                    file_kind="xlsx",
                    list_kind=list_kind,
                    header_row=head.rows[0],
                    header_rows=head.rows,
                    headers=head.column_map.headers,
                    column_map=head.column_map,
                    sheet_name=names[index],
                    sheet_names=names,
                    reader="openpyxl",
                    _source=source,
                    _close=workbook.close,
                )
            failures.append((head or _widest(top), names[index]))
    except ReadError:
        workbook.close()
        raise
    except Exception as exc:
        workbook.close()
        raise ReadError(_UNREADABLE) from exc
    workbook.close()
    raise _missing(list_kind, failures)


def _from_openpyxl(value: Any) -> Any:
    """openpyxl's cell values in calamine's conventions: "" for empty, date for whole days."""
    if value is None:
        return ""
    if value.__class__ is dt.datetime and value.time() == dt.time(0):
        return value.date()
    return value


# --- CSV -----------------------------------------------------------------------------------


def _open_csv(path: Path, list_kind: ListKind) -> Table:
    encoding = _csv_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        sample = f.read(64 * 1024)
    delimiter = _csv_delimiter(sample)

    def source() -> Iterator[list[Any]]:
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.reader(_bounded_lines(f), delimiter=delimiter)
            records = 0
            try:
                for row in reader:
                    records += 1
                    yield row
            except csv.Error as exc:
                raise ReadError(
                    f"CSV 文件第 {records + 1} 行无法解析：可能是引号不成对，或单元格内容过长。"
                    "请用 Excel 打开检查后另存为 Excel 工作簿（.xlsx）再上传。"
                ) from exc

    top = list(islice(source(), HEADER_SCAN_ROWS))
    head = _detect_header(top, list_kind)
    if head is None or not head.column_map.complete:
        raise _missing(list_kind, [(head or _widest(top), None)])
    return Table(
        file_kind="csv",
        list_kind=list_kind,
        header_row=head.rows[0],
        header_rows=head.rows,
        headers=head.column_map.headers,
        column_map=head.column_map,
        encoding=encoding,
        delimiter=delimiter,
        reader="csv",
        _source=source,
    )


MAX_CSV_LINE = 1024 * 1024  # characters; the csv module's own field limit is 128 K


def _bounded_lines(f) -> Iterator[str]:
    """The file's lines, refusing one so long that reading it whole would be the attack."""
    number = 0
    while line := f.readline(MAX_CSV_LINE):
        number += 1
        if len(line) == MAX_CSV_LINE and not line.endswith(("\n", "\r")):
            raise ReadError(
                f"CSV 文件第 {number} 行过长（超过 {MAX_CSV_LINE} 个字符），"
                "不是正常的名单。请用 Excel 打开检查后另存为 .xlsx 再上传。"
            )
        yield line


def _csv_encoding(path: Path) -> str:
    """UTF-16 when it has a BOM (Excel's “Unicode 文本”), else UTF-8 (BOM or not), else GB18030."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        for encoding in ("utf-8-sig", "gb18030"):
            f.seek(0)
            decoder = codecs.getincrementaldecoder(encoding)("strict")
            try:
                while block := f.read(1024 * 1024):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return encoding
    raise ReadError(
        "无法识别 CSV 文件的文字编码（既不是 UTF-8 也不是 GBK/GB18030）。"
        "请用 Excel 打开后另存为“CSV UTF-8（逗号分隔）”或 Excel 工作簿（.xlsx）再上传。"
    )


def _csv_delimiter(sample: str) -> str:
    """The delimiter that splits some line of the sample the most: comma, tab or semicolon."""
    best, best_count = ",", 0
    for delimiter in (",", "\t", ";"):
        count = max((line.count(delimiter) for line in sample.splitlines()), default=0)
        if count > best_count:
            best, best_count = delimiter, count
    return best


# --- header detection ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    rows: tuple[int, ...]  # 1-based
    column_map: ColumnMap
    found: bool = True  # False: no row names a field; the widest row, offered for mapping


def _blank(row: Sequence[Any]) -> bool:
    return all(v is None or (v.__class__ is str and (not v or v.isspace())) for v in row)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(str(unquote(value)).split())


def _groups(top: Sequence[Any], bottom: Sequence[Any], row: int, merges) -> dict[int, str]:
    """Column → the text of a group cell of the upper row over several columns.

    `merges` (0-based ((row, col), (row, col)) ranges) when the reader knows them: the cells
    merged across in the upper row. None (CSV, openpyxl): a cell whose right-hand neighbours are
    empty above named cells below is taken to cover them."""
    groups: dict[int, str] = {}
    if merges is not None:
        for (r0, c0), (r1, c1) in merges:
            if r0 == row and r1 == row and c1 > c0 and c0 < len(top) and _text(top[c0]):
                for col in range(c0, c1 + 1):
                    groups[col] = _text(top[c0])
        return groups
    current = None
    for col in range(max(len(top), len(bottom))):
        upper = _text(top[col]) if col < len(top) else ""
        lower = _text(bottom[col]) if col < len(bottom) else ""
        if upper:
            current = upper if lower else None
        if current and lower:
            groups[col] = current
        elif not upper:
            current = None
    return groups


def _group_prefix(group: str) -> str:
    key = "".join(group.split())
    for suffix in GROUP_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def _combine(
    top: Sequence[Any], bottom: Sequence[Any], wanted: set[str], groups: dict[int, str]
) -> list[Any]:
    """One header from two rows, column by column: the upper cell when it names a field
    (联系方式 over 手机 | 固话) or has nothing below; else the two read as one name (身份证 over
    号码), or the group's words before the lower cell (户籍信息 over 社区 → 户籍社区) when that
    names a field the lower cell alone does not; else the lower cell."""
    out: list[Any] = []
    for col in range(max(len(top), len(bottom))):
        upper = top[col] if col < len(top) else ""
        lower = bottom[col] if col < len(bottom) else ""
        if _blank([lower]):
            out.append(upper)
            continue
        above = _text(upper) or groups.get(col, "")
        if not above:
            out.append(lower)
            continue
        hit = match_header(upper)
        if hit is not None and hit.field in wanted:
            out.append(upper)
            continue
        below = _text(lower)
        alone = match_header(lower)
        for joined in (above + below, _group_prefix(above) + below):
            hit = match_header(joined)
            if hit is not None:
                # The lower cell as it is, unless the words above change what it means, or
                # make it a known name of its own (户籍信息 over 地址: 户籍地址, which yields
                # to 居住地址 for the address).
                same = alone is not None and alone.field == hit.field and hit.quality
                out.append(lower if same else joined)
                break
        else:
            out.append(lower)
    return out


def _detect_header(rows: list[list[Any]], kind: ListKind, merges=None) -> _Header | None:
    """The best header among the first rows, or None when no row names any field.

    `merges`: the sheet's merged ranges when the reader gives them (see _groups)."""
    wanted = set(kind.fields)
    maps = [None if _blank(r) else map_columns(r, kind) for r in rows]
    best: _Header | None = None
    for i, cmap in enumerate(maps):
        if cmap is None:
            continue
        candidates = [_Header((i + 1,), cmap)]
        below = maps[i + 1] if i + 1 < len(maps) else None
        if below is not None:
            groups = _groups(rows[i], rows[i + 1], i, merges)
            two = map_columns(_combine(rows[i], rows[i + 1], wanted, groups), kind)
            if two.score() > cmap.score() and two.score() > below.score():
                candidates.append(_Header((i + 1, i + 2), two))
        for head in candidates:
            if not head.column_map.fields:
                continue
            if best is None or head.column_map.score() > best.column_map.score():
                best = head
    return best


def _widest(rows: list[list[Any]]) -> _Header | None:
    """When no row names a field: the first of the rows with the most text cells (a title has
    one; the header has as many as the data), offered to the mapping step as the header."""
    best, most = None, 1
    for i, row in enumerate(rows):
        count = sum(1 for v in row if v.__class__ is str and v.strip())
        if count > most:
            best, most = i, count
    if best is None:
        return None
    headers = tuple(_text(v) for v in rows[best])
    return _Header((best + 1,), ColumnMap(fields={}, headers=headers), found=False)


def _missing(kind: ListKind, failures: list[tuple[_Header | None, str | None]]) -> MissingColumns:
    found = [(h, s) for h, s in failures if h is not None and h.found]
    if not found:
        where = "各工作表" if len(failures) > 1 else "表格"
        required = missing_message(kind, kind.required, kind.required_any).split("\n", 1)[1]
        head, sheet_name = next(((h, s) for h, s in failures if h is not None), (None, None))
        return MissingColumns(
            f"没有找到表头：{where}的前 {HEADER_SCAN_ROWS} 行中没有一行像“{kind.label}”名单的"
            f"表头。需要的列：\n{required}",
            missing=kind.required,
            missing_any=kind.required_any,
            sheet_name=sheet_name,
            header_rows=head.rows if head else (),
            headers=head.column_map.headers if head else (),
        )
    head, sheet_name = max(found, key=lambda f: f[0].column_map.score())
    cmap = head.column_map
    where = f"工作表“{sheet_name}”" if sheet_name else "表格"
    message = f"在{where}第 {head.rows[0]} 行找到了表头，但" + missing_message(
        kind, cmap.missing, cmap.missing_any
    ).removeprefix(f"“{kind.label}”")
    return MissingColumns(
        message,
        missing=cmap.missing,
        missing_any=cmap.missing_any,
        header_row=head.rows[0],
        sheet_name=sheet_name,
        header_rows=head.rows,
        headers=cmap.headers,
        fields=cmap.fields,
    )
