"""The lists offices exchange and their columns, as data: fields, header synonyms, list kinds.

A header cell is matched, after normalisation (full-width → half-width, no whitespace or line
breaks, required-notes and edge markers removed), in this order:

1. whole, against every field's synonyms (quality 0): 村（社区）, 户籍地址;
2. whole, without its parenthesised notes (quality 1): 身份证号码（18位）, 联系电话（手机）;
3. as a known name with known affixes around it (quality 2): a prefix from PREFIXES
   (所属/所在/现/户籍/常住/本人/参保人…) and a suffix from SUFFIXES (代码/编码/名称/号码…),
   each allowed only for the fields it is listed with. Some prefixes change the meaning: 户籍社区
   is the registered place (hukou_region), 参保区划代码 the insured place, 居住社区 the
   community. Anything else around the name refuses the match: 户主姓名 is not 姓名, 联系人电话
   is not the person's phone, 所在网格 is nothing. Of several names found in one header the
   longest wins; when the longest could be two fields, the header is left unmatched (for the
   mapping step to decide).

Between columns, a better match beats a worse one for the same field (exact before affixed,
then the longer name, then the synonym's rank, then the column further left); the others are
reported as duplicates and ignored.

A mapping chosen by a user for a header row (the mapping step, mappings.py) is carried by the
list kind (`ListKind.remembered`, by header signature) and wins over recognition for a header
row with the same signature.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NamedTuple

from portal.persons.codes import KEY_POPULATION_BY_CODE, SCHEME_LABELS

__all__ = [
    "FIELDS",
    "HOUSEHOLD",
    "E_CREDENTIAL",
    "INSURED",
    "KEY_POPULATION",
    "LAPSED",
    "LIST_KINDS",
    "RESIDENT",
    "ColumnMap",
    "Field",
    "ListKind",
    "Match",
    "PREFIXES",
    "SUFFIXES",
    "column_letter",
    "header_signature",
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
            "就业单位",
            "学校",
            "学校名称",
            "就读学校",
            "单位或学校",
            "工作单位或学校",
            "单位/学校",
        ),
    ),
    # What the duplicate keep-rules read from the insured extract (duplicates/rules.py).
    Field(
        "employer_region",
        "就业地/学籍地",
        (
            "就业地",
            "就业地区",
            "就业所在地",
            "就业地/学籍地",
            "就业地或学籍地",
            "工作地",
            "工作所在地",
            "单位所在地",
            "单位所在地区",
            "学籍地",
            "学籍所在地",
            "学校所在地",
            "就读地",
        ),
    ),
    Field(
        "payment_status",
        "缴费状态",
        (
            "缴费状态",
            "个人缴费状态",
            "本年度缴费状态",
            "当年缴费状态",
            "缴费状况",
            "缴费情况",
            "缴费标志",
        ),
    ),
    Field(
        "paid_until",
        "缴费截止日期",
        (
            "缴费截止日期",
            "缴费截止日",
            "缴费到期日期",
            "缴费到期日",
            "缴费有效期至",
            "缴至日期",
            "缴费至日期",
        ),
    ),
    Field(
        "continuous_months",
        "连续参保月数",
        (
            "连续参保月数",
            "连续缴费月数",
            "连续参保月份",
            "连续缴费月份",
            "连续参保时长",
            "连续缴费时长",
            "连续参保时间",
            "职工医保连续参保月数",
            "连续参加职工医保月数",
        ),
    ),
    Field(
        "benefits",
        "享受待遇",
        (
            "享受待遇",
            "待遇享受状态",
            "是否享受待遇",
            "享受待遇状态",
            "待遇享受",
            "待遇状态",
            "待遇享受标志",
            "是否可享受待遇",
        ),
    ),
    Field(
        "activated_on",
        "激活日期",
        (
            "激活日期",
            "激活时间",
            "电子凭证激活日期",
            "医保电子凭证激活日期",
            "电子凭证激活时间",
            "医保电子凭证激活时间",
            "凭证激活日期",
            "激活日",
            "首次激活日期",
            "首次激活时间",
        ),
    ),
)
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Headers that are neither mapped nor worth reporting as unused.
IGNORED_HEADERS = frozenset({"序号", "序", "行号", "排序", "no", "no."})


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


_PERSON = ("id_number", "name", "sex", "birth_date", "phone")
_WHERE = ("region", "hukou_region", "insured_region", "employer", "employer_region")
_LIVES = ("region", "address")
# Words offices put before a known name, and what each does to it: field → field it then means
# (a field not listed refuses the prefix). Prefixes may follow one another (现居住社区,
# 户籍所在社区); the one nearest the name applies first.
PREFIXES: dict[str, dict[str, str]] = {
    "本人": _same(*_PERSON, "category"),
    "个人": _same(*_PERSON),
    "人员": _same(*_PERSON, "category", "status"),
    "成员": _same(*_PERSON),
    "居民": _same(*_PERSON),
    "对象": _same(*_PERSON, "category"),
    "被保险人": _same(*_PERSON),
    "参保人": _same(*_PERSON, "region", "hukou_region", "address", "status", "category"),
    "参保人员": _same(*_PERSON, "region", "hukou_region", "address", "status", "category"),
    "所属": _same(*_WHERE),
    "所在": _same(*_WHERE),
    "现": _same(*_LIVES, "phone", "employer"),
    "现在": _same(*_LIVES, "phone", "employer"),
    "目前": _same(*_LIVES, "phone", "employer"),
    "当前": _same(*_LIVES, "phone", "employer", "status"),
    "居住": _same(*_LIVES),
    "常住": _same(*_LIVES),
    "现居住": _same(*_LIVES),
    "实际居住": _same(*_LIVES),
    "经常居住": _same(*_LIVES),
    "登记": _same(*_LIVES, "phone"),
    "联系": _same("phone"),
    # The registered place: the community of a registered person is where they are registered.
    "户籍": {"region": "hukou_region", "hukou_region": "hukou_region", "address": "address"},
    "户口": {"region": "hukou_region", "hukou_region": "hukou_region", "address": "address"},
    # The insured place: 参保区划代码 is where the person is insured, not where they live.
    "参保": {
        "region": "insured_region",
        **_same("insured_region", "scheme", "status", "start_date", "end_date", "employer"),
    },
}
_PLACES = ("region", "hukou_region", "insured_region", "employer_region")
_CODED = (*_PLACES, "scheme", "status", "category", "sex", "payment_status", "benefits")
# Words offices put after a known name, and the fields they may follow.
SUFFIXES: dict[str, tuple[str, ...]] = {
    "代码": _CODED,
    "编码": _CODED,
    "代号": _CODED,
    "名称": (*_CODED, "employer"),
    "全称": (*_PLACES, "employer"),
    "简称": (*_PLACES, "employer"),
    "编号": _PLACES,
    "区划": _PLACES,
    "区划代码": _PLACES,
    "行政区划代码": _PLACES,
    "号": ("id_number", "phone"),
    "号码": ("id_number", "phone"),
    "码": ("id_number", "phone"),
}
# What a group cell over several columns ends with, left out when it is read as their prefix
# (户籍信息 over 社区 | 地址 reads 户籍社区 | 户籍地址).
GROUP_SUFFIXES = ("基本信息", "基本情况", "信息", "情况", "资料", "数据")


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
    # Mappings users chose for header rows this kind's recognition could not map:
    # (header signature, ((field, 0-based column), …)), see header_signature and mappings.py.
    remembered: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()

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

    @property
    def remembered_fields(self) -> dict[str, dict[str, int]]:
        """Header signature → the chosen mapping (field → 0-based column)."""
        return {signature: dict(pairs) for signature, pairs in self.remembered}

    def with_remembered(self, mappings: Mapping[str, Mapping[str, int]]) -> ListKind:
        """The same kind reading a header row whose signature is in `mappings` as mapped there."""
        known = self.remembered_fields
        for signature, chosen in mappings.items():
            known[signature] = {f: int(c) for f, c in chosen.items() if f in self.fields}
        return replace(
            self,
            remembered=tuple(
                (signature, tuple(sorted(chosen.items(), key=lambda i: i[1])))
                for signature, chosen in sorted(known.items())
            ),
        )

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
    # The ID number is the key: national extracts often come without names (or with an empty
    # column); a name, when given, is checked against the register (identity mismatch).
    required=("id_number", "scheme"),
    optional=(
        "name",
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
        # The facts the duplicate keep-rules read (duplicates/rules.py), where the file has them.
        "category",
        "employer_region",
        "payment_status",
        "paid_until",
        "last_paid_month",
        "continuous_months",
        "benefits",
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
    required=("id_number",),
    required_any=(("stop_date", "last_paid_month"),),
    optional=(
        "name",
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
# The activation list of the medical-insurance e-credential (医保电子凭证): the ID number is the
# key; the platform's extracts often carry a name and the day of activation.
E_CREDENTIAL = ListKind(
    "e_credential",
    "医保电子凭证激活名单",
    required=("id_number",),
    optional=("name", "activated_on"),
)
LIST_KINDS: dict[str, ListKind] = {
    k.code: k for k in (HOUSEHOLD, RESIDENT, INSURED, KEY_POPULATION, LAPSED, E_CREDENTIAL)
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
# The names tried inside a longer header: not the Latin abbreviations (xm, sfzh), which would be
# found inside any Latin word; longest first.
_NAMES = sorted(((k, v) for k, v in _LOOKUP.items() if not k.isascii()), key=lambda i: -len(i[0]))
_PREFIX_RULES = {normalize_header(k): v for k, v in PREFIXES.items()}
_SUFFIX_RULES = {normalize_header(k): frozenset(v) for k, v in SUFFIXES.items()}
_ANY_NOTE = re.compile(r"\([^()]*\)")
_CJK = re.compile("[\u4e00-\u9fff]")
MAX_HEADER = 40  # characters: a longer cell is a title or data, never tried with affixes


class Match(NamedTuple):
    """How a header cell names a field: `quality` 0 whole, 1 without its notes, 2 with affixes;
    `length` of the known name found in it; `rank` of that name among the field's synonyms."""

    field: str
    rank: int
    quality: int = 0
    length: int = 0


