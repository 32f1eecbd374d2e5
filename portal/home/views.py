"""The home page (what this user can do, by role) and the liveness probe."""

from flask import Blueprint, render_template
from flask_login import current_user

from permissions import can, holds, public, signed_in
from portal.dashboard.summary import home_summary
from portal.visits.progress import progress_of
from portal.years.selection import selected_year

bp = Blueprint("home", __name__)


@bp.route("/")
@signed_in
def index():
    to_visit = None
    if holds(current_user, "visit.record"):
        to_visit = progress_of([current_user.id])[current_user.id].to_visit
        # A grid worker's day starts at 我的任务; others see it when files are theirs to visit.
        if not to_visit and can(current_user, "visit.record"):
            to_visit = None
    # Staff and supervisors start from their region's figures; a grid worker from 我的任务.
    summary = None
    if can(current_user, "stats.view"):
        summary = home_summary(current_user, selected_year())
    return render_template(
        "home/index.html", grants=current_user.grants, to_visit=to_visit, summary=summary
    )


@bp.route("/healthz")
@public
def health():
    """For load balancers: says nothing but that the process answers."""
    return {"status": "ok"}
