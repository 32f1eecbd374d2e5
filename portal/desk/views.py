"""The desk pages (工作台): townships, one township's desk, bulk actions, the review queue."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from permissions import can, requires, scope_for
from portal.desk import assignment, queries
from portal.desk.forms import (
    AssignForm,
    AutoAssignForm,
    DeskFilterForm,
    EndCoverForm,
    HandoverForm,
    ReviewForm,
    first_error,
)
from portal.extensions import db
from portal.forms import options
from portal.htmx import is_partial
from portal.persons import codes
from portal.persons.queries import region_choices, region_names
from portal.request_cycle import current_actor
from portal.timeutil import local_today
from portal.visits import evidence, evidence_rules, review
from portal.visits.codes import METHOD_LABELS, OUTCOME_LABELS
from portal.years.selection import selected_year

bp = Blueprint("desk", __name__, url_prefix="/desk")

TOWNSHIPS_PER_PAGE = 50
FILES_PER_PAGE = 50
REVIEWS_PER_PAGE = 20
MOVES_PER_PAGE = 50


@bp.route("/")
@requires("desk.view")
def index():
    actor = current_actor()
    page = db.paginate(
        queries.townships_query(actor),
        per_page=TOWNSHIPS_PER_PAGE,
        max_per_page=TOWNSHIPS_PER_PAGE,
        error_out=False,
    )
    if page.total == 1 and page.page == 1:
        return redirect(url_for("desk.township", township_code=page.items[0].code))
    figures = queries.township_figures(actor, page.items)
    year = selected_year()
    moves = queries.move_figures(actor, page.items, year)
    return render_template("desk/index.html", page=page, figures=figures, moves=moves, year=year)


# --- one township -----------------------------------------------------------------------------


def _filter_form(township, formdata) -> DeskFilterForm:
    form = DeskFilterForm(formdata)
    _, communities = region_choices(
        scope_for(current_actor(), "desk.view"), within=township.prefix, levels=(5,)
    )
    form.set_communities(communities)
    return form


def _render_desk(township, filter_form, *, assign_form=None, error=None, ticked=()):
    """The desk page (or, for htmx, its file section) with the given forms' values."""
    actor = current_actor()
    filters = filter_form.filters() if filter_form.validate() else queries.DeskFilters()
    page = db.paginate(
        queries.files_query(actor, township, filters),
        per_page=current_app.config.get("DESK_FILES_PER_PAGE", FILES_PER_PAGE),
        max_per_page=100,
        error_out=False,
    )
    may_assign = can(actor, "file.assign", township.code)
    workers = assignment.worker_choices(township)
    assign_form = assign_form or AssignForm(formdata=None)
    assign_form.worker.choices = options(
        [("", "— 请选择网格员 —")] + [(str(w.id), w.display_name) for w in workers]
    )
    context = {
        "township": township,
        "filter_form": filter_form,
        "filters": filters,
        "assign_form": assign_form,
        "page": page,
        "rows": queries.file_rows(page.items),
        "may_assign": may_assign,
        "error": error,
        "ticked": set(ticked),
        "link_args": {"township_code": township.code, **filters.args()},
        "today": local_today(),
        "state_labels": codes.FILE_STATE_LABELS,
        "reason_labels": codes.REASON_LABELS,
    }
    if is_partial():
        return render_template("desk/_files.html", **context)
    desk_workers = queries.desk_workers(township)
    year = selected_year()
    handover_choices = [("", "— 请选择 —"), ("none", "收回待分配")] + [
        (str(w.id), w.display_name) for w in workers
    ]
    return render_template(
        "desk/township.html",
        **context,
        figures=queries.township_figures(actor, [township])[township.code],
        year=year,
        moves=queries.move_figures(actor, [township], year)[township.code],
        workers=desk_workers,
        handover_choices=handover_choices,
        auto_form=AutoAssignForm(formdata=None),
        may_review=can(actor, "file.review", township.code),
    )


