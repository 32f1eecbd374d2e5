"""Person file pages (人员档案): list and search, detail, reveal, edit, Excel export."""

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from permissions import can, require, requires, scope_for
from portal.downloads import send_written_file
from portal.duplicates.models import ACTION_LABELS as DUPLICATE_ACTION_LABELS
from portal.extensions import db
from portal.forms import options
from portal.htmx import is_partial
from portal.persons import codes, queries
from portal.persons import export as person_export
from portal.persons import operations as ops
from portal.persons.forms import PersonEditForm, PersonSearchForm
from portal.regions.codes import LEVEL_NAMES
from portal.request_cycle import current_actor
from portal.timeutil import format_local, utcnow

bp = Blueprint("persons", __name__, url_prefix="/persons")

PER_PAGE = 20


def _search_form() -> PersonSearchForm:
    """The list's filters: from a POSTed form (which alone may carry a full ID number), else
    from the query string."""
    posted = request.method == "POST"
    form = PersonSearchForm(request.form if posted else request.args, posted=posted)
    scope = scope_for(current_actor(), "person.view")
    level, choices = queries.region_choices(scope)
    asked = (request.form if posted else request.args).get("region", "")
    if asked and asked not in {code for code, _ in choices}:
        # A link to a whole township, county or city (the dashboard's counts) keeps its region.
        extra = queries.region_choice(scope, asked)
        if extra:
            choices = [extra, *choices]
    form.region.label.text = LEVEL_NAMES[level]
    form.region.choices = options([("", "全部"), *choices])
    return form


@bp.route("/", methods=["GET", "POST"])
@requires("person.view")
def index():
    """The list. The filter form is POSTed so that a full ID number never enters a URL (the
    address bar, the access log, the history, an htmx-pushed URL): a search without one is
    redirected to its GET address (bookmarkable, pages); one with it is answered here."""
    form = _search_form()
    valid = form.validate()
    if request.method == "POST" and valid and not form.has_full_id_number() and not is_partial():
        return redirect(url_for("persons.index", **form.query_args()), code=303)
    return _render_index(form, valid)


def _render_index(form: PersonSearchForm, valid: bool, export_error: str | None = None):
    page = rows = None
    if valid:
        page = db.paginate(
            queries.persons_query(current_actor(), form.filters()),
            per_page=current_app.config.get("PERSONS_PER_PAGE", PER_PAGE),
            max_per_page=100,
            error_out=False,
        )
        rows = queries.list_rows(page.items)
    # htmx swaps the results only; restoring a page from history needs the whole page.
    template = "persons/_results.html" if is_partial() else "persons/index.html"
    response = make_response(
        render_template(
            template,
            form=form,
            page=page,
            rows=rows,
            query=form.query_args() if valid else {},
            export_error=export_error,
        )
    )
    if request.method == "POST" and is_partial():
        # The address htmx shows and keeps: the filters without a full ID number, or none.
        pushed = not form.has_full_id_number() and valid and export_error is None
        push = url_for("persons.index", **form.query_args()) if pushed else "false"
        response.headers["HX-Push-Url"] = push
    return response


@bp.route("/export.xlsx", methods=["POST"])
@requires("report.export")
def export():
    """The filtered list as a workbook: a POST (CSRF token) a link cannot trigger; full numbers
    only with a stated purpose, which the audit record keeps."""
    actor = current_actor()
    require(actor, "person.view")
    form = _search_form()
    valid = form.validate()
    error = "查询条件有误，请修正后再导出。" if not valid else form.export_error()
    if error:
        return _render_index(form, valid, export_error=error)
    path, _, masked = person_export.export_persons(
        actor, form.filters(), full=form.full.data, purpose=(form.purpose.data or "").strip()
    )
    name = (
        f"人员档案{'' if masked else '（完整号码）'}-{format_local(utcnow(), '%Y%m%d-%H%M')}.xlsx"
    )
    return send_written_file(path, name)


def _render_detail(person, revealed: bool = False):
    actor = current_actor()
    return render_template(
        "persons/detail.html",
        **queries.detail_context(person, revealed),
        may_reveal=ops.may_reveal(actor, person),
        may_edit=can(actor, "person.edit", person.region_code),
    )


@bp.route("/<int:person_id>")
@requires("person.view")
def detail(person_id: int):
    person = queries.get_person_or_404(person_id, current_actor())
    return _render_detail(person)


@bp.route("/<int:person_id>/reveal", methods=["POST"])
@requires("person.unmask")
def reveal(person_id: int):
    """Full ID number and phone in this one response (nothing kept), logged."""
    person = queries.get_person_or_404(person_id, current_actor())
    ops.reveal(current_actor(), person)
    return _render_detail(person, revealed=True)


@bp.route("/<int:person_id>/edit", methods=["GET", "POST"])
@requires("person.edit")
def edit(person_id: int):
    actor = current_actor()
    person = queries.get_person_or_404(person_id, actor, "person.edit")
    form = PersonEditForm(data=ops.form_data(person))
    form.region_code.choices = options(ops.community_choices(actor, person))
    conflict = error = None
    if form.validate_on_submit():
        values = ops.EditValues(
            phone=form.phone.data or "",
            clear_phone=form.clear_phone.data,
            address=form.address.data or "",
            e_credential=form.e_credential.data,
            key_populations=form.key_population_mask(),
            region_code=form.region_code.data,
        )
        try:
            changed = ops.update_person(
                actor, person, values, version=form.version.data, token=form.token.data
            )
        except ops.EditConflict as exc:
            conflict = exc.fields
            # The user's input stays; saving again now applies it over the current values.
            form.version.data = person.version
            form.version.raw_data = [str(person.version)]
            form.token.data = ops.edit_token(person)
        except ops.EditRefused as exc:
            error = str(exc)
        else:
            if changed:
                flash(f"已保存：{'、'.join(changed)}。", "success")
            else:
                flash("没有修改任何内容。", "info")
            return redirect(url_for("persons.detail", person_id=person.id))
    return render_template(
        "persons/edit.html", form=form, person=person, conflict=conflict, error=error
    )


@bp.context_processor
def _labels():
    return {
        "sex_labels": queries.SEX_LABELS,
        "insured_labels": codes.INSURED_STATUS_LABELS,
        "scheme_labels": codes.SCHEME_LABELS,
        "state_labels": codes.FILE_STATE_LABELS,
        "file_type_labels": codes.FILE_TYPE_LABELS,
        "reason_labels": codes.REASON_LABELS,
        "enrollment_status_labels": codes.ENROLLMENT_STATUS_LABELS,
        "handled_labels": DUPLICATE_ACTION_LABELS,  # a record a duplicate case handled
        "government_paid": {k.code for k in codes.KEY_POPULATIONS if k.government_paid},
    }
