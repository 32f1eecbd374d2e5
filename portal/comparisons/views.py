"""Comparison pages: run the comparison for a region, follow it, read its results."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectField
from wtforms.validators import DataRequired

from permissions import requires
from portal.comparisons import operations as ops
from portal.extensions import db
from portal.forms import PortalForm, options
from portal.jobs import queue
from portal.jobs.models import Job
from portal.regions.models import Region
from portal.regions.queries import grant_regions_and_counties

bp = Blueprint("comparisons", __name__, url_prefix="/comparisons")


class RunForm(PortalForm):
    region = SelectField("比对区划", validators=[DataRequired("请选择区划。")], choices=[])


def _actor():
    return current_user._get_current_object()


def _region_choices():
    regions = grant_regions_and_counties(_actor(), "comparison.run")
    return options((r.code, f"{r.name}（{r.code}）") for r in regions)


@bp.route("/", methods=["GET", "POST"])
@requires("comparison.run")
def index():
    form = RunForm()
    form.region.choices = _region_choices()
    if form.validate_on_submit():
        try:
            run = ops.start_comparison(_actor(), db.session.get(Region, form.region.data))
        except ops.ComparisonRefused as exc:
            flash(str(exc), "error")
        else:
            flash("比对已开始，正在后台处理。", "success")
            return redirect(url_for("comparisons.detail", run_id=run.id))
    page = db.paginate(ops.runs_query(_actor()), per_page=20, error_out=False)
    return render_template("comparisons/index.html", form=form, page=page)


@bp.route("/<int:run_id>")
@requires("comparison.run")
def detail(run_id: int):
    run = ops.get_run_or_404(run_id, _actor())
    job = db.session.get(Job, run.job_id) if run.job_id else None
    progress = queue.progress_of(job) if job else (0, None, None)
    region = db.session.get(Region, run.region_code)
    return render_template(
        "comparisons/detail.html", run=run, job=job, region=region, progress=progress
    )
