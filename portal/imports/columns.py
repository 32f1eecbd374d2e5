"""The lists offices exchange and their columns, as data: fields, header synonyms, list kinds.

Headers are matched whole, after normalisation, never by substring: 户主姓名 must not be taken for
姓名, nor 户主身份证号 for 身份证号, nor 户籍地址 for 户籍地. A header that still does not match
is tried once more without a trailing parenthesised note ("身份证号（18位）" → 身份证号), so
meaningful parentheses such as 村（社区） are matched as they are first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from portal.persons.codes import KEY_POPULATION_BY_CODE, SCHEME_LABELS

__all__ = [
    "FIELDS",
    "HOUSEHOLD",
    "INSURED",
    "KEY_POPULATION",
    "LAPSED",
    "LIST_KINDS",
    "RESIDENT",
    "ColumnMap",
    "Field",
    "ListKind",
    "column_letter",
    "map_columns",
    "match_header",
    "missing_message",
    "normalize_header",
]


@dataclass(frozen=True)
class Field:
    """One column the importer understands: internal name, Chinese label, accepted headers."""

    name: str
    label: str
    synonyms: tuple[str, ...]  # in order of preference; the first is the template's header


# The order of synonyms matters: when two columns of one sheet map to the same field, the column
# whose header comes earlier in the list wins (居住地址 beats 户籍地址 for the address).
FIELDS: tuple[Field, ...] = (
    Field(
        "id_number",
        "公民身份号码",
        (
            "公民身份号码",
            "身份证号",
            "身份证号码",
            "证件号码",
            "公民身份证号",
            "公民身份证号码",
            "居民身份证号码",
            "居民身份证号",
            "身份证件号码",
            "个人身份证号",
            "人员身份证号",
            "参保人身份证号",
            "身份证",
            "证件号",
            "社会保障号码",
            "社会保障号",
            "gmsfhm",
            "sfzh",
            "zjhm",
        ),
    ),
    Field(
        "name",
        "姓名",
        (
            "姓名",
            "人员姓名",
            "参保人姓名",
            "参保人员姓名",
            "个人姓名",
            "成员姓名",
            "对象姓名",
            "名字",
            "xm",
        ),
    ),
    Field("sex", "性别", ("性别", "xb")),
    Field(
        "birth_date",
        "出生日期",
        ("出生日期", "出生年月", "出生年月日", "出生时间", "生日", "csrq"),
    ),
    Field(
        "phone",
        "联系电话",
        (
            "联系电话",
            "手机号码",
            "手机号",
            "手机",
            "电话",
            "电话号码",
            "联系方式",
            "联系手机",
            "移动电话",
            "本人电话",
            "本人手机号",
            "lxdh",
            "sjhm",
        ),
    ),
    Field(
        "region",
        "所属社区（村）",
        (
            "所属社区",
            "村（社区）",
            "村（社区）代码",
            "村（社区）编码",
            "村（社区）名称",
            "社区代码",
            "社区编码",
            "社区名称",
            "社区",
            "社区（村）",
            "社区（村）代码",
            "所属社区（村）",
            "所属村（社区）",
            "所在社区",
            "所在村（社区）",
            "所属村居",
            "村居",
            "村（居）",
            "村（居）委会",
            "村居委会",
            "村委会",
            "居委会",
            "所属村",
            "村",
            "行政区划代码",
            "区划代码",
            "所属区划",
        ),
    ),
    Field(
        "hukou_region",
        "户籍地",
        (
            "户籍地",
            "户籍所在地",
            "户口所在地",
            "户籍地代码",
            "户籍地区划代码",
            "户籍区划",
            "户籍地行政区划",
            "户籍所在村（社区）",
        ),
    ),
    Field(
        "address",
        "居住地址",
        (
            "居住地址",
            "现住址",
            "现居住地址",
            "经常居住地址",
            "常住地址",
            "家庭住址",
            "家庭地址",
            "住址",
            "地址",
            "详细地址",
            "联系地址",
            "户籍地址",
        ),
    ),
    Field(
        "scheme",
        "险种",
        (
            "险种",
            "参保险种",
            "险种类型",
            "险种名称",
            "险种类别",
            "参保类型",
            "参保类别",
            "医保类型",
        ),
    ),
    Field(
        "insured_region",
        "参保地",
        (
            "参保地",
            "参保地区",
            "参保地区划",
            "参保地代码",
            "参保地行政区划",
            "参保行政区划",
            "参保所在地",
            "参保统筹区",
            "统筹区",
            "统筹地区",
            "统筹区编码",
            "统筹区名称",
        ),
    ),
    Field(
        "start_date",
        "参保日期",
        (
            "参保日期",
            "参保开始日期",
            "参保起始日期",
            "参保时间",
            "开始日期",
            "起始日期",
            "开始时间",
            "生效日期",
        ),
    ),
    Field(
        "end_date",
        "终止日期",
        (
            "终止日期",
            "参保终止日期",
            "参保结束日期",
            "结束日期",
            "截止日期",
            "失效日期",
            "终止时间",
            "结束时间",
        ),
    ),
    Field(
        "status",
        "参保状态",
        ("参保状态", "人员参保状态", "参保人员状态", "险种参保状态", "状态"),
    ),
    Field(
        "category",
        "人员类别",
        (
            "人员类别",
            "重点人群类别",
            "重点人群",
            "人群类别",
            "困难群体类别",
            "困难人员类别",
            "特殊人群类别",
            "救助类别",
            "困难类型",
            "对象类别",
            "身份类别",
            "人员身份",
            "人员类型",
            "类别",
        ),
    ),
    Field(
        "stop_date",
        "停保/断缴日期",
        (
            "停保日期",
            "断缴日期",
            "停缴日期",
            "断保日期",
            "中断日期",
            "中断缴费日期",
            "暂停缴费日期",
            "停止缴费日期",
            "停保时间",
            "断缴时间",
            "中断缴费时间",
            "暂停缴费时间",
            "停止缴费时间",
        ),
    ),
    Field(
        "last_paid_month",
        "末次缴费年月",
        (
            "末次缴费年月",
            "最后缴费年月",
            "末次缴费月份",
            "最后缴费月份",
            "缴费截止年月",
            "缴至年月",
            "缴费至",
            "最后缴费时间",
            "末次缴费月",
            "缴费截止月份",
            "缴费终止年月",
        ),
    ),
    Field(
        "employer",
        "单位名称",
        (
            "单位名称",
            "参保单位",
            "参保单位名称",
            "工作单位",
            "所在单位",
            "用人单位",
            "原单位",
            "原参保单位",
        ),
    ),
)
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Headers that are neither mapped nor worth reporting as unused.
IGNORED_HEADERS = frozenset({"序号", "序", "行号", "排序", "no", "no."})


@dataclass(frozen=True)
class ListKind:
    """A kind of list and the columns it needs.

    `required`: every one of these columns must be present. `required_any`: for each group, at
    least one of its columns must be present. `fixable`: required fields that the user may instead
    fix for the whole file at upload (the scheme of a one-scheme extract, the category of a list of
    one key population); see `with_fixed`. `fixed` holds such choices.
    """

    code: str
    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    required_any: tuple[tuple[str, ...], ...] = ()
    fixable: tuple[str, ...] = ()
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field read from this kind of list, required first."""
        seen: dict[str, None] = dict.fromkeys(self.required)
        for group in self.required_any:
            seen.update(dict.fromkeys(group))
        seen.update(dict.fromkeys(self.optional))
        return tuple(seen)

    @property
    def fixed_values(self) -> dict[str, str]:
        return dict(self.fixed)

    def with_fixed(self, field_name: str, value: str) -> ListKind:
        """The same kind with `field_name` set for the whole file: its column becomes optional."""
        if field_name not in self.fixable:
            raise ValueError(f"{self.code}: {field_name} cannot be fixed at upload")
        allowed = _FIXABLE_VALUES[field_name]
        if value not in allowed:
            raise ValueError(f"{field_name}: unknown code {value!r}")
        return replace(
            self,
            required=tuple(f for f in self.required if f != field_name),
            optional=(field_name, *(f for f in self.optional if f != field_name)),
            fixed=(*((f, v) for f, v in self.fixed if f != field_name), (field_name, value)),
        )


