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


def local_today():
    """Today's date in China (due dates and follow-ups are local dates)."""
    return (utcnow() + CHINA).date()


def local_midnight_utc(day) -> datetime:
    """The naive UTC instant at which the local date `day` begins."""
    return datetime(day.year, day.month, day.day) - CHINA
