"""National ID numbers (公民身份号码, GB 11643-1999): normalise and validate one cell at a time.

Pure functions for the Excel/CSV import pipeline: no Flask, no database. The error messages are
Chinese and go into the error workbook, so each one says what is wrong and how to fix it.

Decisions the callers rely on:

- A numeric cell (int or float from the spreadsheet reader) is always an error, never a number to
  guess: Excel keeps only 15 significant digits, and even a 15-digit legacy number typed into a
  numeric cell is rejected so that the rule stays simple ("set the column to text"). Text that
  looks like a printed number ("3.20923199001011E+17", "320923199001011234.0", "3,209,231,...")
  gets the same error.
- Tolerated noise, removed before validation: whitespace of any kind anywhere (spaces, tabs,
  newlines, U+3000, NBSP), zero-width characters and BOM, dashes between groups ("-", "－", "‐",
  "–", "—"), a leading apostrophe (Excel's "keep as text" marker) and a CSV ="..." wrapper.
  Full-width digits and Ｘ/ｘ, lowercase x and the multiplication sign × (a common IME slip for X)
  become ASCII. Removing this noise never lets a wrong number pass: what remains must still have
  the right length, a real birth date and the right check character.
- The region code (first 6 digits) is not checked here: the numbers of foreigners' permanent
  residence cards (starting with 9) follow the same scheme, and region codes change over time.
- Birth dates must lie between 1890-01-01 and today (inclusive). Pass `today` once per import so
  that a run crossing midnight judges every row alike.
- The error for a wrong check character deliberately does not reveal the expected character:
  the mistake is usually in another digit, and "fixing" the last one would hide it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from numbers import Number

__all__ = [
    "IdCheck",
    "birth_date",
    "check_character",
    "convert_15_to_18",
    "normalize_id_number",
    "sex",
]

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"  # indexed by (weighted sum mod 11)
EARLIEST_BIRTH = date(1890, 1, 1)

_EARLIEST_KEY = EARLIEST_BIRTH.strftime("%Y%m%d")
_LAST_CHARACTERS = frozenset("0123456789X")
_DIGITS = frozenset("0123456789")
_ALLOWED = _LAST_CHARACTERS  # digits and X; X only last, which _clean checks separately
# Every MMDD of a leap year; 0229 additionally needs a leap year.
_MONTH_DAYS = frozenset(
    f"{m:02d}{d:02d}"
    for m, n in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1)
    for d in range(1, n + 1)
)

_DASHES = "-‐‑‒–—―－"  # ASCII hyphen-minus and its look-alikes, full-width last
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_TRANSLATION = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},  # full-width digits
        "Ｘ": "X",
        "ｘ": "X",
        "x": "X",
        "×": "X",
        "．": ".",
        "，": ",",
        "＋": "+",
        "Ｅ": "E",
        "ｅ": "E",
        **dict.fromkeys(_DASHES, None),
        **dict.fromkeys(_ZERO_WIDTH, None),
    }
)
# Text that is a number as Excel or a CSV export prints it (after the translation above).
_NUMERIC_TEXT = re.compile(
    r"[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+"  # scientific notation
    r"|[0-9]+\.0+"  # a float printed with ".0"
    r"|[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?"  # thousands separators
)

# --- messages (Chinese: they go into the error workbook) --------------------------------------

MSG_MISSING = "缺少身份证号，请补填18位公民身份号码后重新导入"
MSG_NUMERIC_CELL = (
    "身份证号单元格被Excel存成了数字（常显示为3.20923E+17这类科学计数法，或末几位变成0），"
    "Excel只保留15位有效数字，后面几位已经丢失，无法还原。"
    "请把该列单元格格式设为“文本”，按身份证原件重新录入完整号码后再导入"
)
MSG_NUMERIC_TEXT = (
    "身份证号「{shown}」是数字格式（科学计数法、带小数点或千位分隔符），说明它曾被Excel存成数字，"
    "末几位已经丢失，无法还原。"
    "请把该列单元格格式设为“文本”，按身份证原件重新录入完整号码后再导入"
)
MSG_NOT_TEXT = (
    "身份证号单元格的内容不是文字（读到的是{kind}），"
    "请把该列单元格格式设为“文本”，重新录入完整号码后再导入"
)
MSG_NOT_AN_ID = "身份证号一栏填的「{shown}」不是身份证号，请填写18位公民身份号码"
MSG_ILLEGAL = (
    "身份证号含有非法字符「{chars}」：只能由数字组成，最后一位可以是X，请删除或改正这些字符"
)
MSG_X_POSITION = "身份证号中的X只能出现在最后一位（第18位），请核对号码"
MSG_LENGTH = "身份证号应为18位（旧证为15位），当前为{n}位{note}，请核对是否多录或漏录了数字"
MSG_DATE_INVALID = "身份证号第7至14位的出生日期「{ymd}」不是有效日期，请对照身份证原件核对"
MSG_DATE_FUTURE = "身份证号第7至14位的出生日期「{ymd}」晚于今天，请对照身份证原件核对"
MSG_DATE_TOO_EARLY = "身份证号第7至14位的出生日期「{ymd}」早于1890年，请对照身份证原件核对"
MSG_DATE_INVALID_15 = "15位旧身份证号第7至12位的出生日期「{ymd}」不是有效日期，请对照身份证原件核对"
MSG_CHECK = "身份证号校验位错误，可能有数字录入错误，请对照身份证原件逐位核对"
MSG_CHECK_ZEROS = (
    "；号码末尾是000，很可能曾被Excel存成数字而丢失了末几位，请把该列设为“文本”格式后重新录入"
)

_LOOKALIKES = {"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"}
_TYPE_NAMES = {"bool": "逻辑值TRUE/FALSE", "datetime": "日期时间", "date": "日期", "time": "时间"}


@dataclass(frozen=True, slots=True)
class IdCheck:
    """The outcome of one cell: the 18-character number, or a Chinese error message."""

    value: str | None
    error: str | None = None
    converted_from_15: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


# --- building blocks --------------------------------------------------------------------------


def _check_character(first17: str) -> str:
    """The check character of 17 ASCII digits (not verified: callers have done that)."""
    # The weight of digit i (1-based) is 2**(18 - i) mod 11 and 13 = 2 (mod 11), so the weighted
    # sum is congruent to 2 * int(first17, 13): one C-level int() instead of 17 multiplications.
    # Base 13 would also accept a-c and "_", hence the callers' check for ASCII digits.
    return CHECK_CHARACTERS[2 * int(first17, 13) % 11]


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _real_date(ymd: str) -> bool:
    """Whether 8 ASCII digits YYYYMMDD name a day of the proleptic Gregorian calendar."""
    md = ymd[4:]
    return md in _MONTH_DAYS and (md != "0229" or _is_leap(int(ymd[:4])))


def _is_ascii_digits(text: str, n: int) -> bool:
    return len(text) == n and text.isascii() and text.isdigit()


@lru_cache(maxsize=8)
def day_key(day: date) -> str:
    """YYYYMMDD of a day, as birth dates stand in ID numbers."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def check_character(first17: str) -> str:
    """The GB 11643 check character ("0"-"9" or "X") of the first 17 digits of an ID number."""
    if not isinstance(first17, str) or not _is_ascii_digits(first17, 17):
        raise ValueError(f"expected 17 ASCII digits, got {first17!r}")
    return _check_character(first17)


