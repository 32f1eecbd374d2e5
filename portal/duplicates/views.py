"""Duplicate-enrollment pages (重复参保): the worklist of the regions holding a case's records, the
case page (own records in full, the other side's region and scheme only), the proposal and its
confirmation by a second user, and 重新检测 (a detection job)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import HiddenField, SelectField, TextAreaField

from permissions import requires
from portal.audit.models import AuditEvent
from portal.audit.operations import ACTION_LABELS as AUDIT_LABELS
from portal.duplicates import detection_jobs, wording
from portal.duplicates import service as svc
from portal.duplicates.codes import CATEGORY_LABELS, PAYMENT_LABELS
from portal.duplicates.models import ACTION_LABELS, KINDS, DuplicateCase
from portal.extensions import db
from portal.forms import PortalForm, SearchForm, options
from portal.jobs import queue
from portal.persons import codes as person_codes
from portal.persons.models import Enrollment, Person
from portal.persons.queries import (
    region_choice,
    region_choices,
    region_names,
    scoped_select,
    user_names,
)
from portal.regions.models import Region
from portal.request_cycle import current_actor
from portal.years.selection import current_year, selected_year

bp = Blueprint("duplicates", __name__, url_prefix="/duplicates")

PER_PAGE = 20


class WorklistFilters(SearchForm):
    stage = SelectField("状态", choices=[], default="")
    kind = SelectField("类型", choices=[], default="")
    region = SelectField("区划", choices=[], default="")

    def value(self, name: str) -> str:
        """A filter's value once validated ("" when it was not valid: that filter is off)."""
        field = self[name]
        return "" if field.errors else field.data or ""


class ProposalForm(PortalForm):
    reason = TextAreaField("处理理由")
    version = HiddenField()


class DecisionForm(PortalForm):
    comment = TextAreaField("意见")
    version = HiddenField()


class DetectForm(PortalForm):
    year = HiddenField()


def _filters_form(actor):
    form = WorklistFilters(request.args)
    form.stage.choices = options([("", "全部"), *svc.STAGE_FILTERS])
    form.kind.choices = options([("", "全部"), *KINDS])
    scope = svc.handle_scope(actor)
    _, choices = region_choices(scope, levels=(3, 2))
    asked = request.args.get("region", "")
    if asked and asked not in {code for code, _ in choices}:
        # A link from the dashboard names a region of any level: kept when in the scope.
        extra = region_choice(scope, asked)
        if extra:
            choices = [extra, *choices]
    form.region.choices = options([("", "全部"), *choices])
    return form


@bp.route("/")
@requires("duplicate.handle")
def index():
    actor = current_actor()
    year = selected_year()
    form = _filters_form(actor)
    form.validate()
    region_prefix = ""
    if form.value("region"):
        region = db.session.get(Region, form.value("region"))
        region_prefix = region.prefix if region is not None else ""
    filters = svc.Filters(
        year=year, stage=form.value("stage"), kind=form.value("kind"), region_prefix=region_prefix
    )
    page = db.paginate(
        svc.worklist_query(actor, filters), per_page=PER_PAGE, max_per_page=100, error_out=False
    )
    job = detection_jobs.latest(actor)
    return render_template(
        "duplicates/index.html",
        form=form,
        page=page,
        rows=_rows(actor, page.items),
        year=year,
        current=current_year(),
        job=job,
        progress=queue.progress_of(job) if job else None,
        detect=DetectForm(formdata=None, year=str(year)),
        job_labels=detection_jobs.STATE_LABELS,
    )


def _rows(actor, cases):
    """The worklist rows: what the actor may see of each case."""
    scope = svc.handle_scope(actor)
    members = svc.members_of(c.id for c in cases)
    own_ids = {m.enrollment_id for ms in members.values() for m in svc.own_members(scope, ms)}
    extract_names = dict(
        db.session.execute(
            select(Enrollment.id, Enrollment.name).where(
                Enrollment.id.in_(own_ids), Enrollment.name.is_not(None)
            )
        ).all()
    ) if own_ids else {}  # fmt: skip
    numbers = {c.id_number for c in cases}
    person_names = (
        dict(
            db.session.execute(
                scoped_select(actor, "person.view", Person.id_number, Person.name).where(
                    Person.id_number.in_(numbers)
                )
            ).all()
        )
        if numbers
        else {}
    )
    names = region_names({m.region_code for ms in members.values() for m in ms})
    rows = []
    for case in cases:
        ms = members[case.id]
        own = svc.own_members(scope, ms)
        name = person_names.get(case.id_number) or next(
            (extract_names[m.enrollment_id] for m in own if m.enrollment_id in extract_names), ""
        )
        rows.append(
            {
                "case": case,
                "name": name,
                "regions": sorted({names.get(m.region_code, m.region_code) for m in ms}),
                "recommendation": wording.short_recommendation(case, ms, names),
                "stage": svc.stage_of(case),
                "turn": _turn(actor, case, ms),
            }
        )
    return rows


