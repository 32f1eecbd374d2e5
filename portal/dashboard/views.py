"""The dashboard pages (统计): a region's figures, its children side by side, their export, and
its charts (inline in the page; each also as an SVG file and a PNG to download)."""

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)

from permissions import can, requires
from portal.charts import dashboard as charts
from portal.charts.png import to_png
from portal.dashboard import duplicates as dashboard_duplicates
from portal.dashboard import export as dashboard_export
from portal.dashboard import regions, table
from portal.downloads import send_bytes, send_written_file
from portal.request_cycle import current_actor
from portal.stats.figures import child_figures, region_figures
from portal.targets import service as targets
from portal.timeutil import format_local, utcnow
from portal.years.selection import current_year, selected_year

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.route("/")
@requires(regions.ACTION)
def index():
    """The user's own top region."""
    region = regions.home_region(current_actor())
    if region is None:
        abort(404)
    return redirect(url_for("dashboard.region", region_code=region.code))


@bp.route("/<region_code>")
@requires(regions.ACTION)
def region(region_code: str):
    actor = current_actor()
    place = regions.get_region_or_404(region_code, actor)
    year = selected_year()
    sort = table.Sort.parse(request.args.get("sort"), request.args.get("dir"))
    figures = region_figures(place.code, year)
    children = child_figures(place.code, year)
    dashboard_duplicates.attach_open_cases(children, place.code, year, figures)
    links = table.Links(actor, year, linked_to_lists=year == current_year())
    own_target = targets.target_of(place.code, year)  # set by the parent
    return render_template(
        "dashboard/region.html",
        region=place,
        trail=regions.trail(place, actor),
        year=year,
        figures=figures,
        headline=table.headline(figures, place.code, year),
        rows=table.child_rows(children, sort, targets.targets_of_children(place.code, year)),
        own_target=own_target,
        own_target_label=targets.target_label(own_target),
        own_progress=targets.progress(own_target, figures),
        may_set_targets=bool(children) and can(actor, "target.set", place.code),
        total=table.Row(place, figures, None),
        columns=table.COLUMNS,
        display=table.display,
        sort=sort,
        sort_choices=table.SORT_CHOICES,
        links=links,
        may_export=bool(children) and regions.may_export(actor, place),
        charts=charts.region_charts(charts.Sources(place, year, figures, children)),
        duplicates=dashboard_duplicates.section(actor, place.code, year),
    )


@bp.route("/<region_code>/export.xlsx")
@requires(regions.EXPORT_ACTION)
def export(region_code: str):
    actor = current_actor()
    place = regions.get_exportable_region_or_404(region_code, actor)
    year = selected_year()
    sort = table.Sort.parse(request.args.get("sort"), request.args.get("dir"))
    path, title = dashboard_export.export_children(actor, place, year, sort)
    name = f"{title}-{format_local(utcnow(), '%Y%m%d-%H%M')}.xlsx"
    return send_written_file(path, name)


def _chart(region_code: str, name: str):
    """The standalone chart `name` of a region in the user's scope (404 otherwise)."""
    place = regions.get_region_or_404(region_code, current_actor())
    if name not in charts.CHARTS:
        abort(404)
    source = charts.Sources(place, selected_year())
    if name not in charts.available(source):
        abort(404)
    return place, charts.chart(name, source, standalone=True)


@bp.route("/<region_code>/chart/<name>.svg")
@requires(regions.ACTION)
def chart_svg(region_code: str, name: str):
    _, chart = _chart(region_code, name)
    # Opened on its own, the SVG needs its embedded <style>; it holds no script.
    return Response(
        chart.svg,
        mimetype="image/svg+xml",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


@bp.route("/<region_code>/chart/<name>.png")
@requires(regions.ACTION)
def chart_png(region_code: str, name: str):
    """The chart as a picture for a work group chat: what the page shows (stats.view), no
    personal data, so not audited like the Excel export of the table (report.export)."""
    place, chart = _chart(region_code, name)
    name = f"{place.name}-{chart.title}-{format_local(utcnow(), '%Y%m%d')}.png"
    return send_bytes(to_png(chart.svg), name)
