"""下载模板: a workbook for each list kind, ready to be filled in and imported.

Sheet 1 (the list): the header row (each field's first synonym, which the portal reads whole),
one example row of a synthetic person (an ID number with its right check character, matching
sex and birth date) that imports cleanly for the user who downloaded it (the community is the
first one in their scope), the ID column formatted as text so that Excel keeps its 18 digits,
dropdowns for the code lists (险种, 参保状态, 人员类别, 性别) and column widths.
Sheet 2 (填写说明): each column, whether it is required, and what it accepts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

from portal.duplicates.codes import CATEGORIES, PAYMENT_STATUSES
from portal.imports.columns import FIELD_BY_NAME, LIST_KINDS, ListKind
from portal.persons.codes import ENROLLMENT_STATUSES, KEY_POPULATIONS, SCHEMES
from portal.persons.idnumbers import check_character

EXAMPLE_NAME = "张示例"
SEXES = ("男", "女")


@dataclass(frozen=True)
class Column:
    """How a field appears in a template."""

    width: int
    note: str  # what the column accepts (填写说明)
    choices: tuple[str, ...] = ()  # a dropdown
    choices_strict: bool = True  # False: the dropdown suggests, other text is allowed
    text: bool = False  # formatted as text ('@')
    date_format: str | None = None


COLUMNS: dict[str, Column] = {
    "id_number": Column(
        22,
        "18位公民身份号码，末位可为X。本列已设为“文本”格式：请勿改为数字格式，"
        "否则Excel会把号码变成科学计数法并丢掉末几位。",
        text=True,
    ),
    "name": Column(12, "姓名，与身份证一致。"),
    "sex": Column(8, "男 或 女；可不填，按身份证号判断。", choices=SEXES),
    "birth_date": Column(14, "如 1990-01-01；可不填，按身份证号判断。", date_format="yyyy-mm-dd"),
    "phone": Column(15, "11位手机号码或固定电话。", text=True),
    "region": Column(
        18,
        "所属社区（村）的12位区划代码，或社区（村）名称；须在导入的区划之内。",
        text=True,
    ),
    "hukou_region": Column(16, "户籍地的6位、9位或12位区划代码；可不填。", text=True),
    "address": Column(30, "详细地址，如 某某路12号3室。"),
    "scheme": Column(12, "职工医保 或 居民医保。", choices=tuple(label for _, label in SCHEMES)),
    "insured_region": Column(
        16,
        "参保地的6位或12位区划代码，可为外县、外市、外省；不填则为导入的区划。",
        text=True,
    ),
    "start_date": Column(
        14, "参保开始日期，如 2026-01-01；不填则为当年1月1日。", date_format="yyyy-mm-dd"
    ),
    "end_date": Column(14, "参保终止日期；仍在参保的不填。", date_format="yyyy-mm-dd"),
    "status": Column(
        12,
        "正常、暂停 或 终止；不填为正常。",
        choices=tuple(label for _, label in ENROLLMENT_STATUSES),
    ),
    "category": Column(
        22,
        "人员类别，可填："
        + "、".join(k.label for k in KEY_POPULATIONS)
        + "。同一人有多个类别时写在一行，用“、”分隔。",
        choices=tuple(k.label for k in KEY_POPULATIONS),
        choices_strict=False,
    ),
    "stop_date": Column(
        14,
        "停止缴费的日期，如 2026-07-31；与“末次缴费年月”至少填一项。",
        date_format="yyyy-mm-dd",
    ),
    "last_paid_month": Column(
        14, "最后一次缴费的年月，如 2026-07 或 202607；与“停保日期”至少填一项。", text=True
    ),
    "employer": Column(24, "参保单位名称；学生填学校名称。"),
    "employer_region": Column(
        16,
        "就业地（学生填学籍地，即学校所在地）的6位、9位或12位区划代码，或地区名称；可不填。"
        "重复参保时据此判断保留哪条参保关系。",
        text=True,
    ),
    "payment_status": Column(
        12,
        "正常缴费、欠费 或 停缴；可不填。",
        choices=tuple(label for _, label, _ in PAYMENT_STATUSES),
        choices_strict=False,
    ),
    "paid_until": Column(14, "缴费截止日期，如 2026-12-31；可不填。", date_format="yyyy-mm-dd"),
    "continuous_months": Column(
        12, "连续参保月数（整数，如 24）；可不填。跨制度重复参保时据此判断。"
    ),
    "benefits": Column(
        10, "当前是否享受医保待遇：是 或 否；可不填。", choices=("是", "否"), choices_strict=False
    ),
    "activated_on": Column(
        14, "激活医保电子凭证的日期，如 2026-10-08；可不填。", date_format="yyyy-mm-dd"
    ),
}


# A field that means something else in one list kind: the insured extract's 人员类别 is the
# person's category (在职 / 退休 / 灵活就业 / 学生 …), not a key population.
KIND_COLUMNS: dict[tuple[str, str], Column] = {
    ("insured", "category"): Column(
        12,
        "人员类别："
        + "、".join(label for _, label, _ in CATEGORIES)
        + "；可不填。重复参保时据此判断保留哪条参保关系。",
        choices=tuple(label for _, label, _ in CATEGORIES),
        choices_strict=False,
    ),
}


def column_spec(kind: ListKind, name: str) -> Column:
    return KIND_COLUMNS.get((kind.code, name)) or COLUMNS[name]


def requirement(kind: ListKind, name: str) -> str:
    if name in kind.required:
        return "必填"
    for group in kind.required_any:
        if name in group:
            others = "”“".join(FIELD_BY_NAME[f].synonyms[0] for f in group if f != name)
            return f"与“{others}”至少填一项"
    return "选填"


def header_of(name: str) -> str:
    return FIELD_BY_NAME[name].synonyms[0]


def example_values(kind: ListKind, community: str | None, today: date) -> dict[str, object]:
    """One synthetic person for `kind`, valid for a user whose first community is `community`."""
    place = (community or "320923001001")[:6]
    first17 = f"{place}19900101123"  # 17th digit odd: a man
    id_number = first17 + check_character(first17)
    stopped = today.replace(day=1) - timedelta(days=1)  # the end of last month
    values: dict[str, object] = {
        "id_number": id_number,
        "name": EXAMPLE_NAME,
        "sex": "男",
        "birth_date": date(1990, 1, 1),
        "phone": "13800000000",
        "region": community or "",
        "hukou_region": (community or "")[:6],
        "address": "示例路1号",
        "scheme": "职工医保",
        "insured_region": (community or "")[:6],
        "start_date": date(today.year, 1, 1),
        "end_date": None,
        "status": "正常",
        "category": KEY_POPULATIONS[1].label,
        "stop_date": stopped,
        "last_paid_month": None,
        "employer": "示例有限公司",
        "activated_on": today - timedelta(days=1),
        "employer_region": (community or "")[:6],
        "payment_status": "正常缴费",
        "paid_until": date(today.year, 12, 31),
        "continuous_months": 24,
        "benefits": "是",
    }
    if kind.code == "insured":
        values["category"] = "在职"
    return {name: values.get(name) for name in kind.fields}


def build(kind_code: str, community: str | None = None, today: date | None = None) -> bytes:
    """The template workbook of a list kind (household, resident, insured, key_population,
    lapsed, e_credential) as .xlsx bytes; `community`: the 12-digit code the example row uses."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    kind = LIST_KINDS[kind_code]
    today = today or date.today()
    fields = kind.fields
    example = example_values(kind, community, today)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = kind.label
    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    rows_with_validation = 5000
    for index, name in enumerate(fields, 1):
        spec = column_spec(kind, name)
        letter = get_column_letter(index)
        head = sheet.cell(row=1, column=index, value=header_of(name))
        head.font = bold
        head.alignment = Alignment(wrap_text=True, vertical="center")
        if requirement(kind, name) != "选填":
            head.fill = required_fill
        dimension = sheet.column_dimensions[letter]
        dimension.width = spec.width
        value = example[name]
        cell = sheet.cell(row=2, column=index, value=value)
        if spec.text:
            dimension.number_format = "@"
            cell.number_format = "@"
        elif spec.date_format:
            dimension.number_format = spec.date_format
            cell.number_format = spec.date_format
        if spec.choices:
            validation = DataValidation(
                type="list",
                formula1='"' + ",".join(spec.choices) + '"',
                allow_blank=True,
                showDropDown=False,  # openpyxl's name: False shows the in-cell arrow
                showErrorMessage=True,
                errorStyle="stop" if spec.choices_strict else "warning",
                errorTitle=header_of(name),
                error="请从下拉列表中选择。" if spec.choices_strict else "不在列表中，请核对。",
                promptTitle=header_of(name),
                prompt=spec.note[:255],
                showInputMessage=True,
            )
            validation.add(f"{letter}2:{letter}{rows_with_validation}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet("填写说明")
    notes.append(["列名", "是否必填", "填写说明"])
    for cell in notes[1]:
        cell.font = bold
    for name in fields:
        notes.append([header_of(name), requirement(kind, name), column_spec(kind, name).note])
    notes.append([])
    notes.append(
        [
            "说明",
            "",
            f"第2行是示例（虚构人员“{EXAMPLE_NAME}”），导入前请删除或改为真实数据。"
            "表头名称可以沿用本单位的写法（如“身份证号码”“所在社区代码”），系统按含义识别；"
            "识别不了的列，上传后可在页面上选择对应关系。",
        ]
    )
    if kind_code == "key_population":
        notes.append(
            ["", "", "重点人群名单标记已在人员档案中的人员：请先导入户籍人口或常住人口名单。"]
        )
    if kind_code == "e_credential":
        notes.append(
            [
                "",
                "",
                "激活名单把已在人员档案中的人员标记为“已激活医保电子凭证”（只标记，不取消）："
                "请先导入户籍人口或常住人口名单；辖区外管理的人员退回。",
            ]
        )
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 20
    notes.column_dimensions["C"].width = 80
    for row in notes.iter_rows(min_row=2):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def filename(kind_code: str) -> str:
    return f"{LIST_KINDS[kind_code].label}-导入模板.xlsx"
