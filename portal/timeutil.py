"""Time helpers: the database stores naive UTC; users read China Standard Time."""

from datetime import UTC, datetime, timedelta

CHINA = timedelta(hours=8)


def utcnow() -> datetime:
    """Naive UTC now (portable across SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(value: datetime | None) -> datetime | None:
    return None if value is None else value + CHINA


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(value)
    return "" if local is None else local.strftime(fmt)
