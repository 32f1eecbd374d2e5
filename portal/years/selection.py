"""The insurance year a request works on: `?year=` on the page, else the user's choice kept in
the session, else the year whose collection period is open (periods.Calendar.current_year)."""

from flask import current_app, request, session

from portal.timeutil import local_today
from portal.years.periods import Calendar, selectable_years

SESSION_KEY = "insurance_year"


def year_calendar() -> Calendar:
    """The collection period of this deployment (COLLECTION_START / COLLECTION_END)."""
    return Calendar.parse(
        current_app.config.get("COLLECTION_START", "09-01"),
        current_app.config.get("COLLECTION_END", "02-29"),
    )


def current_year() -> int:
    """The year whose collection period is open today (China time)."""
    return year_calendar().current_year(local_today())


def choices() -> list[int]:
    return selectable_years(current_year())


def parse_year(value) -> int | None:
    """A year the user may pick, or None."""
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return year if year in choices() else None


def selected_year() -> int:
    """The year of this request: the page's `year` argument, the session's, or the current."""
    for value in (request.args.get("year"), session.get(SESSION_KEY)):
        year = parse_year(value) if value is not None else None
        if year is not None:
            return year
    return current_year()


def remember(year: int) -> None:
    """Keep the user's choice for the pages that follow (the year picker)."""
    if year == current_year():
        session.pop(SESSION_KEY, None)
    else:
        session[SESSION_KEY] = year
