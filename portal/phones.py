"""Phone numbers: mobiles are 11 digits beginning 1[3-9]; landlines 0 + area code + number."""

import re

MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９－", "0123456789-")


def normalize_phone(value: str | None) -> str | None:
    """The phone in canonical form, or None when it is neither a mobile nor a landline."""
    if value is None:
        return None
    text = str(value).translate(_FULLWIDTH).strip().replace(" ", "")
    if text.startswith("+86"):
        text = text[3:]
    if MOBILE.match(text) or LANDLINE.match(text):
        return text
    return None


def is_clean_mobile(value: object) -> bool:
    """Whether a cell already holds a mobile number as normalize_phone returns it (the common
    case of an import, checked without a regular expression)."""
    return (
        value.__class__ is str
        and len(value) == 11
        and value.isascii()
        and value.isdigit()
        and value[0] == "1"
        and value[1] in "3456789"
    )
