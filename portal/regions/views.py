"""Browse the region tree down from the user's own region(s)."""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from permissions import requires, scope_for
from portal.htmx import is_partial
from portal.regions import queries
from portal.regions.models import Region

bp = Blueprint("regions", __name__, url_prefix="/regions")


@bp.route("/")
@requires("region.view")
def index():
    roots = queries.scope_roots(scope_for(current_user, "region.view"))
    if len(roots) == 1:
        return redirect(url_for("regions.detail", code=roots[0].code))
    return render_template("regions/index.html", roots=roots)


@bp.route("/<code>")
@requires("region.view")
def detail(code: str):
    scope = scope_for(current_user, "region.view")
    region = queries.get_region_or_404(code, scope)
    kids = queries.children(region)
    counts = Region.child_counts([k.code for k in kids])
    trail = [(a, scope.contains(a.code)) for a in queries.ancestors(region)]
    return render_template(
        "regions/detail.html", region=region, children=kids, counts=counts, trail=trail
    )


@bp.route("/search")
@requires("region.view")
def search():
    text = request.args.get("q", "")
    results = queries.search(scope_for(current_user, "region.view"), text)
    template = "regions/_results.html" if is_partial() else "regions/search.html"
    return render_template(template, results=results, q=text)