def match_header(value: Any) -> Match | None:
    """How a header cell names a field, or None (no field, or two fields equally)."""
    if value is None:
        return None
    return _match_key(normalize_header(unquote(value)))


@lru_cache(maxsize=4096)
def _match_key(key: str) -> Match | None:
    if not key:
        return None
    variants = [key]
    stripped = key
    while (shorter := _TRAILING_NOTE.sub("", stripped)) != stripped and shorter:
        stripped = shorter
        variants.append(stripped)
    bare = _ANY_NOTE.sub("", key)
    if bare and bare not in variants:
        variants.append(bare)
    for quality, variant in enumerate(variants):
        hit = _LOOKUP.get(variant)
        if hit is not None:
            return Match(hit[0], hit[1], min(quality, 1), len(variant))
    if len(key) > MAX_HEADER or not _CJK.search(key):
        return None
    for variant in variants:
        found = _affixed(variant)
        if found is not None:
            return found
    return None


def _affixed(key: str) -> Match | None:
    """The known name inside `key` with only known affixes around it (the longest name; None
    when that name could mean two fields)."""
    best: dict[str, tuple[int, int]] = {}  # field → (length, rank)
    longest = 0
    for name, (field_name, rank) in _NAMES:
        if len(name) < longest:
            break  # longer names were all tried: a shorter one never beats them
        start = key.find(name)
        while start != -1:
            head, tail = key[:start], key[start + len(name) :]
            if (head or tail) and _suffixes_allow(tail, field_name):
                for meaning in _through_prefixes(head, field_name):
                    longest = len(name)
                    if meaning not in best or rank < best[meaning][1]:
                        best[meaning] = (len(name), rank)
            start = key.find(name, start + 1)
    if len(best) != 1:
        return None
    ((meaning, (length, rank)),) = best.items()
    return Match(meaning, rank, 2, length)


