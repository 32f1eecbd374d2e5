"""The report forms as the workbooks offices exchange (A4 landscape, printable as they are).

Sheet 1, the form, laid out as Chinese statistical forms are:

    rows 1–3   表号 / 制表机关 / 批准文号, top right
    row 4      the merged title: 盐城市2027年度基本医疗保险参保情况清查工作汇总表
    row 5      填报单位（盖章）：<region> and 填报日期 on the left, 计量单位：人 on the right
    rows 6–7   the two-row header: a group merged across its columns above their labels, a
               column outside any group merged over both rows
    row 8      the column code row: 甲, 乙, 1, 2, 3 …
    row 9      合计 (first, under the code row, as the national forms put it), then one row per
               child region
    then       填表说明 (the form's notes and its columns' notes), and the foot:
               单位负责人 / 统计负责人 / 填表人 / 联系电话 / 报出日期

Printing: A4 landscape, fit to one page wide (as many tall as needed), rows 6–8 repeated on every
page, the print area the form; frozen under the header and right of the region columns.

Sheet 2, for a form with a detail list (不参加基本医疗保险人员情况表): at a county and below,
the uninsured persons of the region, read through the actor's person.view scope and streamed
into the sheet (a string a row, as spreadsheets.write_plain_table writes them: constant
memory), ID numbers and phones masked unless the actor holds person.unmask on the whole
region; at a city or province, per child the number of detail rows, 明细由各县（市、区）报送
(a city's uninsured do not fit a sheet, and the documents have counties report the detail).
A table rebuilt from a snapshot has no detail to read: the sheet is left out.
"""

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, or_, select

from permissions import can, scope_for
from portal.database import raise_work_mem, restore_work_mem
from portal.extensions import db
from portal.masking import mask_id_number, mask_phone
from portal.persons import codes as person_codes
from portal.persons.models import Person, PersonFile
from portal.regions.codes import subtree_bounds
from portal.regions.models import Region
from portal.spreadsheets import _ESCAPES, neutralize
from portal.timeutil import format_local, local_today

HEADER_TOP = 6  # the first header row
DETAIL_LEVEL = 3  # the detail list is written for a county and the levels below it
DETAIL_HEADERS = (
    "序号",
    "所属乡镇（街道）",
    "所属社区（村）",
    "姓名",
    "公民身份号码",
    "性别",
    "未参保原因",
    "重点人群",
    "档案状态",
    "联系电话",
)
DETAIL_WIDTHS = (7, 18, 20, 10, 21, 6, 14, 24, 12, 14)
DETAIL_SHEET = "未参保人员明细"
YIELD_PER = 2000
_BLANK = "\u3000" * 5
FOOT = (
    f"单位负责人：{_BLANK}统计负责人：{_BLANK}填表人：{_BLANK}联系电话：{_BLANK}"
    "报出日期：\u3000\u3000\u3000\u3000年\u3000\u3000月\u3000\u3000日"
)
_SHEET_PART = "xl/worksheets/sheet2.xml"
_MARK = "\u2063DETAIL-ROWS\u2063"  # an invisible cell text marking where the rows go


@dataclass
class Written:
    """What a workbook holds: whether its detail list was masked, and how many persons."""

    detail_rows: int | None = None  # None: no detail list in the workbook
    masked: bool = True


def _styles():
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin")
    return {
        "border": Border(left=thin, right=thin, top=thin, bottom=thin),
        "center": Alignment(horizontal="center", vertical="center", wrap_text=True),
        "left": Alignment(horizontal="left", vertical="center"),
        "right": Alignment(horizontal="right", vertical="center"),
        "title": Font(bold=True, size=16),
        "bold": Font(bold=True),
    }


def _cell(sheet, value, *, font=None, alignment=None, border=None, number_format=None):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=neutralize(value))
    if font is not None:
        cell.font = font
    if alignment is not None:
        cell.alignment = alignment
    if border is not None:
        cell.border = border
    if number_format is not None:
        cell.number_format = number_format
    return cell


