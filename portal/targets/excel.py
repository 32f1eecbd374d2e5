"""The targets workbook: a template prefilled with a region's children, and reading one back.

The template has the sheet 目标 (header in row 1: 区划代码, 区划名称, 应参保人数, 目标类型,
目标值; one row per child with its current target) and the sheet 填写说明.

Reading accepts the office's own variants: headers 区划代码/代码/行政区划代码, 区划名称/名称/
地区, 目标类型/类型, 目标值/目标 or a column per kind (目标参保率(%) / 目标参保人数), in any
order, the header in any of the first rows of the first sheet that has one; rows in any order;
a row with an empty 目标值 clears that child's target; 合计 rows and blank rows are skipped. A
child absent from the file keeps its target. Codes that do not exist, are not children of the
region, or come twice are errors with their row number. Nothing here checks a value (service
does, when the user confirms): the values come back as text, as if typed into the form.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.imports.columns import normalize_header, unquote
from portal.imports.safety import UnsafeFile, check_sheet_extent, inspect_upload
from portal.regions.models import Region
from portal.spreadsheets import neutralize
from portal.targets.models import TARGET_KIND_LABELS
from portal.targets.service import Entry, value_text

MAX_BYTES = 5 * 1024 * 1024
MAX_CELLS = 200_000
MAX_ROWS = 5_000
HEADER_ROWS = 10
SHEET = "目标"
NOTES_SHEET = "填写说明"
HEADERS = ("区划代码", "区划名称", "应参保人数", "目标类型", "目标值")

# Accepted headers (normalised: imports.columns.normalize_header, a trailing "(…)" unit dropped).
SYNONYMS = {
    "code": ("区划代码", "代码", "行政区划代码", "统计用区划代码", "区划编码", "编码", "地区代码"),
    "name": ("区划名称", "名称", "地区", "区划", "地区名称", "单位", "单位名称"),
    "kind": ("目标类型", "类型", "目标种类"),
    "value": ("目标值", "目标", "目标数", "目标数值"),
    "rate": ("目标参保率", "参保率目标", "目标覆盖率"),
    "count": ("目标参保人数", "参保人数目标", "目标人数"),
}
_HEADER_FIELD = {name: key for key, names in SYNONYMS.items() for name in names}
KIND_WORDS = {
    "rate": {"参保率", "目标参保率", "率", "覆盖率", "百分比", "%", "rate"},
    "count": {"参保人数", "目标参保人数", "人数", "人", "count"},
}
_UNIT = re.compile(r"\([^()]*\)$")
_ROW = re.compile(r"^第 (\d+) 行")
_TOTAL = re.compile(r"^(?:合计|总计|小计|共计)")

NOTES = (
    "填写说明",
    "1. 每行一个下级区划，以“区划代码”为准；行的顺序不限，未列出的区划目标保持不变。",
    "2. 目标类型填写“参保率”或“参保人数”。",
    "3. 参保率按百分数填写：95 或 95% 表示 95%，96.5 表示 96.5%；0.95 表示 0.95%（不是 95%）。"
    "须在 0～100 之间，最多两位小数。",
    "4. 参保人数填写整数，不能超过该区划本参保年度的应参保人数。",
    "5. 目标值留空表示取消该区划的目标。",
    "6. 上传后页面会列出读取结果供核对，点击“保存”后才生效。",
)


class TemplateError(ValueError):
    """The file cannot be read as a targets workbook; the message is Chinese."""


@dataclass
class Parsed:
    """What a workbook says: one entry per child code it names, and the file's errors."""

    entries: dict[str, Entry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rows: int = 0


# --- writing the template ---------------------------------------------------------------------


def write_template(path: Path, rows) -> None:
    """`rows`: (region, figures, target or None) per child, in order."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for width, letter in zip((16, 20, 12, 12, 12), "ABCDE", strict=True):
        sheet.column_dimensions[letter].width = width
    for region, figures, target in rows:
        if target is None:
            kind, value = "", None
        elif target.kind == "rate":
            kind, value = TARGET_KIND_LABELS["rate"], float(Decimal(value_text(target)))
        else:
            kind, value = TARGET_KIND_LABELS["count"], target.value
        sheet.append([region.code, neutralize(region.name), figures.must_insure, kind, value])
        sheet.cell(sheet.max_row, 1).number_format = "@"
    choice = DataValidation(
        type="list", formula1='"参保率,参保人数"', allow_blank=True, showErrorMessage=True
    )
    choice.error = "请选择“参保率”或“参保人数”"
    sheet.add_data_validation(choice)
    choice.add(f"D2:D{max(sheet.max_row, 2)}")
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet(NOTES_SHEET)
    for line in NOTES:
        notes.append([line])
    notes["A1"].font = Font(bold=True)
    notes.column_dimensions["A"].width = 100
    for row in notes.iter_rows():
        row[0].alignment = Alignment(wrap_text=True)
    workbook.save(path)


# --- reading an upload ------------------------------------------------------------------------


def _header_key(value) -> str | None:
    key = normalize_header(unquote(value)) if value is not None else ""
    while key and (shorter := _UNIT.sub("", key)) != key:
        key = shorter
    return _HEADER_FIELD.get(key)


def _map_header(cells) -> dict[str, int] | None:
    """field → 0-based column, when the row names a code or name column and a value column."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _header_key(cell.value)
        if key is not None and key not in columns:
            columns[key] = index
    has_place = "code" in columns or "name" in columns
    has_value = any(k in columns for k in ("value", "rate", "count"))
    return columns if has_place and has_value else None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(round(value, 6))).normalize(), "f")
    return unicodedata.normalize("NFKC", str(unquote(value))).strip()


