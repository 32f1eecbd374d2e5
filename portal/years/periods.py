"""Insurance year N is paid for during its collection period (集中缴费期), from 1 September of
N−1 to the end of February of N by default, and covers the calendar year N.

Provinces shift the period a little: `COLLECTION_START` ("MM-DD", in year N−1) and
`COLLECTION_END` ("MM-DD", in year N; "02-29" means the last day of February) are configuration.
Everything that depends on the year calls these functions; nothing else computes one.
"""

import calendar
from dataclasses import dataclass
from datetime import date

DEFAULT_START = "09-01"
DEFAULT_END = "02-29"


@dataclass(frozen=True)
class Calendar:
    """The collection period's days, from the configuration."""

    start: tuple[int, int] = (9, 1)  # (month, day) in year N−1
    end: tuple[int, int] = (2, 29)  # (month, day) in year N, clipped to the month's last day

    @classmethod
    def parse(cls, start: str = DEFAULT_START, end: str = DEFAULT_END) -> "Calendar":
        return cls(_month_day(start, "COLLECTION_START"), _month_day(end, "COLLECTION_END"))

    def collection_period(self, year: int) -> tuple[date, date]:
        """First and last day of insurance year `year`'s collection period."""
        return _day(year - 1, self.start), _day(year, self.end)

    def coverage_period(self, year: int) -> tuple[date, date]:
        """The days insurance year `year` covers: the calendar year."""
        return date(year, 1, 1), date(year, 12, 31)

    def current_year(self, today: date) -> int:
        """The year offices work on: the one whose collection period is open, else (between
        periods) the year being covered now."""
        upcoming = today.year + 1
        start, _end = self.collection_period(upcoming)
        if today >= start:
            return upcoming
        return today.year

    def collecting(self, year: int, today: date) -> bool:
        """Whether `year`'s collection period is open on `today`."""
        start, end = self.collection_period(year)
        return start <= today <= end


def _month_day(value: str, name: str) -> tuple[int, int]:
    try:
        month, day = (int(part) for part in value.strip().split("-"))
        date(2024, month, day)  # a leap year: 02-29 is allowed
    except ValueError as error:
        raise ValueError(f"{name} must be MM-DD, not {value!r}") from error
    return month, day


def _day(year: int, month_day: tuple[int, int]) -> date:
    month, day = month_day
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


# The years a user may pick: far enough back for last year's files, one ahead for planning.
EARLIEST_YEAR = 2020


def selectable_years(current: int) -> list[int]:
    return list(range(current + 1, EARLIEST_YEAR - 1, -1))