def convert_15_to_18(id15: str) -> str:
    """The 18-character form of a legacy 15-digit number: "19" before YYMMDD, check appended."""
    if not isinstance(id15, str) or not _is_ascii_digits(id15, 15):
        raise ValueError(f"expected 15 ASCII digits, got {id15!r}")
    id18 = _convert_15(id15)
    if id18 is None:
        raise ValueError(f"invalid birth date {id15[6:12]!r} in {id15!r}")
    return id18


def _convert_15(id15: str) -> str | None:
    """convert_15_to_18 for 15 ASCII digits already checked; None if the date is impossible."""
    if not _real_date("19" + id15[6:12]):
        return None
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + _check_character(first17)


def _require_shape_18(id18: str) -> None:
    if (
        not isinstance(id18, str)
        or not _is_ascii_digits(id18[:17], 17)
        or len(id18) != 18
        or id18[17] not in _LAST_CHARACTERS
    ):
        raise ValueError(f"expected an 18-character ID number, got {id18!r}")


def birth_date(id18: str) -> date:
    """The birth date encoded in an 18-character ID number (ValueError if impossible)."""
    _require_shape_18(id18)
    return date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def sex(id18: str) -> str:
    """GB/T 2261.1 sex code from the 17th character: "1" male (odd), "2" female (even)."""
    _require_shape_18(id18)
    return "1" if int(id18[16]) % 2 else "2"


# --- the cell validator -----------------------------------------------------------------------


def normalize_id_number(raw: str | int | float | None, today: date | None = None) -> IdCheck:
    """Normalise and validate one spreadsheet cell holding a national ID number.

    `raw` is what the reader returns: str for text cells, int/float for numeric ones, None for
    empty ones. `today` bounds the birth date (default: the current date).
    """
    if _clean_shape(raw):  # hot path: already clean, as most rows are
        return _validate_18(raw, day_key(today or date.today()))
    cleaned = _clean(raw)
    if cleaned.__class__ is IdCheck:
        return cleaned
    if len(cleaned) == 15:
        id18 = _convert_15(cleaned)
        if id18 is None:
            return IdCheck(None, MSG_DATE_INVALID_15.format(ymd=cleaned[6:12]))
        return IdCheck(id18, None, True)
    return _validate_18(cleaned, day_key(today or date.today()))