_FIXABLE_VALUES: dict[str, Iterable[str]] = {
    "category": KEY_POPULATION_BY_CODE,
    "scheme": SCHEME_LABELS,
}

_PERSON_OPTIONAL = ("sex", "birth_date", "phone", "hukou_region", "address")

HOUSEHOLD = ListKind(
    "household", "户籍人口", required=("id_number", "name", "region"), optional=_PERSON_OPTIONAL
)
RESIDENT = ListKind(
    "resident", "常住人口", required=("id_number", "name", "region"), optional=_PERSON_OPTIONAL
)
INSURED = ListKind(
    "insured",
    "参保人员",
    required=("id_number", "name", "scheme"),
    optional=(
        "insured_region",
        "start_date",
        "end_date",
        "status",
        "employer",
        "sex",
        "birth_date",
        "phone",
        "region",
        "address",
    ),
    fixable=("scheme",),
)
KEY_POPULATION = ListKind(
    "key_population",
    "重点人群",
    required=("id_number", "name", "category"),
    optional=("region", *_PERSON_OPTIONAL),
    fixable=("category",),
)
LAPSED = ListKind(
    "lapsed",
    "断缴人员",
    required=("id_number", "name"),
    required_any=(("stop_date", "last_paid_month"),),
    optional=(
        "employer",
        "scheme",
        "insured_region",
        "region",
        "phone",
        "address",
        "sex",
        "birth_date",
    ),
)
LIST_KINDS: dict[str, ListKind] = {
    k.code: k for k in (HOUSEHOLD, RESIDENT, INSURED, KEY_POPULATION, LAPSED)
}


