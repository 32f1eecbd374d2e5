"""The codes the duplicate keep-rules read from the insured extract, with their Chinese labels
and the words offices write for them (imports/validation.py reads them).

A word is matched whole first (after removing spaces), then as a part of the cell: 在职职工
is employed, 城乡居民（学生） a student (the more specific word is tried first)."""

from __future__ import annotations

# Person category (人员类别) of an enrollment record: (code, label, accepted words). The order of
# the words across codes matters for `category_code`: more specific words come first.
CATEGORIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("employed", "在职", ("在职", "在岗", "职工", "在职职工", "在职人员", "单位职工")),
    ("retired", "退休", ("退休", "离休", "退休人员", "离休人员", "离退休")),
    (
        "flexible",
        "灵活就业",
        ("灵活就业", "灵活就业人员", "个体", "个体工商户", "非全日制", "临时", "临时工"),
    ),
    (
        "student",
        "学生",
        ("学生", "在校学生", "大学生", "中小学生", "大中专学生", "在校生", "学龄前儿童及中小学生"),
    ),
    ("resident", "城乡居民", ("城乡居民", "居民", "成年居民", "城镇居民", "农村居民")),
    ("other", "其他", ("其他", "其它")),
)
CATEGORY_LABELS = {code: label for code, label, _ in CATEGORIES}
_CATEGORY_WORDS = {word: code for code, _, words in CATEGORIES for word in words}
_CATEGORY_WORDS.update({code: code for code in CATEGORY_LABELS})
# Parts searched inside a longer cell, most specific first (城乡居民学生: 学生, not 居民).
_CATEGORY_PARTS = (
    ("学生", "student"),
    ("在校", "student"),
    ("灵活就业", "flexible"),
    ("非全日制", "flexible"),
    ("临时", "flexible"),
    ("个体", "flexible"),
    ("离休", "retired"),
    ("退休", "retired"),
    ("在职", "employed"),
    ("在岗", "employed"),
    ("职工", "employed"),
    ("居民", "resident"),
)

# Payment status (缴费状态).
PAYMENT_STATUSES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("paid", "正常缴费", ("正常缴费", "已缴费", "正常", "已缴", "缴费正常", "足额缴费")),
    ("unpaid", "欠费", ("欠费", "未缴费", "未缴", "欠缴", "未足额缴费")),
    ("stopped", "停缴", ("停缴", "中断", "中断缴费", "停止缴费", "暂停缴费", "断缴")),
)
PAYMENT_LABELS = {code: label for code, label, _ in PAYMENT_STATUSES}
_PAYMENT_WORDS = {word: code for code, _, words in PAYMENT_STATUSES for word in words}
_PAYMENT_WORDS.update({code: code for code in PAYMENT_LABELS})

# Receiving benefits (享受待遇 / 待遇享受状态): yes or no.
BENEFIT_WORDS = {
    "是": True,
    "享受": True,
    "享受待遇": True,
    "享受中": True,
    "正常享受": True,
    "待遇享受": True,
    "可享受": True,
    "y": True,
    "yes": True,
    "1": True,
    "true": True,
    "否": False,
    "未享受": False,
    "不享受": False,
    "暂停享受": False,
    "待遇暂停": False,
    "未享受待遇": False,
    "不可享受": False,
    "等待期": False,
    "n": False,
    "no": False,
    "0": False,
    "false": False,
}
BENEFIT_LABELS = {True: "享受待遇", False: "未享受待遇"}


def _bare(value: str) -> str:
    return "".join(value.split()).lower()


def category_code(value: str) -> str | None:
    """The category code of a cell's text (已去首尾空格), or None when it cannot be read."""
    raw = _bare(value)
    if not raw:
        return None
    found = _CATEGORY_WORDS.get(raw)
    if found is not None:
        return found
    return next((code for part, code in _CATEGORY_PARTS if part in raw), None)


def payment_code(value: str) -> str | None:
    raw = _bare(value)
    return _PAYMENT_WORDS.get(raw) if raw else None


def benefits_flag(value: str) -> bool | None:
    raw = _bare(value)
    return BENEFIT_WORDS.get(raw) if raw else None
