"""Names as lists give them: the register and the insured extract write the same name with
spaces of every kind (ASCII, full-width 　, no-break), between the characters too (“张　三”)."""


def normalize_name(value) -> str | None:
    """The name with every whitespace character removed; None when nothing is left."""
    if value is None:
        return None
    name = "".join(str(value).split())  # str.split() splits on full-width spaces too
    return name or None