# --- header normalisation --------------------------------------------------------------------

_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")
_BRACKETS = str.maketrans({"【": "(", "】": ")", "[": "(", "]": ")", "〔": "(", "〕": ")"})
_REQUIRED_NOTE = re.compile(r"\((?:必填|必填项|选填|可选|非必填|可不填)\)$")
_EDGE_MARKS = re.compile(r"^[*※★☆#]+|[*※★☆:;,.。、]+$")
_TRAILING_NOTE = re.compile(r"\([^()]*\)$")


def normalize_header(value: Any) -> str:
    """The comparable form of a header cell.

    NFKC (full-width → half-width: （）→ (), ：→ :, ＩＤ → id), no whitespace at all (spaces,
    newlines from Alt+Enter, U+3000, NBSP), no invisible characters, 【】[]〔〕 read as (),
    required/optional notes and edge markers (*姓名, 姓名*, 姓名：, 姓名（必填）) removed,
    ASCII lowercased.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = unicodedata.normalize("NFKC", text).translate(_BRACKETS)
    text = "".join(_INVISIBLE.sub("", text).split())
    for _ in range(2):  # "姓名(必填)*" and "*姓名:" both reduce in two rounds at most
        text = _EDGE_MARKS.sub("", _REQUIRED_NOTE.sub("", text))
    return text.lower()


def _build_lookup() -> dict[str, tuple[str, int]]:
    lookup: dict[str, tuple[str, int]] = {}
    for f in FIELDS:
        for rank, synonym in enumerate(f.synonyms):
            key = normalize_header(synonym)
            if key in lookup and lookup[key][0] != f.name:
                raise AssertionError(f"header {synonym!r} claimed by {lookup[key][0]} and {f.name}")
            lookup.setdefault(key, (f.name, rank))
    return lookup


_LOOKUP = _build_lookup()


def match_header(value: Any) -> tuple[str, int] | None:
    """(field, synonym rank) for a header cell, or None."""
    key = normalize_header(value)
    if not key:
        return None
    hit = _LOOKUP.get(key)
    if hit is None:
        stripped = _TRAILING_NOTE.sub("", key)
        if stripped and stripped != key:
            hit = _LOOKUP.get(stripped)
    return hit


# --- mapping ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMap:
    """Which column (0-based index) holds each field of a list kind, and what went wrong.

    `missing`: required fields with no column. `missing_any`: groups of `required_any` none of
    whose columns is present. `unused`: (column, header text) of non-blank headers this list kind
    does not read. `duplicates`: (column, header text, field) of further columns for a field that
    is already mapped to a better or earlier column; they are ignored.
    """

    fields: dict[str, int]
    missing: tuple[str, ...] = ()
    missing_any: tuple[tuple[str, ...], ...] = ()
    unused: tuple[tuple[int, str], ...] = ()
    duplicates: tuple[tuple[int, str, str], ...] = ()
    headers: tuple[str, ...] = field(default=(), repr=False)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.missing_any

    def score(self) -> tuple[int, int]:
        """How header-like the row is: (required needs met, fields mapped)."""
        return (-(len(self.missing) + len(self.missing_any)), len(self.fields))


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return " ".join(text.split())


def map_columns(header_cells: Sequence[Any], kind: ListKind) -> ColumnMap:
    """Map the header row onto the fields of `kind`."""
    wanted = set(kind.fields)
    best: dict[str, tuple[int, int]] = {}  # field → (rank, column)
    unused: list[tuple[int, str]] = []
    losers: list[tuple[int, str, str]] = []
    headers = tuple(_header_text(v) for v in header_cells)
    for column, value in enumerate(header_cells):
        hit = match_header(value)
        if hit is None or hit[0] not in wanted:
            if headers[column] and normalize_header(value) not in IGNORED_HEADERS:
                unused.append((column, headers[column]))
            continue
        name, rank = hit
        current = best.get(name)
        if current is None or rank < current[0]:
            if current is not None:
                losers.append((current[1], headers[current[1]], name))
            best[name] = (rank, column)
        else:
            losers.append((column, headers[column], name))
    fields = {name: column for name, (_rank, column) in sorted(best.items(), key=lambda i: i[1][1])}
    return ColumnMap(
        fields=fields,
        missing=tuple(f for f in kind.required if f not in fields),
        missing_any=tuple(g for g in kind.required_any if not any(f in fields for f in g)),
        unused=tuple(unused),
        duplicates=tuple(sorted(losers)),
        headers=headers,
    )


def column_letter(index: int) -> str:
    """Excel's column name for a 0-based index: 0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _synonym_hint(name: str, limit: int = 6) -> str:
    f = FIELD_BY_NAME[name]
    shown = [s for s in f.synonyms if not s.isascii()][:limit]
    more = " 等" if len(f.synonyms) > len(shown) else ""
    return f"“{f.label}”（可用列名：{'、'.join(shown)}{more}）"


def missing_message(
    kind: ListKind, missing: Sequence[str], missing_any: Sequence[Sequence[str]] = ()
) -> str:
    """Tell the user, in Chinese, which required columns are missing and which headers work."""
    parts = [_synonym_hint(name) for name in missing]
    for group in missing_any:
        parts.append("，或".join(_synonym_hint(name) for name in group) + "，至少需要其中一列")
    lines = [f"“{kind.label}”名单缺少必需的列："]
    lines += [f"· {p}" for p in parts]
    lines.append("请在表头行补上这些列（列名写法见括号内），或检查表头是否写错了字。")
    return "\n".join(lines)
