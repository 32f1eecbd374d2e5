"""The grid worker's pages (我的任务): the task list, a file with its visit form, the call."""

import uuid

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from permissions import requires
from portal.extensions import db
from portal.persons import codes
from portal.persons import operations as person_ops
from portal.persons.queries import SEX_LABELS
from portal.request_cycle import current_actor
from portal.tasks import queries
from portal.tasks.forms import TaskSearchForm, VisitForm
from portal.visits import codes as visit_codes
from portal.visits import evidence, evidence_rules
from portal.visits.operations import VisitConflict, VisitRefused, form_token
from portal.visits.progress import progress_of

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

PER_PAGE = 50
SAVED = "tasks.saved_visit"  # session key: the visit just saved, so its device draft is cleared
# What the worker is told after each kind of workflow action.
AFTER = {
    "report_paid": "，待下次比对确认",
    "propose_close": "，已提交督导审核",
}


@bp.route("/", methods=["GET", "POST"])
@requires("visit.record")
def index():
    actor = current_actor()
    posted = request.method == "POST"
    form = TaskSearchForm(request.form if posted else request.args)
    if posted and form.validate():
        # The search is POSTed so that a typed full ID number (refused) never enters a URL; a
        # name or the last digits go to the list's own address (bookmarkable, pages).
        return redirect(url_for("tasks.index", q=form.q.data or None), code=303)
    page = rows = None
    declined_rows = []
    if form.validate():
        filters = form.filters()
        page = db.paginate(
            queries.task_ids_query(actor, filters),
            per_page=PER_PAGE,
            max_per_page=PER_PAGE,
            error_out=False,
        )
        rows = queries.task_rows(queries.files_by_ids(actor, page.items))
        if not queries.searching(filters) and page.page == 1:
            # Declined, not yet due for follow-up: a section of their own under the list.
            ids = db.session.scalars(
                queries.declined_waiting_ids_query(actor).limit(PER_PAGE)
            ).all()
            declined_rows = queries.task_rows(queries.files_by_ids(actor, list(ids)))
    return render_template(
        "tasks/index.html",
        form=form,
        page=page,
        rows=rows,
        declined_rows=declined_rows,
        progress=progress_of([actor.id])[actor.id],
        saved=session.pop(SAVED, None),
    )


def _lock_to_current(form: VisitForm, file) -> None:
    """After a conflict: the worker's input stays, resubmitting applies it to the file as now."""
    form.version.data = file.version
    form.version.raw_data = [str(file.version)]
    form.token.data = form_token(file)


def _render_file(
    file,
    form: VisitForm,
    *,
    status: int = 200,
    error=None,
    conflict=None,
    upload_errors=(),
    notice=None,
):
    actor = current_actor()
    context = queries.file_context(actor, file)
    return render_template(
        "tasks/detail.html",
        **context,
        form=form,
        error=error,
        conflict=conflict,
        upload_errors=upload_errors,
        notice=notice,
        submitted=request.method == "POST",
        may_call=bool(file.person.phone) and person_ops.may_reveal(actor, file.person),
        # Evidence (证明材料): the images pending on this form, those of the recent visits.
        pending=evidence.pending(actor, file, form.idempotency_key.data),
        visit_evidence=evidence.of_visits(v.id for v in context["visits"]),
        evidence_rules=evidence_rules.RULE_BY_OUTCOME,
        evidence_cap=current_app.config["EVIDENCE_MAX_FILES"],
        evidence_mb=current_app.config["EVIDENCE_MAX_BYTES"] // (1024 * 1024),
    ), status


def _upload_only(form: VisitForm) -> None:
    """先上传照片: only the images count; the other fields' messages would be noise."""
    for name, field in form._fields.items():
        if name not in ("csrf_token", "idempotency_key"):
            field.errors = []
    form._errors = None


@bp.route("/<int:file_id>")
@requires("visit.record")
def detail(file_id: int):
    file = queries.get_task_or_404(file_id, current_actor())
    form = VisitForm(
        data={
            "idempotency_key": str(uuid.uuid4()),
            "version": file.version,
            "token": form_token(file),
        }
    )
    return _render_file(file, form)


@bp.route("/<int:file_id>/visit", methods=["GET", "POST"])
@requires("visit.record")
def visit(file_id: int):
    actor = current_actor()
    file = queries.get_task_or_404(file_id, actor)
    if request.method == "GET":  # e.g. back from signing in again: the form is on the file page
        return redirect(url_for("tasks.detail", file_id=file.id))
    form = VisitForm()
    valid = form.validate_on_submit()
    upload_only = bool(request.form.get("upload_only"))
    if upload_only:
        _upload_only(form)
    # Images first, whatever else is wrong: accepted ones are kept as pending uploads of this
    # form (its idempotency key) and committed now, since a refused request rolls back
    # (portal/visits/evidence.py). A bad or oversized image refuses the visit, not the others.
    taken, upload_errors = 0, []
    if "csrf_token" not in form.errors and "idempotency_key" not in form.errors:
        key = form.idempotency_key.data
        evidence.drop_pending(actor, file, key, request.form.getlist("drop_evidence"))
        taken, upload_errors = evidence.accept_uploads(
            actor, file, key, request.files.getlist("evidence")
        )
        db.session.commit()
    if upload_only:
        notice = f"已上传 {taken} 张照片，保存走访记录时一并提交。" if taken else None
        status = 422 if upload_errors or form.errors else 200
        return _render_file(file, form, status=status, upload_errors=upload_errors, notice=notice)
    if not valid or upload_errors:
        return _render_file(file, form, status=422, upload_errors=upload_errors)
    data = form.visit_input()
    try:
        result = evidence.record_with_evidence(actor, file, data)
    except VisitRefused as refused:
        return _render_file(file, form, status=422, error=str(refused))
    except VisitConflict as conflict:
        _lock_to_current(form, file)
        return _render_file(file, form, status=422, conflict=conflict.fields)
    outcome = visit_codes.OUTCOME_BY_CODE[result.visit.outcome]
    message = f"已记录走访：{file.person.name}，{outcome.label}{AFTER.get(outcome.action, '')}。"
    if result.visit.activated_e_credential:
        message += "已帮助激活医保电子凭证。"
    attached = evidence.count_of(result.visit.id)
    if attached and not result.replayed:
        message += f"证明材料 {attached} 张已一并提交。"
    if result.replayed:
        message += "（此前已提交过，未重复保存）"
    flash(message, "success")
    session[SAVED] = {"file": file.id, "key": data.idempotency_key}
    return redirect(url_for("tasks.index"))


@bp.route("/<int:file_id>/call", methods=["GET", "POST"])
@requires("visit.record")
def call(file_id: int):
    """The full phone number as a tap-to-call link, in this one response; the reveal is logged."""
    actor = current_actor()
    file = queries.get_task_or_404(file_id, actor)
    person = file.person
    if request.method == "GET" or not person.phone:
        if request.method == "POST":
            flash("该人员没有登记联系电话。", "warning")
        return redirect(url_for("tasks.detail", file_id=file.id))
    person_ops.reveal(actor, person, via="call")
    return render_template("tasks/call.html", file=file, person=person)


@bp.context_processor
def _labels():
    return {
        "sex_labels": SEX_LABELS,
        "state_labels": codes.FILE_STATE_LABELS,
        "reason_labels": codes.REASON_LABELS,
        "method_labels": visit_codes.METHOD_LABELS,
        "outcome_labels": visit_codes.OUTCOME_LABELS,
        "review_labels": visit_codes.REVIEW_STATE_LABELS,
    }