def _value_text(cell) -> str:
    """A value cell as typed: a number in a percentage-formatted cell is a fraction (0.95 shows
    as 95 %), read as the percent it shows."""
    value = cell.value
    number_format = getattr(cell, "number_format", None) or ""
    if isinstance(value, int | float) and not isinstance(value, bool) and "%" in number_format:
        return _text(float(value) * 100) + "%"
    return _text(value)


def _code(value) -> str:
    text = _text(value).replace(" ", "")
    if text.isdigit() and len(text) in (2, 4, 6, 9):
        text = text.ljust(12, "0")
    return text


def _kind(text: str) -> str | None:
    word = normalize_header(text)
    for kind, words in KIND_WORDS.items():
        if word in words:
            return kind
    return None


def _check(path: Path, filename: str) -> None:
    try:
        kind = inspect_upload(path, filename, MAX_BYTES)
    except UnsafeFile as exc:
        raise TemplateError(exc.message) from exc
    if kind != "xlsx":
        raise TemplateError("请上传 Excel 工作簿（.xlsx），可先下载模板填写。")
    try:
        check_sheet_extent(path, max_cells=MAX_CELLS)
    except UnsafeFile as exc:
        raise TemplateError(exc.message) from exc


def _open(stream):
    from openpyxl import load_workbook

    try:
        return load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to parse is the file's fault
        raise TemplateError(
            "无法读取这个 Excel 文件，请用 Excel 或 WPS 另存为 .xlsx 后再上传。"
        ) from exc


def _find_table(workbook):
    """(rows iterator positioned after the header, header row number, column map)."""
    for sheet in workbook.worksheets:
        rows = sheet.iter_rows()
        for number, cells in enumerate(rows, start=1):
            if number > HEADER_ROWS:
                break
            columns = _map_header(cells)
            if columns is not None:
                return rows, number, columns
    raise TemplateError(
        "没有找到表头：需要“区划代码”（或“区划名称”）列和“目标值”列"
        "（或“目标参保率(%)”“目标参保人数”列）。请使用下载的模板填写。"
    )


def read_targets(path: Path, filename: str, parent: Region, children, current) -> Parsed:
    """Read an uploaded workbook of targets for the children of `parent`.

    `children`: the child regions; `current`: child code → current RegionTarget (a row without
    a 目标类型 keeps the child's current kind). Raises TemplateError for a file that cannot be
    read at all; row problems are in `Parsed.errors`, with their Excel row numbers."""
    _check(path, filename)
    with path.open("rb") as stream:  # read-only workbooks read the sheets lazily
        workbook = _open(stream)
        try:
            return _read(workbook, parent, children, current)
        finally:
            workbook.close()


