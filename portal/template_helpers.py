"""What templates may call: permission checks (never their own logic), masking, dates, labels."""

from flask import Flask
from flask_login import current_user

import permissions
from permissions.roles import label as role_label
from portal import masking
from portal.regions.codes import LEVEL_NAMES
from portal.timeutil import format_local
from portal.years import selection as years


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
            "insurance_year_choices": years.choices,
            "current_insurance_year": years.current_year,
        }

    app.add_template_filter(format_local, "local_time")
    app.add_template_filter(masking.mask_phone, "mask_phone")
    app.add_template_filter(masking.mask_id_number, "mask_id")
