"""A notice as an Excel sheet: title, when the figures are from, the ranked rows in rank order
(movers and government-paid gaps filled in colour), a 合计 row. Rates are percentages with two
decimals as numbers (number format 0.00%), so an office can sort and sum them."""

import io

from portal.notices import present
from portal.notices.models import RankingNotice
from portal.spreadsheets import neutralize

SHEET_TITLE = "月度通报"
HEADERS = (
    "名次",
    "区划",
    "区划代码",
    "应参保人数",
    "已参保人数",
    "未参保人数",
    "参保率",
    "上月名次",
    "名次升降",
    "参保率较上月（百分点）",
    "目标",
    "目标进度",
    "进度名次",
    "政府资助应参保",
    "政府资助已参保",
    "政府资助缺口",
    "本月走访",
    "本月转化",
)
WIDTHS = (6, 22, 14, 11, 11, 11, 9, 9, 9, 12, 11, 9, 9, 12, 12, 11, 9, 9)
UP_FILL, DOWN_FILL, GAP_FILL = "E5F6EA", "FDE8E7", "FFD7D3"


def _moved(row: dict) -> str:
    return present.moved_text(row)


def _row(row: dict) -> list:
    change = row.get("coverage_change")
    return [
        row["rank"],
        neutralize(row["name"]),
        row["code"],
        row["must_insure"],
        row["insured"],
        row["uninsured"],
        row["coverage"],
        row.get("prev_rank"),
        _moved(row) or None,
        None if change is None else round(change * 100, 2),
        row.get("target"),
        row.get("progress"),
        row.get("progress_rank"),
        row["government_paid"],
        row["government_paid_insured"],
        row["gap"],
        row["visits"],
        row["conversions"],
    ]


def workbook(notice: RankingNotice) -> tuple[bytes, str]:
    """(the .xlsx bytes, its title). A notice has one row per child region: small."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    view = present.view_of(notice)
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_TITLE
    last_column = get_column_letter(len(HEADERS))
    sheet.append([view.title])
    sheet.merge_cells(f"A1:{last_column}1")
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    lines = list(view.lines)
    lines.append("进步最大：" + present.movers_text(view.movers_up, True))
    lines.append("退步最大：" + present.movers_text(view.movers_down, False))
    gap = view.totals["gap"]
    lines.append(
        f"政府资助参保人群缺口：{gap} 人（须 100% 参保）" if gap else "政府资助参保人群已全部参保"
    )
    for line in lines:
        sheet.append([line])
        sheet.merge_cells(f"A{sheet.max_row}:{last_column}{sheet.max_row}")
    if gap:
        sheet.cell(sheet.max_row, 1).font = Font(bold=True, color="B42318")
    sheet.append(list(HEADERS))
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    fills = {
        "up": PatternFill("solid", fgColor=UP_FILL),
        "down": PatternFill("solid", fgColor=DOWN_FILL),
    }
    gap_fill = PatternFill("solid", fgColor=GAP_FILL)
    for row_view in view.rows:
        sheet.append(_row(row_view.row))
        cells = sheet[sheet.max_row]
        if row_view.mover:
            for cell in cells[:9]:
                cell.fill = fills[row_view.mover]
        if row_view.gap > 0:
            cells[15].fill = gap_fill
            cells[15].font = Font(bold=True, color="B42318")
    totals = view.totals
    sheet.append(
        [
            None,
            "合计",
            notice.region_code,
            totals["must_insure"],
            totals["insured"],
            totals["uninsured"],
            totals["coverage"],
            None,
            None,
            None,
            None,
            None,
            None,
            totals["government_paid"],
            totals["government_paid_insured"],
            totals["gap"],
            totals["visits"],
            totals["conversions"],
        ]
    )
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=header_row + 1, min_col=7, max_col=12):
        row[0].number_format = "0.00%"  # 参保率
        row[5].number_format = "0.0%"  # 目标进度
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(header_row + 1, 3)
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue(), view.title


__all__ = ["HEADERS", "SHEET_TITLE", "workbook"]