def _form_sheet(book, table, styles) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    form = table.form
    sheet = book.create_sheet(form.table_number[:31] or "报表")
    width = 2 + len(form.columns)
    last = get_column_letter(width)
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 14
    for index, column in enumerate(form.columns, 3):
        sheet.column_dimensions[get_column_letter(index)].width = column.width or 9
    sheet.freeze_panes = f"C{HEADER_TOP + 3}"
    # Written with the sheet's first row (write-only): set before any row.
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    merges = []

    def merge(r1, c1, r2, c2):
        if (r1, c1) != (r2, c2):
            merges.append(f"{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2}")

    # Rows 1–3: 表号 / 制表机关 / 批准文号 at the top right (the last four columns merged).
    right_from = max(3, width - 3)
    for row, text in enumerate(
        (
            f"表    号：{form.table_number}",
            f"制表机关：{form.authority}",
            f"批准文号：{form.approval}",
        ),
        1,
    ):
        cells = [None] * (right_from - 1)
        cells.append(_cell(sheet, text, alignment=styles["left"]))
        sheet.append(cells)
        merge(row, right_from, row, width)
    # Row 4: the title.
    sheet.append([_cell(sheet, table.title, font=styles["title"], alignment=styles["center"])])
    merge(4, 1, 4, width)
    # Row 5: 填报单位 and 填报日期 on the left, 计量单位 on the right.
    today = local_today()
    wide = width >= 8
    left_end = 3 if wide else 2
    unit_at = width - 1 if wide else width
    unit_text = f"计量单位：{form.unit}"
    filled = f"填报日期：{today.year}年{today.month}月{today.day}日"
    row5 = [_cell(sheet, f"填报单位（盖章）：{table.region_name}", alignment=styles["left"])]
    row5 += [None] * (left_end - 1)
    if unit_at - 1 >= left_end + 1:
        row5.append(_cell(sheet, filled, alignment=styles["left"]))
        row5 += [None] * (unit_at - len(row5) - 1)
        merge(5, left_end + 1, 5, unit_at - 1)
    else:  # a form too narrow for three parts: the date goes with the unit
        unit_text = f"{filled}　{unit_text}"
    row5.append(_cell(sheet, unit_text, alignment=styles["right"]))
    sheet.append(row5)
    merge(5, 1, 5, left_end)
    merge(5, unit_at, 5, width)

    def header(text):
        return _cell(
            sheet, text, font=styles["bold"], alignment=styles["center"], border=styles["border"]
        )

    # Rows 6–7: the two-row header.
    top = [header(form.name_header), header(form.code_header)]
    bottom = [header(None), header(None)]
    merge(HEADER_TOP, 1, HEADER_TOP + 1, 1)
    merge(HEADER_TOP, 2, HEADER_TOP + 1, 2)
    position = 3
    for group, columns in form.header_groups():
        if group is None:
            for column in columns:
                top.append(header(column.label))
                bottom.append(header(None))
                merge(HEADER_TOP, position, HEADER_TOP + 1, position)
                position += 1
        else:
            top.append(header(group))
            top += [header(None) for _ in columns[1:]]
            bottom += [header(column.label) for column in columns]
            merge(HEADER_TOP, position, HEADER_TOP, position + len(columns) - 1)
            position += len(columns)
    sheet.append(top)
    sheet.append(bottom)
    # Row 8: the code row.
    sheet.append(
        [header("甲"), header("乙"), *(header(n) for n in range(1, len(form.columns) + 1))]
    )

    def data_row(row, name, code, bold=False):
        cells = [
            _cell(
                sheet,
                name,
                font=styles["bold"] if bold else None,
                alignment=styles["center"] if bold else styles["left"],
                border=styles["border"],
            ),
            _cell(
                sheet, code, alignment=styles["center"], border=styles["border"], number_format="@"
            ),
        ]
        for column in form.columns:
            value = row.values.get(column.code)
            cells.append(
                _cell(
                    sheet,
                    "—" if value is None else value,
                    font=styles["bold"] if bold else None,
                    alignment=styles["right"] if value is not None else styles["center"],
                    border=styles["border"],
                    number_format="0" if value is not None else None,
                )
            )
        return cells

    sheet.append(data_row(table.total, table.total.name, "", bold=True))
    for row in table.rows:
        code = row.region_code if row.region_code != table.region_code else ""
        sheet.append(data_row(row, row.name, code))
    last_row = HEADER_TOP + 3 + len(table.rows)
    # 填表说明 and the foot.
    notes = list(form.notes)
    notes += [f"第{form.number(c.code)}栏：{c.note}" for c in form.columns if c.note]
    if table.as_of is not None:
        notes.append(f"数据截至 {format_local(table.as_of)}。")
    row_number = last_row + 1
    for index, note in enumerate(notes):
        prefix = "填表说明：" if index == 0 else ""
        sheet.append([_cell(sheet, f"{prefix}{index + 1}. {note}", alignment=styles["left"])])
        merge(row_number, 1, row_number, width)
        row_number += 1
    sheet.append([])
    sheet.append([_cell(sheet, FOOT, alignment=styles["left"])])
    row_number += 1
    merge(row_number, 1, row_number, width)
    for ref in merges:
        sheet.merged_cells.add(ref)
    # A4 landscape, one page wide, the header rows on every page.
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = 9  # A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.print_title_rows = f"{HEADER_TOP}:{HEADER_TOP + 2}"
    sheet.print_area = f"A1:{last}{row_number}"


