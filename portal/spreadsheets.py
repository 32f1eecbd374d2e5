"""Writing workbooks safely: constant memory (write-only mode) and no formula injection."""

import math
import zipfile
from collections.abc import Iterable
from pathlib import Path

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_SHEET_PART = "xl/worksheets/sheet1.xml"  # openpyxl's name for a workbook's one sheet
_ROWS_PER_WRITE = 1000


def neutralize(value):
    """A text cell that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(DANGEROUS_START):
        return "'" + value
    return value


def _workbook(
    title: str,
    headers: list[str],
    widths: dict[int, int] | None,
    text_columns: Iterable[int] = (),
    wrap_columns: Iterable[int] = (),
):
    """A write-only workbook of one sheet with its column widths and styles and a bold header
    row (columns are written before the first row: set them first)."""
    # openpyxl takes 0.1 s to import: `portal import` and the workers pay it only when writing.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    for index, width in (widths or {}).items():
        sheet.column_dimensions[get_column_letter(index)].width = width
    _style_columns(sheet, _style_plan(text_columns, wrap_columns))
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=neutralize(text))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True)
        header_cells.append(cell)
    sheet.append(header_cells)
    return workbook, sheet


def write_table(
    path: Path,
    title: str,
    headers: list[str],
    rows: Iterable[list],
    widths: dict[int, int] | None = None,
    *,
    text_columns: Iterable[int] = (),
    wrap_columns: Iterable[int] = (),
) -> int:
    """Write one sheet with a bold header row; returns the number of data rows written.

    `text_columns` (0-based): formatted as text ('@'), the column and its cells, so that an ID
    number typed or corrected there keeps its 18 digits. `wrap_columns`: cells wrapped."""
    text_columns, wrap_columns = tuple(text_columns), tuple(wrap_columns)
    workbook, sheet = _workbook(title, headers, widths, text_columns, wrap_columns)
    styled = _style_plan(text_columns, wrap_columns)
    count = 0
    for row in rows:
        values = [neutralize(v) for v in row]
        if styled:
            values = _styled_row(sheet, values, styled)
        sheet.append(values)
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return count


def _style_plan(text_columns, wrap_columns) -> dict[int, tuple[str | None, bool]]:
    """0-based column → (number format, wrap) for the styled columns."""
    styled: dict[int, tuple[str | None, bool]] = {}
    for index in text_columns:
        styled[index] = ("@", styled.get(index, (None, False))[1])
    for index in wrap_columns:
        styled[index] = (styled.get(index, (None, False))[0], True)
    return styled


def _style_columns(sheet, styled: dict[int, tuple[str | None, bool]]) -> None:
    """The columns' own style: what Excel gives a cell typed there later (before any row)."""
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    for index, (number_format, wrap) in styled.items():
        dimension = sheet.column_dimensions[get_column_letter(index + 1)]
        if not dimension.customWidth:  # openpyxl writes no <col>, nor its style, without one
            dimension.width = 22 if number_format == "@" else 40
        if number_format:
            dimension.number_format = number_format
        if wrap:
            dimension.alignment = Alignment(wrap_text=True, vertical="top")


def _styled_row(sheet, values: list, styled: dict[int, tuple[str | None, bool]]) -> list:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment

    out = list(values)
    for index, (number_format, wrap) in styled.items():
        if index >= len(out):
            continue
        cell = WriteOnlyCell(sheet, value=out[index])  # a number stays one, as it was read
        if number_format:
            cell.number_format = number_format
        if wrap:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        out[index] = cell
    return out


def write_plain_table(
    path: Path,
    title: str,
    headers: list[str],
    rows: Iterable[list],
    widths: dict[int, int] | None = None,
) -> int:
    """write_table for rows of plain values only (text, int, float, bool, None), many of them.

    openpyxl writes the workbook (parts, styles, widths, the header row); the data rows are
    written into its sheet here, one string a row, as openpyxl writes them in write-only mode
    (inline strings, `t="n"` numbers, `t="b"` booleans, no cell for None). openpyxl builds an
    element per cell, 24 µs a cell on a slow 2-core machine: an export of 100 k persons took
    42 s that way and takes 11 s this way, the query included (bench/export_persons.py).
    Characters XML cannot hold are left out, where openpyxl would refuse the whole export.
    tests/test_spreadsheets.py reads both ways back with openpyxl and calamine."""
    # Characters XML 1.0 cannot hold: openpyxl refuses them (IllegalCharacterError).
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as illegal
    from openpyxl.utils import get_column_letter

    workbook, _ = _workbook(title, headers, widths)
    path.parent.mkdir(parents=True, exist_ok=True)
    skeleton = path.with_name(path.name + ".skeleton")
    workbook.save(skeleton)
    letters = [get_column_letter(i) for i in range(1, max(len(headers), 1) + 1)]
    count = 0
    try:
        with (
            zipfile.ZipFile(skeleton) as source,
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out,
        ):
            for info in source.infolist():
                data = source.read(info)
                if info.filename != _SHEET_PART:
                    out.writestr(info, data)
                    continue
                head, tail = data.split(b"</sheetData>", 1)
                with out.open(_SHEET_PART, "w") as sheet:
                    sheet.write(head)
                    batch: list[str] = []
                    for count, row in enumerate(rows, 1):
                        if len(row) > len(letters):
                            letters += [
                                get_column_letter(i + 1) for i in range(len(letters), len(row))
                            ]
                        batch.append(_row_xml(count + 1, row, letters, illegal))
                        if len(batch) == _ROWS_PER_WRITE:
                            sheet.write("".join(batch).encode())
                            batch.clear()
                    sheet.write("".join(batch).encode())
                    sheet.write(b"</sheetData>" + tail)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        skeleton.unlink(missing_ok=True)
    return count


def _row_xml(number: int, row: list, letters: list[str], illegal) -> str:
    cells = [f'<row r="{number}">']
    for letter, value in zip(letters, row, strict=False):
        kind = value.__class__
        if value is None:
            continue
        if kind is str:
            text = neutralize(value)
            if illegal.search(text):
                text = illegal.sub("", text)
            if not text:  # as openpyxl: a string cell with no text
                cells.append(f'<c r="{letter}{number}" t="inlineStr"/>')
                continue
            text = text.translate(_ESCAPES)
            stripped = text.strip()  # as openpyxl: spaces kept where there is more than spaces
            space = ' xml:space="preserve"' if stripped and stripped != text else ""
            cells.append(f'<c r="{letter}{number}" t="inlineStr"><is><t{space}>{text}</t></is></c>')
        elif kind is bool:
            cells.append(f'<c r="{letter}{number}" t="b"><v>{int(value)}</v></c>')
        elif kind is int or kind is float:  # printed as openpyxl prints numbers
            shown = f"{value:.16g}" if kind is int or math.isfinite(value) else ""
            cells.append(f'<c r="{letter}{number}" t="n"><v>{shown}</v></c>')
        else:
            raise TypeError(f"write_plain_table: {kind.__name__} in column {letter}")
    cells.append("</row>")
    return "".join(cells)