def _turn(actor, case, members) -> str:
    """Who must act next, as the actor sees it."""
    stage = svc.stage_of(case)
    if stage == "pending":
        return "待提出处理意见"
    if stage != "awaiting":
        return "—"
    if svc.confirm_refusal(actor, case, members) is None:
        return "待您确认"
    return "待对方确认"


@bp.route("/detect", methods=["POST"])
@requires("duplicate.handle")
def detect():
    form = DetectForm()
    if not form.validate_on_submit():
        flash("请求无效，请刷新页面后重试。", "error")
        return redirect(url_for("duplicates.index"), code=303)
    try:
        detection_jobs.request(current_actor(), form.year.data)
    except detection_jobs.DetectionRefused as exc:
        flash(str(exc), "error")
    else:
        flash("重复参保检测已开始，正在后台处理。", "success")
    return redirect(url_for("duplicates.index"), code=303)


def _render_case(case, proposal=None, decision=None, error=None, actions=None, status=200):
    actor = current_actor()
    scope = svc.handle_scope(actor)
    members = svc.members_of([case.id])[case.id]
    own = svc.own_members(scope, members)
    own_ids = {m.enrollment_id for m in own}
    members = own + [m for m in members if m.enrollment_id not in own_ids]  # own records first
    # Only the actor's own records are loaded: of the others, the member row's region and scheme.
    records = (
        {e.id: e for e in db.session.scalars(select(Enrollment).where(Enrollment.id.in_(own_ids)))}
        if own_ids
        else {}
    )
    names = region_names(
        {m.region_code for m in members}
        | {e.employer_region_code for e in records.values()}
        | {case.proposer_region_code}
    )
    person = db.session.scalar(
        scoped_select(actor, "person.view").where(Person.id_number == case.id_number)
    )
    name = person.name if person is not None else next(
        (records[i].name for i in own_ids if records[i].name), ""
    )  # fmt: skip
    propose_refusal = svc.propose_refusal(actor, case, members)
    decide_refusal = svc.confirm_refusal(actor, case, members)
    if proposal is None:
        proposal = ProposalForm(formdata=None, version=str(case.version))
    if decision is None:
        decision = DecisionForm(formdata=None, version=str(case.version))
    return (
        render_template(
            "duplicates/detail.html",
            case=case,
            stage=svc.stage_of(case),
            members=members,
            own_ids=own_ids,
            records=records,
            names=names,
            person=person,
            name=name,
            explanation=wording.explanation(case, members, own_ids, names),
            pending=svc.proposal_kind(case, members),
            users=user_names({case.proposed_by_id, case.decided_by_id}),
            propose_refusal=propose_refusal,
            decide_refusal=decide_refusal,
            withdraw_refusal=svc.withdraw_refusal(actor, case),
            proposal=proposal,
            decision=decision,
            actions=actions or svc.suggested_actions(case, members),
            error=error,
            history=_history(case),
        ),
        status,
    )