def _detail_title(table) -> str:
    return f"{table.region_name}{table.year}年度不参加基本医疗保险人员明细表"


def _detail_heading(book, table, styles, headers, widths):
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    sheet = book.create_sheet(DETAIL_SHEET)
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A3"
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.append(
        [_cell(sheet, _detail_title(table), font=styles["title"], alignment=styles["center"])]
    )
    sheet.merged_cells.add(f"A1:{get_column_letter(len(headers))}1")
    sheet.append(
        [
            _cell(
                sheet, h, font=styles["bold"], alignment=styles["center"], border=styles["border"]
            )
            for h in headers
        ]
    )
    sheet.print_title_rows = "2:2"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = 9
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    return sheet


def _counts_sheet(book, table, styles) -> int:
    """A city or province: per child the number of detail rows (the uninsured)."""
    sheet = _detail_heading(
        book, table, styles, ("序号", "地区", "区划代码", "明细人数", "说明"), (7, 18, 16, 12, 30)
    )
    first = table.form.columns[0].code  # the form's total column (未参保人数)
    for index, row in enumerate(table.rows, 1):
        sheet.append(
            [index, row.name, row.region_code, row.values.get(first), "明细由各县（市、区）报送"]
        )
    sheet.append([None, "合计", None, table.total.values.get(first), "明细由各县（市、区）报送"])
    return 0


def detail_query(actor, region: Region, year: int):
    """The uninsured must-insure persons of the region with their file of the year, as the
    actor's person.view scope lets them be read, in community order."""
    lo, hi = subtree_bounds(region.prefix)
    scope = scope_for(actor, "person.view")
    file = and_(PersonFile.person_id == Person.id, PersonFile.year == year)
    return (
        select(
            Person.region_code,
            Person.name,
            Person.id_number,
            Person.sex,
            Person.phone,
            Person.key_populations,
            PersonFile.id.label("file_id"),
            PersonFile.reason_code,
            PersonFile.state,
        )
        .outerjoin(PersonFile, file)
        .where(
            or_(Person.in_register, Person.in_resident_list),
            Person.excluded_reason.is_(None),
            Person.insured_status != "insured",
            Person.region_code.between(lo, hi),
            scope.clause(Person.region_code, PersonFile.assignee_id),
        )
        .order_by(Person.region_code, Person.id)
    )


class _Texts(dict):
    """Text → its cell text as XML (formula-neutralised, characters XML cannot hold left out,
    escaped), kept for the values that recur (names of regions, labels)."""

    def __missing__(self, value: str) -> str:
        self[value] = found = _xml_text(value)
        return found


