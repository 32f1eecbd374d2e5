"""The year picker: every signed-in user may choose the insurance year their pages show."""

from flask import Blueprint, flash, request, url_for

from permissions import signed_in
from permissions.guard import redirect_page
from portal.years.selection import parse_year, remember

bp = Blueprint("years", __name__)


@bp.post("/year")
@signed_in
def choose():
    year = parse_year(request.form.get("year"))
    if year is None:
        flash("请选择有效的参保年度。", "error")
    else:
        remember(year)
    target = request.form.get("next") or ""
    # Only a path of this site: never an open redirect.
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("home.index")
    return redirect_page(target)
