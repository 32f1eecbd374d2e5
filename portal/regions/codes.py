"""Pure arithmetic on 12-digit statistical region codes (统计用区划代码).

A region's prefix comes from its level, never from stripping zeros: township 320902010000 has
the prefix "320902010", which stripping zeros would truncate to "32090201".
"""

LEVELS = (1, 2, 3, 4, 5)
PREFIX_LENGTH = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
LEVEL_NAMES = {1: "省", 2: "市", 3: "县/区", 4: "乡镇/街道", 5: "社区/村"}
CODE_LENGTH = 12


def pad(code: str) -> str:
    """Pad a short code from the national CSV (e.g. '3209') to 12 digits."""
    return code.ljust(CODE_LENGTH, "0")


def level_of_short(code: str) -> int:
    """Level of a code as the national CSV writes it (2, 4, 6, 9 or 12 digits)."""
    for level, length in PREFIX_LENGTH.items():
        if len(code) == length:
            return level
    raise ValueError(f"not a region code length: {code!r}")


def prefix(code: str, level: int) -> str:
    """The prefix every descendant of the region shares."""
    return code[: PREFIX_LENGTH[level]]


def subtree_bounds(region_prefix: str) -> tuple[str, str]:
    """Inclusive bounds of all 12-digit codes under a prefix: an index range scan."""
    fill = CODE_LENGTH - len(region_prefix)
    return region_prefix + "0" * fill, region_prefix + "9" * fill


def is_valid_code(code: str) -> bool:
    return len(code) == CODE_LENGTH and code.isdigit()


def parent_code(code: str, level: int) -> str | None:
    """The padded code of the parent region, or None for a province."""
    if level == 1:
        return None
    return pad(code[: PREFIX_LENGTH[level - 1]])


def within(code: str, region_prefix: str) -> bool:
    """True when the 12-digit code equals or lies under the region with that prefix."""
    return code.startswith(region_prefix)
