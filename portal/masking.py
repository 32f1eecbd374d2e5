"""Masking of personal data for display: shown masked unless a reveal is granted and logged."""

import re


def mask_id_number(value: str | None) -> str:
    """3209**********123X: first 4 and last 4 characters."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """138****5678 for mobiles; landlines keep the area code and the last 2 digits."""
    if not value:
        return ""
    digits = value.strip()
    if len(digits) == 11 and digits.isdigit():
        return digits[:3] + "****" + digits[-4:]
    if len(digits) <= 4:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


def mask_name(value: str | None) -> str:
    """张** : the surname's first character, the rest as stars (a person outside one's scope)."""
    if not value:
        return ""
    return value[0] + "*" * max(len(value) - 1, 1)


# An ID number (18 characters, the last may be X) or a mainland mobile number inside free text,
# not part of a longer run of digits.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def mask_free_text(value: str | None) -> str | None:
    """Free text (a search term, a typed username) with any ID number or mobile number in it
    masked, the rest kept."""
    if not value:
        return value
    value = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), value)
    return _MOBILE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), value)
