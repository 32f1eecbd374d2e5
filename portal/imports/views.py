"""Import pages: upload a list, follow its progress, download the rejected rows."""

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from permissions import requires
from permissions.guard import redirect_page
from portal.audit import operations as audit
from portal.extensions import db
from portal.forms import options
from portal.imports import operations as ops
from portal.imports.forms import UploadForm
from portal.jobs import queue
from portal.jobs.models import Job
from portal.regions.models import Region
from portal.regions.queries import grant_regions_and_counties

bp = Blueprint("imports", __name__, url_prefix="/imports")


def _actor():
    return current_user._get_current_object()


def _region_choices():
    regions = grant_regions_and_counties(_actor(), "data.import")
    return options((r.code, f"{r.name}（{r.code}）") for r in regions)


@bp.route("/", methods=["GET", "POST"])
@requires("data.import")
def index():
    form = UploadForm()
    form.kind.choices = options(ops.KIND_CHOICES)
    form.region.choices = _region_choices()
    error = None
    if form.validate_on_submit():
        region = db.session.get(Region, form.region.data)
        try:
            batch = ops.start_import(
                _actor(),
                kind=form.kind.data,
                region=region,
                upload=form.file.data.stream,
                filename=form.file.data.filename or "upload",
                category=form.category.data or None,
            )
        except ops.ImportRefused as exc:
            error = str(exc)
        else:
            flash("文件已上传，正在后台处理。", "success")
            return redirect(url_for("imports.detail", batch_id=batch.id))
    page = db.paginate(ops.batches_query(_actor()), per_page=20, error_out=False)
    return render_template("imports/index.html", form=form, page=page, error=error)


def _view_model(batch):
    job = db.session.get(Job, batch.job_id) if batch.job_id else None
    done, total, message = queue.progress_of(job) if job else (0, None, None)
    return {"batch": batch, "job": job, "done": done, "total": total, "progress": message}


@bp.route("/<int:batch_id>")
@requires("data.import")
def detail(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, _actor())
    return render_template("imports/detail.html", **_view_model(batch))


@bp.route("/<int:batch_id>/progress")
@requires("data.import")
def progress(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, _actor())
    if batch.state in ("succeeded", "failed") and request.headers.get("HX-Request"):
        return redirect_page(url_for("imports.detail", batch_id=batch.id))
    return render_template("imports/_progress.html", **_view_model(batch))


@bp.route("/<int:batch_id>/errors.xlsx")
@requires("data.import")
def errors(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, _actor())
    if not batch.error_file:
        flash("该批次没有退回的行。", "info")
        return redirect(url_for("imports.detail", batch_id=batch.id))
    audit.record(
        "export",
        target_type="import_batch",
        target_id=batch.id,
        target_label=f"退回行 {batch.filename}",
        region_code=batch.region_code,
        detail={"rows": batch.rejected, "what": "import_errors"},
    )
    return send_file(
        batch.error_file,
        as_attachment=True,
        download_name=f"退回-{batch.id}-{batch.filename.rsplit('.', 1)[0]}.xlsx",
    )


@bp.route("/<int:batch_id>/retry", methods=["POST"])
@requires("data.import")
def retry(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, _actor())
    job = db.session.get(Job, batch.job_id) if batch.job_id else None
    if job is None:
        flash("该批次没有可重试的任务。", "error")
        return redirect(url_for("imports.detail", batch_id=batch.id))
    try:
        queue.retry(job)
    except queue.JobError as exc:
        flash(str(exc), "error")
    else:
        batch.state, batch.message = "queued", None
        flash("已重新排队处理。", "success")
    return redirect(url_for("imports.detail", batch_id=batch.id))


BATCH_STATES = {"queued": "排队中", "running": "处理中", "succeeded": "已完成", "failed": "失败"}


@bp.context_processor
def _labels():
    return {
        "import_max_mb": current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024),
        "kind_labels": dict(ops.KIND_CHOICES),
        "state_labels": BATCH_STATES,
    }