def _read(workbook, parent: Region, children, current) -> Parsed:
    rows, header_row, columns = _find_table(workbook)
    by_code = {c.code: c for c in children}
    by_name: dict[str, list[str]] = {}
    for child in children:
        by_name.setdefault(child.name, []).append(child.code)
    parsed = Parsed()
    seen: dict[str, int] = {}

    def cell(cells, key):
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else None

    def text(cells, key) -> str:
        found = cell(cells, key)
        return _text(found.value) if found is not None else ""

    unknown: list[tuple[int, str]] = []
    for number, cells in enumerate(rows, start=header_row + 1):
        if number > header_row + MAX_ROWS:
            parsed.errors.append(f"文件行数过多，最多读取 {MAX_ROWS} 行。")
            break
        values = [_text(c.value) for c in cells]
        if not any(values):
            continue
        first = next(v for v in values if v)
        if _TOTAL.match(first):
            continue
        parsed.rows += 1
        code = _code(cell(cells, "code").value) if cell(cells, "code") is not None else ""
        name = text(cells, "name")
        if not code and name:
            matches = by_name.get(name, [])
            if len(matches) != 1:
                parsed.errors.append(
                    f"第 {number} 行：没有区划代码，区划名称“{name}”"
                    + ("对应多个下级区划" if matches else f"不是{parent.name}的下级区划")
                    + "，请填写区划代码。"
                )
                continue
            code = matches[0]
        if not code:
            parsed.errors.append(f"第 {number} 行：缺少区划代码。")
            continue
        if code not in by_code:
            unknown.append((number, code))
            continue
        if code in seen:
            parsed.errors.append(
                f"第 {number} 行：区划代码 {code} 与第 {seen[code]} 行重复，每个区划只能填写一行。"
            )
            continue
        seen[code] = number
        entry = _entry(number, code, cells, cell, text, current.get(code), parsed)
        if entry is not None:
            parsed.entries[code] = entry
    _unknown_errors(unknown, parent, parsed)
    parsed.errors.sort(key=_row_of)  # the unknown codes were checked together, at the end
    return parsed


def _row_of(message: str) -> int:
    found = _ROW.match(message)
    return int(found.group(1)) if found else 1 << 30


def _entry(number, code, cells, cell, text, target, parsed) -> Entry | None:
    kind_text = text(cells, "kind")
    kind = _kind(kind_text) if kind_text else None
    if kind_text and kind is None:
        parsed.errors.append(
            f"第 {number} 行：目标类型“{kind_text}”无法识别，请填写“参保率”或“参保人数”。"
        )
        return None
    found = {
        key: _value_text(cell(cells, key))
        for key in ("value", "rate", "count")
        if cell(cells, key) is not None
    }
    given = {key: v for key, v in found.items() if v}
    if len(given) > 1:
        parsed.errors.append(f"第 {number} 行：填写了多个目标值，每个区划只能填写一个目标。")
        return None
    key, value = next(iter(given.items()), ("value", ""))
    column_kind = key if key in ("rate", "count") else None
    if kind and column_kind and kind != column_kind:
        parsed.errors.append(
            f"第 {number} 行：目标类型“{kind_text}”与所填的列“"
            f"{'目标参保率' if column_kind == 'rate' else '目标参保人数'}”不一致。"
        )
        return None
    kind = kind or column_kind
    if kind is None and value.endswith("%"):
        kind = "rate"
    if kind is None and target is not None:
        kind = target.kind
    if kind is None and value:
        parsed.errors.append(f"第 {number} 行：请填写目标类型（参保率或参保人数）。")
        return None
    return Entry(code, kind or "rate", value)


def _unknown_errors(unknown, parent: Region, parsed: Parsed) -> None:
    if not unknown:
        return
    existing = set(
        db.session.scalars(select(Region.code).where(Region.code.in_([c for _, c in unknown])))
    )
    for number, code in unknown:
        if code in existing:
            parsed.errors.append(f"第 {number} 行：区划代码 {code} 不是{parent.name}的下级区划。")
        else:
            parsed.errors.append(f"第 {number} 行：区划代码 {code} 不存在。")