def _history(case) -> list[dict]:
    """The case's steps as the audit trail keeps them (who, when, what)."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == "duplicate_case", AuditEvent.target_id == str(case.id))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    names = user_names({e.actor_id for e in events})
    return [
        {
            "at": e.at,
            "who": names.get(e.actor_id, e.actor_username or "系统"),
            "what": svc.HISTORY_LABELS.get(e.action, AUDIT_LABELS.get(e.action, e.action)),
            "failed": e.result != "success",
            "proposal": svc.PROPOSALS.get((e.detail or {}).get("proposal"), ""),
            "text": (e.detail or {}).get("reason") or (e.detail or {}).get("comment") or "",
        }
        for e in events
    ]


@bp.route("/<int:case_id>")
@requires("duplicate.handle")
def detail(case_id: int):
    case = svc.get_case_or_404(case_id, current_actor())
    return _render_case(case)


def _posted_actions(members) -> dict[int, str]:
    return {
        m.enrollment_id: value
        for m in members
        if (value := request.form.get(f"action-{m.enrollment_id}", "")) in svc.ACTIONS
    }


@bp.route("/<int:case_id>/propose", methods=["POST"])
@requires("duplicate.handle")
def propose(case_id: int):
    actor = current_actor()
    case = svc.get_case_or_404(case_id, actor)
    members = svc.members_of([case.id])[case.id]
    form = ProposalForm()
    actions = _posted_actions(members)
    if not form.validate_on_submit():
        return _render_case(case, proposal=form, actions=actions, error="请求无效，请重试。")
    try:
        if request.form.get("proposal") == "not_duplicate":
            svc.propose_not_duplicate(
                actor, case, members, form.reason.data, version=form.version.data
            )
            flash("已提出“非重复参保”意见，等待对方区划或上级确认。", "success")
        else:
            svc.propose(actor, case, members, actions, form.reason.data, version=form.version.data)
            flash("处理意见已提交，等待对方区划或上级确认后生效。", "success")
    except svc.DecisionRefused as exc:
        return _render_case(case, proposal=form, actions=actions, error=str(exc))
    except svc.DecisionConflict as exc:
        return _conflict(actor, "duplicate.propose", case_id, str(exc))
    return redirect(url_for("duplicates.detail", case_id=case.id), code=303)


@bp.route("/<int:case_id>/decide", methods=["POST"])
@requires("duplicate.handle")
def decide(case_id: int):
    actor = current_actor()
    case = svc.get_case_or_404(case_id, actor)
    members = svc.members_of([case.id])[case.id]
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_case(case, decision=form, error="请求无效，请重试。")
    returning = request.form.get("decision") == "return"
    try:
        if returning:
            svc.return_proposal(actor, case, members, form.comment.data, version=form.version.data)
            flash("处理意见已退回，参保记录未作任何修改。", "success")
        else:
            kind = svc.confirm(
                actor, case, members, version=form.version.data, comment=form.comment.data
            )
            flash(
                "已确认为非重复参保，参保记录保持不变。"
                if kind == "not_duplicate"
                else "已确认，处理结果已生效：参保记录已按意见保留、终止或暂停，并留档备查。",
                "success",
            )
    except svc.DecisionRefused as exc:
        return _render_case(case, decision=form, error=str(exc))
    except svc.DecisionConflict as exc:
        action = "duplicate.return" if returning else "duplicate.confirm"
        return _conflict(actor, action, case_id, str(exc))
    return redirect(url_for("duplicates.detail", case_id=case.id), code=303)


@bp.route("/<int:case_id>/withdraw", methods=["POST"])
@requires("duplicate.handle")
def withdraw(case_id: int):
    actor = current_actor()
    case = svc.get_case_or_404(case_id, actor)
    members = svc.members_of([case.id])[case.id]
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_case(case, error="请求无效，请重试。")
    try:
        svc.withdraw_proposal(actor, case, members, version=form.version.data)
    except svc.DecisionRefused as exc:
        return _render_case(case, error=str(exc))
    except svc.DecisionConflict as exc:
        return _conflict(actor, "duplicate.withdraw", case_id, str(exc))
    flash("处理意见已撤回，参保记录未作任何修改，可重新提出。", "success")
    return redirect(url_for("duplicates.detail", case_id=case.id), code=303)


def _conflict(actor, action: str, case_id: int, message: str):
    """Another user's step came first: say what they did; the attempt is audited."""
    case = db.session.get(DuplicateCase, case_id)
    if case is not None:
        svc.record_conflict(actor, action, case)
    flash(message, "warning")
    return redirect(url_for("duplicates.detail", case_id=case_id), code=303)


@bp.context_processor
def _labels():
    return {
        "kind_labels": dict(KINDS),
        "stage_labels": svc.STAGE_LABELS,
        "action_labels": ACTION_LABELS,
        "action_choices": list(ACTION_LABELS.items()),
        "scheme_labels": person_codes.SCHEME_LABELS,
        "enrollment_status_labels": person_codes.ENROLLMENT_STATUS_LABELS,
        "proposal_labels": svc.PROPOSALS,
        "category_labels": CATEGORY_LABELS,
        "payment_labels": PAYMENT_LABELS,
    }
