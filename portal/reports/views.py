"""The report forms' pages (报表): a region's forms as tables with their balance checks and
downloads, and each form's workbook. Regions load through the actor's report.export scope: any
other code is not found. The submission workflow's routes live on the same blueprint
(submission_views.py)."""

from flask import abort, flash, redirect, render_template, request, url_for

from permissions import can, require, requires, scope_for
from portal.downloads import send_written_file
from portal.forms import PortalForm
from portal.regions import queries as region_queries
from portal.regions.models import Region
from portal.reports import forms, service
from portal.reports.blueprint import bp
from portal.request_cycle import current_actor
from portal.years.selection import selected_year

ACTION = "report.export"


def _region_or_404(code: str) -> Region:
    return region_queries.get_region_or_404(code, scope_for(current_actor(), ACTION))


@bp.route("/<region_code>")
@requires(ACTION)
def region_forms(region_code: str):
    actor = current_actor()
    region = _region_or_404(region_code)
    year = selected_year()
    tables = [forms.compute(code, region.code, year) for code in forms.FORMS]
    return render_template(
        "reports/forms.html",
        region=region,
        year=year,
        trail=region_queries.trail(region, scope_for(actor, ACTION)),
        children=region_queries.children(region),
        checked=[(table, forms.check(table)) for table in tables],
        definition_errors=forms.FORMS.errors,
        may_submit=can(actor, "report.submit", region.code),
        unmasked=can(actor, "person.unmask", region.code),
    )


@bp.route("/<region_code>/<form_code>.xlsx")
@requires(ACTION)
def download(region_code: str, form_code: str):
    """The workbook, its detail list masked (a link may be followed by anyone's browser)."""
    actor = current_actor()
    region = _region_or_404(region_code)
    if form_code not in forms.FORMS:
        abort(404)
    return send_written_file(*service.export_form(actor, form_code, region, selected_year()))


@bp.route("/<region_code>/<form_code>.xlsx", methods=["POST"])
@requires(ACTION)
def download_full(region_code: str, form_code: str):
    """The workbook with full ID numbers and phones in its detail list: a POST (CSRF token) a
    link cannot trigger, by a holder of person.unmask on the region, with a stated purpose that
    the audit record keeps (as the persons list's export)."""
    actor = current_actor()
    region = _region_or_404(region_code)
    if form_code not in forms.FORMS or not forms.FORMS[form_code].detail:
        abort(404)
    require(actor, "person.unmask", region.code)
    year = selected_year()
    form = PortalForm()
    purpose = " ".join((request.form.get("purpose") or "").split())[:200]
    if not form.validate_on_submit() or not purpose:
        flash("导出完整号码须填写用途（如：医保经办核对），本次未导出。", "error")
        return redirect(url_for("reports.region_forms", region_code=region.code, year=year), 303)
    return send_written_file(
        *service.export_form(actor, form_code, region, year, full=True, purpose=purpose)
    )
