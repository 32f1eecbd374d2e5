"""The insurance year: its collection period's boundaries, and the year a user works on."""

from datetime import date

import pytest

from portal.years.periods import Calendar

pytestmark = pytest.mark.no_db

DEFAULT = Calendar.parse()


@pytest.mark.parametrize(
    ("today", "year"),
    [
        (date(2026, 8, 31), 2026),  # between periods: the year being covered
        (date(2026, 9, 1), 2027),  # the 2027 collection period opens
        (date(2026, 12, 2), 2027),
        (date(2027, 1, 1), 2027),
        (date(2027, 2, 28), 2027),  # its last day (2027 is not a leap year)
        (date(2027, 3, 1), 2027),  # closed: still the year being covered
        (date(2028, 2, 29), 2028),  # a leap year's last day of February
    ],
)
def test_the_current_year_is_the_one_whose_collection_period_is_open(today, year):
    assert DEFAULT.current_year(today) == year


def test_collection_period_of_2027_runs_from_september_to_the_end_of_february():
    assert DEFAULT.collection_period(2027) == (date(2026, 9, 1), date(2027, 2, 28))
    assert DEFAULT.collection_period(2028) == (date(2027, 9, 1), date(2028, 2, 29))
    assert DEFAULT.collecting(2027, date(2027, 2, 28))
    assert not DEFAULT.collecting(2027, date(2027, 3, 1))
    assert not DEFAULT.collecting(2027, date(2026, 8, 31))
    assert DEFAULT.coverage_period(2027) == (date(2027, 1, 1), date(2027, 12, 31))


def test_a_province_that_opens_in_october_and_closes_in_march():
    shifted = Calendar.parse("10-15", "03-31")
    assert shifted.current_year(date(2026, 10, 14)) == 2026
    assert shifted.current_year(date(2026, 10, 15)) == 2027
    assert shifted.collection_period(2027) == (date(2026, 10, 15), date(2027, 3, 31))


@pytest.mark.parametrize("bad", ["9-31", "13-01", "September", ""])
def test_a_misconfigured_period_is_refused_at_start(bad):
    with pytest.raises(ValueError):
        Calendar.parse(bad, "02-29")
