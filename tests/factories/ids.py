"""ID numbers (GB 11643) for tests, and patterns that find a full one in a page."""

import re

from portal.persons.idnumbers import check_character

# A full ID number or a full mobile number anywhere in a page (not inside a longer number).
FULL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
FULL_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def make_id(seq: int, birth: str = "19700101", region: str = "320923") -> str:
    """The 18-character ID number of `region` (6 digits), `birth` (YYYYMMDD, not checked: an
    impossible date makes a number the portal must refuse) and sequence `seq` (0-999), with its
    check character."""
    if not 0 <= seq <= 999:
        raise ValueError(f"an ID number's sequence has three digits: {seq}")
    first17 = f"{region}{birth}{seq:03d}"
    if len(first17) != 17:
        raise ValueError(f"a region of 6 digits and a birth date of 8: {region!r}, {birth!r}")
    return first17 + check_character(first17)
