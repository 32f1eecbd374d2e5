"""Masking of personal data for display: shown masked unless a reveal is granted and logged."""


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