def is_clean_and_valid(raw: object, today_key: str) -> bool:
    """Whether normalize_id_number would return `raw` itself, valid: a str of 17 ASCII digits
    and a digit or X, with a real birth date up to `today_key` (day_key(today)) and the right
    check character. For bulk paths that need a yes or no, not the reason."""
    return _clean_shape(raw) and _problem_18(raw, today_key) is None


def _clean_shape(raw: object) -> bool:
    return (
        raw.__class__ is str
        and len(raw) == 18
        and raw.isascii()
        and raw[:17].isdigit()
        and raw[17] in _LAST_CHARACTERS
    )


def _validate_18(s: str, today_key: str) -> IdCheck:
    """Date and check character of 18 characters already known to be 17 digits + digit/X."""
    problem = _problem_18(s, today_key)
    return IdCheck(s) if problem is None else IdCheck(None, problem)


def _problem_18(s: str, today_key: str) -> str | None:
    """What is wrong with 17 digits + digit/X (the date, the check character), or None."""
    ymd = s[6:14]
    md = s[10:14]  # _real_date inlined: this runs for every row
    if md not in _MONTH_DAYS or md == "0229" and not _is_leap(int(s[6:10])):
        return MSG_DATE_INVALID.format(ymd=ymd)
    if ymd > today_key:
        return MSG_DATE_FUTURE.format(ymd=ymd)
    if ymd < _EARLIEST_KEY:
        return MSG_DATE_TOO_EARLY.format(ymd=ymd)
    # _check_character inlined, for the same reason.
    if CHECK_CHARACTERS[2 * int(s[:17], 13) % 11] != s[17]:
        return MSG_CHECK + (MSG_CHECK_ZEROS if s.endswith("000") else "")
    return None


def _clean(raw: object) -> str | IdCheck:
    """The slow path: the cell as 15 digits or 17 digits + digit/X, or the error to report."""
    if raw is None:
        return IdCheck(None, MSG_MISSING)
    if not isinstance(raw, str):
        if isinstance(raw, bool):
            return IdCheck(None, MSG_NOT_TEXT.format(kind=_TYPE_NAMES["bool"]))
        if isinstance(raw, Number):  # int, float, Decimal: a numeric cell
            return IdCheck(None, MSG_NUMERIC_CELL)
        kind = _TYPE_NAMES.get(type(raw).__name__, type(raw).__name__)
        return IdCheck(None, MSG_NOT_TEXT.format(kind=kind))

    # All Unicode whitespace (str.split knows U+3000, NBSP, tabs, newlines) goes first, so that
    # the wrappers below are found however the cell is padded.
    text = "".join(raw.split())
    if text.startswith('="') and text.endswith('"') and len(text) >= 3:
        text = text[2:-1]  # a CSV export's ="..." wrapper that keeps Excel from converting
    elif text.startswith("'"):
        text = text[1:]  # Excel's "keep as text" marker, when it survives into a CSV
    text = text.translate(_TRANSLATION)
    if not text:
        return IdCheck(None, MSG_MISSING)

    if _ALLOWED.issuperset(text):
        n = len(text)
        x = text.find("X")
        if x == -1 and n in (15, 18) or x == 17 and n == 18:
            return text
        if x != -1 and n in (15, 18):
            return IdCheck(None, MSG_X_POSITION)
        # Otherwise the length is wrong, which explains more than where an X stands.
        note = "（不计空格和分隔符）" if n != len(raw.strip()) else ""
        return IdCheck(None, MSG_LENGTH.format(n=n, note=note))

    if _NUMERIC_TEXT.fullmatch(text):
        return IdCheck(None, MSG_NUMERIC_TEXT.format(shown=_shown(raw)))
    if not _DIGITS.intersection(text):
        return IdCheck(None, MSG_NOT_AN_ID.format(shown=_shown(raw)))
    bad = "".join(dict.fromkeys(c for c in text if c not in _ALLOWED))
    message = MSG_ILLEGAL.format(chars=bad)
    hints = [f"{c}应为数字{d}" for c, d in _LOOKALIKES.items() if c in bad]
    if hints:
        message += "（" + "，".join(hints) + "）"
    return IdCheck(None, message)


def _shown(raw: str) -> str:
    """The cell as quoted in a message: stripped, and cut short if someone pasted a paragraph."""
    text = raw.strip()
    return text if len(text) <= 30 else text[:30] + "…"