def _xml_text(value: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as illegal

    text = neutralize(value)
    if illegal.search(text):
        text = illegal.sub("", text)
    return text.translate(_ESCAPES)


def _detail_rows(actor, region: Region, year: int, unmasked: bool):
    """The detail rows as sheet XML, one string a row from row 3 on (the query streamed; an
    export of a county's uninsured is a few hundred thousand rows: each cell written as
    spreadsheets._row_xml would, without its per-value dispatch)."""
    lo, hi = subtree_bounds(region.prefix)
    names = dict(
        db.session.execute(
            select(Region.code, Region.name).where(Region.code.between(lo, hi))
        ).all()
    )
    texts = _Texts()
    keys: dict[int, str] = {}  # key-population mask → its labels as XML
    sexes = {"1": "男", "2": "女"}
    connection = db.session.connection()
    previous = raise_work_mem(connection)  # no JIT: it spent 3 s compiling this query
    result = db.session.execute(
        detail_query(actor, region, year).execution_options(
            stream_results=True, yield_per=YIELD_PER
        )
    )
    try:
        for index, r in enumerate(result, 1):
            if r.file_id is None:
                reason = state = "未建档"
            else:
                reason = (
                    person_codes.REASON_LABELS.get(r.reason_code, r.reason_code)
                    if r.reason_code
                    else "原因未登记"
                )
                state = person_codes.FILE_STATE_LABELS.get(r.state, r.state)
            mask = r.key_populations or 0
            if mask not in keys:
                keys[mask] = _xml_text("、".join(person_codes.key_population_labels(mask)))
            phone = r.phone if unmasked else mask_phone(r.phone)
            values = (
                texts[names.get(r.region_code[:9] + "000", "")],
                texts[names.get(r.region_code, r.region_code)],
                _xml_text(r.name or ""),
                _xml_text(r.id_number if unmasked else mask_id_number(r.id_number)),
                texts[sexes.get(r.sex, r.sex or "")],
                texts[reason],
                keys[mask],
                texts[state],
                _xml_text(phone) if phone else "",
            )
            n = index + 2
            cells = [f'<row r="{n}"><c r="A{n}" t="n"><v>{index}</v></c>']
            for letter, text in zip("BCDEFGHIJ", values, strict=True):
                if text:
                    cells.append(f'<c r="{letter}{n}" t="inlineStr"><is><t>{text}</t></is></c>')
            cells.append("</row>")
            yield "".join(cells)
    finally:
        result.close()
        restore_work_mem(connection, previous)


def write(table, stream, *, actor=None, detail: bool = True, full: bool = False) -> Written:
    """Write the workbook of `table` to `stream` (a binary file object or a path). The detail
    list is masked unless `full` is asked for and the actor holds person.unmask on the region."""
    from openpyxl import Workbook

    styles = _styles()
    book = Workbook(write_only=True)
    _form_sheet(book, table, styles)
    written = Written()
    region = db.session.get(Region, table.region_code) if not table.frozen else None
    wants_detail = detail and table.form.detail and region is not None and actor is not None
    if wants_detail and region.level < DETAIL_LEVEL:
        _counts_sheet(book, table, styles)
        wants_detail = False
    elif wants_detail:
        _detail_heading(book, table, styles, DETAIL_HEADERS, DETAIL_WIDTHS)
        book.worksheets[-1].append([_MARK])
    if not wants_detail:
        _save(book, stream)
        return written
    unmasked = full and can(actor, "person.unmask", region.code)
    written.masked = not unmasked
    with tempfile.TemporaryDirectory(prefix="report-") as scratch:
        skeleton = Path(scratch) / "skeleton.xlsx"
        book.save(skeleton)
        written.detail_rows = _fill(
            skeleton, stream, _detail_rows(actor, region, table.year, unmasked)
        )
    return written


def _save(book, stream) -> None:
    if isinstance(stream, (str, Path)):
        book.save(stream)
        return
    with tempfile.TemporaryDirectory(prefix="report-") as scratch:
        path = Path(scratch) / "book.xlsx"
        book.save(path)
        with path.open("rb") as source:
            shutil.copyfileobj(source, stream)


def _fill(skeleton: Path, stream, rows) -> int:
    """Copy the skeleton into `stream`, the detail rows (XML strings) streamed into the second
    sheet in place of the marker row (row 3), as spreadsheets.write_plain_table does."""
    marker = _MARK.translate(_ESCAPES).encode()
    count = 0
    with (
        zipfile.ZipFile(skeleton) as source,
        zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename != _SHEET_PART:
                out.writestr(info, data)
                continue
            start = data.index(b'<row r="3"')
            end = data.index(b"</row>", start) + len(b"</row>")
            assert marker in data[start:end]
            with out.open(_SHEET_PART, "w") as sheet:
                sheet.write(data[:start])
                batch: list[str] = []
                for row in rows:
                    count += 1
                    batch.append(row)
                    if len(batch) == 1000:
                        sheet.write("".join(batch).encode())
                        batch.clear()
                sheet.write("".join(batch).encode())
                sheet.write(data[end:])
    return count
