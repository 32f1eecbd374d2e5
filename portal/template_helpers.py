"""What templates may call: permission checks (never their own logic), masking, dates, labels."""

from flask import Flask, g
from flask_login import current_user
from markupsafe import Markup

import permissions
from permissions.roles import label as role_label
from portal import masking
from portal.regions.codes import LEVEL_NAMES
from portal.timeutil import format_local
from portal.years import selection as years


def region_names(codes) -> dict[str, str]:
    """Names of region codes for one page: a page calls this once with all its codes (one query);
    the names are kept for the request, so a second call asks only for codes not seen yet."""
    from portal.persons.queries import region_names as lookup

    known = g.setdefault("region_names", {})
    wanted = {c for c in codes if c} - known.keys()
    if wanted:
        found = lookup(wanted)
        known.update({c: found.get(c) for c in wanted})
    return {c: n for c, n in known.items() if n}


def region_label(code: str | None, names: dict | None = None, *, with_code: bool = False) -> str:
    """A region as its name (the code beside it, muted, where an office needs it); a code that
    names no region stays a code. `names` from `region_names`; without it, looked up alone."""
    if not code:
        return "—"
    name = (names if names is not None else region_names([code])).get(code)
    if not name:
        return code
    if with_code:
        return Markup('{} <span class="muted">{}</span>').format(name, code)
    return name


def install(app: Flask) -> None:
    @app.context_processor
    def inject():
        def can(action, region_code=None, obj=permissions.ANY):
            return permissions.shows(current_user, action, region_code, obj)

        def holds(action):
            """Show a menu entry: the page opens for assigned-only grants too."""
            return permissions.shows(current_user, action) or permissions.shows(
                current_user, action, obj=permissions.ASSIGNED
            )

        return {
            "can": can,
            "holds": holds,
            "role_label": role_label,
            "level_name": LEVEL_NAMES.get,
            "region_names": region_names,
            "insurance_year_choices": years.choices,
            "current_insurance_year": years.current_year,
        }

    app.add_template_filter(format_local, "local_time")
    app.add_template_filter(region_label, "region")
    app.add_template_filter(masking.mask_phone, "mask_phone")
    app.add_template_filter(masking.mask_id_number, "mask_id")
