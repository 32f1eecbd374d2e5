"""Writing workbooks safely: constant memory (write-only mode) and no formula injection."""

from collections.abc import Iterable
from pathlib import Path

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value):
    """A text cell that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(DANGEROUS_START):
        return "'" + value
    return value


def write_table(
    path: Path,
    title: str,
    headers: list[str],
    rows: Iterable[list],
    widths: dict[int, int] | None = None,
) -> int:
    """Write one sheet with a bold header row; returns the number of data rows written."""
    # openpyxl takes 0.1 s to import: `portal import` and the workers pay it only when writing.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    for index, width in (widths or {}).items():
        sheet.column_dimensions[get_column_letter(index)].width = width
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=neutralize(text))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True)
        header_cells.append(cell)
    sheet.append(header_cells)
    count = 0
    for row in rows:
        sheet.append([neutralize(v) for v in row])
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return count
