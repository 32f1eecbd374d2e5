"""Comparison pages: run the comparison for a region and insurance year, follow it, read its
results (coverage per township), and confirm a run the guard refused."""

from flask import Blueprint, flash, redirect, render_template, url_for
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.validators import DataRequired, Optional, ValidationError

from permissions import can, requires
from portal.comparisons import guard as guards
from portal.comparisons import operations as ops
from portal.extensions import db
from portal.forms import PortalForm, options
from portal.jobs import queue
from portal.jobs.models import Job
from portal.regions.models import Region
from portal.regions.queries import grant_regions_and_counties
from portal.request_cycle import current_actor
from portal.years.selection import current_year, parse_year, selected_year

bp = Blueprint("comparisons", __name__, url_prefix="/comparisons")

FORCE_LABEL = "我已核实，仍然运行比对"


class RunForm(PortalForm):
    region = SelectField("比对区划", validators=[DataRequired("请选择区划。")], choices=[])
    # The insurance year: the page's (the year picker), sent along with the form.
    year = HiddenField()
    # Only on the page of a refused run: the user confirms the findings (`confirms`: that run).
    force = BooleanField(FORCE_LABEL)
    confirms = HiddenField(validators=[Optional()])

    def validate_year(self, field):
        if field.data and parse_year(field.data) is None:
            raise ValidationError("请选择有效的参保年度。")


def _region_choices():
    regions = grant_regions_and_counties(current_actor(), "comparison.run")
    return options((r.code, f"{r.name}（{r.code}）") for r in regions)


@bp.route("/", methods=["GET", "POST"])
@requires("comparison.run")
def index():
    form = RunForm()
    form.region.choices = _region_choices()
    year = selected_year()
    if not form.is_submitted():
        form.year.data = str(year)
    if form.validate_on_submit():
        confirms = None
        if form.confirms.data:
            confirms = ops.get_run_or_404(_int(form.confirms.data), current_actor())
            if not form.force.data:
                flash(f"请先勾选“{FORCE_LABEL}”。", "error")
                return redirect(url_for("comparisons.detail", run_id=confirms.id))
        try:
            run = ops.start_comparison(
                current_actor(),
                db.session.get(Region, form.region.data),
                parse_year(form.year.data) or year,
                force=bool(form.force.data),
                confirms=confirms,
            )
        except ops.ComparisonRefused as exc:
            flash(str(exc), "error")
        else:
            flash("比对已开始，正在后台处理。", "success")
            return redirect(url_for("comparisons.detail", run_id=run.id))
    page = db.paginate(ops.runs_query(current_actor()), per_page=20, error_out=False)
    return render_template(
        "comparisons/index.html",
        form=form,
        page=page,
        year=year,
        current=current_year(),
        coverage=ops.coverage_of,
        percent=guards.percent,
    )


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@bp.route("/<int:run_id>")
@requires("comparison.run")
def detail(run_id: int):
    actor = current_actor()
    run = ops.get_run_or_404(run_id, actor)
    job = db.session.get(Job, run.job_id) if run.job_id else None
    progress = queue.progress_of(job) if job else (0, None, None)
    region = db.session.get(Region, run.region_code)
    confirm = None
    if run.state == "refused":
        confirm = RunForm(formdata=None)
        confirm.region.choices = _region_choices()
        confirm.region.data, confirm.year.data = run.region_code, str(run.year)
        confirm.confirms.data = str(run.id)
    townships = [
        t
        | {
            "must_insure": t["persons"] - t["excluded"],
            "coverage": guards.coverage(t["insured"], t["persons"] - t["excluded"]),
            # The files it opened wait in the township's pool on its desk (工作台, 待分配).
            "desk": can(actor, "desk.view", t["code"]),
        }
        for t in run.townships or []
    ]
    return render_template(
        "comparisons/detail.html",
        run=run,
        job=job,
        region=region,
        progress=progress,
        confirm=confirm,
        townships=townships,
        coverage=ops.coverage_of(run),
        percent=guards.percent,
        current=current_year(),
        may_list_persons=can(actor, "person.view", run.region_code),
    )