@lru_cache(maxsize=1024)
def _suffixes_allow(tail: str, field_name: str) -> bool:
    if not tail:
        return True
    return any(
        tail.startswith(suffix)
        and field_name in allowed
        and _suffixes_allow(tail[len(suffix) :], field_name)
        for suffix, allowed in _SUFFIX_RULES.items()
    )


@lru_cache(maxsize=1024)
def _through_prefixes(head: str, field_name: str) -> frozenset[str]:
    """What a name meaning `field_name` means once `head`, a run of prefixes, stands before it."""
    if not head:
        return frozenset((field_name,))
    meanings: set[str] = set()
    for prefix, rule in _PREFIX_RULES.items():
        if head.endswith(prefix) and field_name in rule:
            meanings |= _through_prefixes(head[: -len(prefix)], rule[field_name])
    return frozenset(meanings)


_NEUTRALISED = ("'=", "'+", "'-", "'@")


def unquote(value: Any) -> Any:
    """A text cell our own export neutralised ('=…, '+…, '-…, '@…) as it was; any other value
    as it is (spreadsheets.neutralize is the other way)."""
    if value.__class__ is str and value.startswith(_NEUTRALISED):
        return value[1:]
    return value


def header_signature(cells: Sequence[Any]) -> str:
    """A fingerprint of a header row: its normalised cells, the empty ones at its end left out.
    Two files with the same header row, however spaced, have the same signature."""
    keys = [normalize_header(unquote(v)) for v in cells]
    while keys and not keys[-1]:
        keys.pop()
    return hashlib.sha256("\x1f".join(keys).encode()).hexdigest()


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
    remembered: bool = False  # mapped as a user chose for this header row (mappings.py)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.missing_any

    @property
    def signature(self) -> str:
        return header_signature(self.headers)

    def score(self) -> tuple[int, int, int]:
        """How header-like the row is: (required needs met, chosen by a user, fields mapped)."""
        return (
            -(len(self.missing) + len(self.missing_any)),
            int(self.remembered),
            len(self.fields),
        )


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return " ".join(text.split())