@bp.route("/<township_code>")
@requires("desk.view")
def township(township_code: str):
    region = queries.get_township_or_404(township_code, current_actor())
    return _render_desk(region, _filter_form(region, request.args))


def _back_to_desk(township, filters: queries.DeskFilters | None = None):
    args = filters.args() if filters else {}
    return redirect(url_for("desk.township", township_code=township.code, **args))


@bp.route("/<township_code>/assign", methods=["POST"])
@requires("file.assign")
def assign(township_code: str):
    actor = current_actor()
    region = queries.get_township_or_404(township_code, actor)
    filter_form = _filter_form(region, request.form)
    form = AssignForm()
    ticked = form.ticked_ids()
    error = None
    if form.validate_on_submit() and filter_form.validate():
        filters = filter_form.filters()
        selection = (
            assignment.Selection(filters=filters)
            if form.selection.data == "filter"
            else assignment.Selection(file_ids=tuple(ticked))
        )
        try:
            worker, outcome = assignment.assign(
                actor, region, selection, form.worker.data, form.due_date.data
            )
        except assignment.AssignmentRefused as exc:
            error = str(exc)
        else:
            flash(assignment.assign_message(outcome, worker.display_name), "success")
            return _back_to_desk(region, filters)
    else:
        error = first_error(form, filter_form)
    # Nothing was saved: the page comes back with the ticks, the worker and the date kept.
    return _render_desk(region, filter_form, assign_form=form, error=error, ticked=ticked)


@bp.route("/<township_code>/cover", methods=["POST"])
@requires("file.assign")
def cover(township_code: str):
    """代管: the ticked files to a grid worker of another community, with a reason."""
    actor = current_actor()
    region = queries.get_township_or_404(township_code, actor)
    filter_form = _filter_form(region, request.form)
    form = AssignForm()
    ticked = form.ticked_ids()
    error = None
    if form.validate_on_submit() and filter_form.validate():
        try:
            worker, outcome = assignment.cover(
                actor, region, ticked, form.worker.data, form.cover_reason.data, form.due_date.data
            )
        except assignment.AssignmentRefused as exc:
            error = str(exc)
        else:
            flash(assignment.cover_message(outcome, worker.display_name), "success")
            return _back_to_desk(region, filter_form.filters())
    else:
        error = first_error(form, filter_form)
    return _render_desk(region, filter_form, assign_form=form, error=error, ticked=ticked)


@bp.route("/<township_code>/cover/end", methods=["POST"])
@requires("file.assign")
def end_cover(township_code: str):
    """End a 代管: the covered files go back to 待分配, the grant is revoked."""
    actor = current_actor()
    region = queries.get_township_or_404(township_code, actor)
    form = EndCoverForm()
    if not form.validate_on_submit():
        flash(first_error(form) or "提交有误，请重试。", "error")
        return _back_to_desk(region)
    try:
        worker, community, outcome = assignment.end_cover(actor, region, form.grant.data)
    except assignment.AssignmentRefused as exc:
        flash(str(exc), "error")
    else:
        name = region_names({community}).get(community, community)
        ended = community not in {
            g.region_code for g in worker.grants if g.role == queries.COVERING
        }
        flash(assignment.end_cover_message(worker, name, outcome, ended), "success")
    return _back_to_desk(region)


@bp.route("/<township_code>/auto-assign", methods=["POST"])
@requires("file.assign")
def auto_assign(township_code: str):
    actor = current_actor()
    region = queries.get_township_or_404(township_code, actor)
    form = AutoAssignForm()
    if not form.validate_on_submit():
        flash(first_error(form) or "提交有误，请重试。", "error")
        return _back_to_desk(region)
    try:
        outcome = assignment.auto_assign(actor, region, form.due_date.data)
    except assignment.AssignmentRefused as exc:
        flash(str(exc), "error")
    else:
        flash(assignment.auto_assign_message(outcome), "success")
    return _back_to_desk(region)


