"""Import pages: upload a list, follow its progress, choose its columns when the portal could
not map them (the mapping step), download the rejected rows, download a template."""

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from sqlalchemy import select

from permissions import requires, scope_for
from permissions.guard import redirect_page
from portal import storage
from portal.audit import operations as audit
from portal.extensions import db
from portal.forms import options
from portal.htmx import is_partial
from portal.imports import mappings, templates
from portal.imports import operations as ops
from portal.imports.forms import UploadForm, mapping_form
from portal.jobs import queue
from portal.jobs.models import Job
from portal.regions.models import Region
from portal.regions.queries import grant_regions_and_counties
from portal.request_cycle import current_actor

bp = Blueprint("imports", __name__, url_prefix="/imports")


def _region_choices():
    regions = grant_regions_and_counties(current_actor(), "data.import")
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
                current_actor(),
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
    page = db.paginate(ops.batches_query(current_actor()), per_page=20, error_out=False)
    refused = {b.id for b in page.items if mappings.refusal_of(b) is not None}
    return render_template("imports/index.html", form=form, page=page, error=error, refused=refused)


def _view_model(batch):
    job = db.session.get(Job, batch.job_id) if batch.job_id else None
    done, total, message = queue.progress_of(job) if job else (0, None, None)
    return {
        "batch": batch,
        "job": job,
        "done": done,
        "total": total,
        "progress": message,
        "refusal": mappings.refusal_of(batch),
        "remembered_note": mappings.REMEMBERED_NOTE if mappings.read_as_remembered(batch) else None,
    }


@bp.route("/<int:batch_id>")
@requires("data.import")
def detail(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, current_actor())
    return render_template("imports/detail.html", **_view_model(batch))


@bp.route("/<int:batch_id>/progress")
@requires("data.import")
def progress(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, current_actor())
    if batch.state in ("succeeded", "failed") and is_partial():
        return redirect_page(url_for("imports.detail", batch_id=batch.id))
    return render_template("imports/_progress.html", **_view_model(batch))


@bp.route("/<int:batch_id>/errors.xlsx")
@requires("data.import")
def errors(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, current_actor())
    if not batch.error_file:
        flash("该批次没有退回的行。", "info")
        return redirect(url_for("imports.detail", batch_id=batch.id))
    try:  # from the file store, whichever machine wrote it (portal/storage)
        stream = storage.store().open(batch.error_file)
    except storage.StoredFileMissing:
        flash("退回行文件已超过保留期限并已删除，如需要请重新导入该文件。", "info")
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
        stream,
        as_attachment=True,
        download_name=f"退回-{batch.id}-{batch.filename.rsplit('.', 1)[0]}.xlsx",
    )


@bp.route("/<int:batch_id>/retry", methods=["POST"])
@requires("data.import")
def retry(batch_id: int):
    batch = ops.get_batch_or_404(batch_id, current_actor())
    if mappings.refusal_of(batch) is not None:  # the same file would be refused again
        flash("文件中有必需的列没能识别，请先选择各列对应关系。", "info")
        return redirect(url_for("imports.columns", batch_id=batch.id))
    try:
        ops.retry_batch(batch)
    except ops.ImportRefused as exc:
        flash(str(exc), "error")
    else:
        flash("已重新排队处理。", "success")
    return redirect(url_for("imports.detail", batch_id=batch.id))


def _list_kind(batch, job):
    """The list kind the batch's job reads (a key-population list of one category chosen at
    upload has no category column to map)."""
    kind = ops.IMPORTERS[batch.kind].list_kind
    category = (job.payload or {}).get("category") if job is not None else None
    return kind.with_fixed("category", category) if category else kind


@bp.route("/<int:batch_id>/columns", methods=["GET", "POST"])
@requires("data.import")
def columns(batch_id: int):
    """The mapping step of a batch refused for its columns: choose the column of each field;
    the choice is remembered and the stored upload read again with it."""
    batch = ops.get_batch_or_404(batch_id, current_actor())
    refusal = mappings.refusal_of(batch)
    job = ops.job_of(batch)
    if refusal is None or job is None:
        flash("该批次无需选择列对应关系。", "info")
        return redirect(url_for("imports.detail", batch_id=batch.id))
    list_kind = _list_kind(batch, job)
    column_choices = [(c, refusal.column_label(c)) for c in range(len(refusal.headers))]
    form = mapping_form(list_kind, column_choices, refusal.fields)
    error = None
    if form.validate_on_submit():
        chosen = {
            name: int(form[name].data) if form[name].data not in (None, "") else None
            for name in list_kind.fields
        }
        try:
            ops.read_with_mapping(current_actor(), batch, refusal, list_kind, chosen)
        except (mappings.MappingRefused, ops.ImportRefused) as exc:
            error = str(exc)
        else:
            flash("已保存列对应关系，正在按所选的列重新读取已上传的文件。", "success")
            return redirect(url_for("imports.detail", batch_id=batch.id))
    return render_template(
        "imports/columns.html",
        batch=batch,
        refusal=refusal,
        form=form,
        fields=list_kind.fields,
        error=error,
    )


def _first_community(actor) -> str | None:
    """The first community the actor may import into: the template's example row uses it."""
    scope = scope_for(actor, "data.import")
    return db.session.scalar(
        select(Region.code)
        .where(Region.level == 5, scope.region_clause(Region.code))
        .order_by(Region.code)
        .limit(1)
    )


@bp.route("/templates/<kind>.xlsx")
@requires("data.import")
def template(kind: str):
    """下载模板: the header row, an example row, text ID column, dropdowns, 填写说明."""
    if kind not in ops.IMPORTERS:
        abort(404)
    content = templates.build(kind, _first_community(current_actor()))
    return send_file(
        io.BytesIO(content),
        as_attachment=True,
        download_name=templates.filename(kind),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


BATCH_STATES = {"queued": "排队中", "running": "处理中", "succeeded": "已完成", "failed": "失败"}


@bp.context_processor
def _labels():
    return {
        "import_max_mb": current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024),
        "kind_labels": dict(ops.KIND_CHOICES),
        "state_labels": BATCH_STATES,
    }