def map_columns(header_cells: Sequence[Any], kind: ListKind) -> ColumnMap:
    """Map the header row onto the fields of `kind` (as a user chose, for a remembered row)."""
    headers = tuple(_header_text(unquote(v)) for v in header_cells)
    if kind.remembered:
        chosen = kind.remembered_fields.get(header_signature(header_cells))
        if chosen is not None and all(0 <= c < len(headers) for c in chosen.values()):
            return _chosen_map(chosen, headers, kind)
    wanted = set(kind.fields)
    best: dict[str, tuple[tuple[int, int, int, int], int]] = {}  # field → (preference, column)
    unused: list[tuple[int, str]] = []
    losers: list[tuple[int, str, str]] = []
    for column, value in enumerate(header_cells):
        hit = match_header(value)
        if hit is None or hit.field not in wanted:
            if headers[column] and normalize_header(value) not in IGNORED_HEADERS:
                unused.append((column, headers[column]))
            continue
        # Whole before affixed; among affixed, the longer name; then the synonym's rank.
        preference = (hit.quality, -hit.length if hit.quality == 2 else 0, hit.rank, column)
        current = best.get(hit.field)
        if current is None or preference < current[0]:
            if current is not None:
                losers.append((current[1], headers[current[1]], hit.field))
            best[hit.field] = (preference, column)
        else:
            losers.append((column, headers[column], hit.field))
    fields = {name: column for name, (_p, column) in sorted(best.items(), key=lambda i: i[1][1])}
    return ColumnMap(
        fields=fields,
        missing=tuple(f for f in kind.required if f not in fields),
        missing_any=tuple(g for g in kind.required_any if not any(f in fields for f in g)),
        unused=tuple(unused),
        duplicates=tuple(sorted(losers)),
        headers=headers,
    )


def _chosen_map(chosen: dict[str, int], headers: tuple[str, ...], kind: ListKind) -> ColumnMap:
    fields = dict(sorted(chosen.items(), key=lambda i: i[1]))
    used = set(fields.values())
    return ColumnMap(
        fields=fields,
        missing=tuple(f for f in kind.required if f not in fields),
        missing_any=tuple(g for g in kind.required_any if not any(f in fields for f in g)),
        unused=tuple(
            (c, h)
            for c, h in enumerate(headers)
            if h and c not in used and normalize_header(h) not in IGNORED_HEADERS
        ),
        headers=headers,
        remembered=True,
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