@bp.route("/<township_code>/handover", methods=["POST"])
@requires("file.assign")
def handover(township_code: str):
    actor = current_actor()
    region = queries.get_township_or_404(township_code, actor)
    form = HandoverForm()
    if not form.validate_on_submit():
        flash(first_error(form) or "提交有误，请重试。", "error")
        return _back_to_desk(region)
    try:
        leaving, receiving, outcome = assignment.handover(
            actor, region, form.from_worker.data, form.to_worker.data
        )
    except assignment.AssignmentRefused as exc:
        flash(str(exc), "error")
    else:
        flash(assignment.handover_message(leaving, receiving, outcome), "success")
    return _back_to_desk(region)


# --- files that followed their person (移入 / 移出) -------------------------------------------


@bp.route("/<township_code>/moves")
@requires("desk.view")
def moves(township_code: str):
    actor = current_actor()
    region = queries.get_township_or_404(township_code, actor)
    direction = request.args.get("direction")
    if direction not in queries.MOVE_DIRECTIONS:
        direction = queries.MOVED_IN
    year = selected_year()
    page = db.paginate(
        queries.moves_query(actor, region, year, direction),
        per_page=MOVES_PER_PAGE,
        max_per_page=MOVES_PER_PAGE,
        error_out=False,
    )
    return render_template(
        "desk/moves.html",
        township=region,
        year=year,
        direction=direction,
        directions=queries.MOVE_DIRECTIONS,
        figures=queries.move_figures(actor, [region], year)[region.code],
        page=page,
        rows=queries.move_rows(actor, region, list(page.items)),
    )


# --- the review queue -------------------------------------------------------------------------


def _render_reviews(township, *, forms=None, error=None, error_visit=None):
    actor = current_actor()
    page = db.paginate(
        queries.in_township(review.pending_query(actor), township),
        per_page=REVIEWS_PER_PAGE,
        error_out=False,
    )
    return render_template(
        "desk/reviews.html",
        township=township,
        page=page,
        rows=queries.review_rows(page.items),
        own={v.id for v in page.items if review.proposed_by(actor, v)},  # four eyes
        # Evidence (证明材料) of each proposal, and which would need a waiver to approve.
        evidence=evidence.of_visits(v.id for v in page.items),
        evidence_rules=evidence_rules.RULE_BY_OUTCOME,
        forms=forms or {},
        error=error,
        error_visit=error_visit,
        empty_form=ReviewForm(formdata=None),
        outcome_labels=OUTCOME_LABELS,
        method_labels=METHOD_LABELS,
        reason_labels=codes.REASON_LABELS,
        link_args={"township_code": township.code},
    )


@bp.route("/<township_code>/reviews")
@requires("file.review")
def reviews(township_code: str):
    region = queries.get_township_or_404(township_code, current_actor())
    return _render_reviews(region)


@bp.route("/reviews/<int:visit_id>", methods=["POST"])
@requires("file.review")
def decide(visit_id: int):
    actor = current_actor()
    visit = review.get_pending_or_404(visit_id, actor)
    region = queries.get_township_or_404(queries.township_of(visit.region_code), actor)
    form = ReviewForm()
    error = None
    if form.validate_on_submit():
        try:
            review.decide(
                actor,
                visit,
                form.decision.data or "",
                form.comment.data or "",
                waiver=form.waiver.data or "",
            )
        except review.ReviewRefused as exc:
            error = str(exc)
        else:
            done = "已通过，档案已核销。" if form.decision.data == "approve" else "已退回给网格员。"
            flash(done, "success")
            return redirect(url_for("desk.reviews", township_code=region.code))
    else:
        error = first_error(form)
    # The comment the supervisor typed stays in its box.
    return _render_reviews(region, forms={visit.id: form}, error=error, error_visit=visit.id)
