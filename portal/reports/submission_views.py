"""Submission and sign-off pages (报表报送): a region's reporting periods (and opening one), the
page of one region in one period (its own submission: frozen figures, 报送后变动, history,
downloads, submit; the regions reporting to it with their state and overdue), and the steps.

Every route loads the region through the actor's report.submit scope (a region outside it is
not found), then the period among those that apply to the region; the service says who may
submit and who may review (`permissions.can_below`).
"""

import io
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from permissions import can, requires, scope_for
from portal.audit import operations as audit
from portal.downloads import send_bytes
from portal.extensions import db
from portal.forms import PortalForm, options
from portal.regions import queries as region_queries
from portal.regions.models import Region
from portal.reports import submissions as svc
from portal.reports.blueprint import bp
from portal.reports.models import EVENT_ACTION_LABELS
from portal.request_cycle import current_actor
from portal.timeutil import format_local, local_today, utcnow
from portal.years.selection import choices as year_choices
from portal.years.selection import current_year, parse_year


class PeriodForm(PortalForm):
    name = StringField("报送期名称")
    code = StringField("报送期代码")
    year = SelectField("参保年度", choices=[])
    county_due = DateField("县级报送截止日期", validators=[Optional()])
    city_due = DateField("市级报送截止日期", validators=[Optional()])
    province_due = DateField("省级报送截止日期", validators=[Optional()])


class SubmitForm(PortalForm):
    version = HiddenField()


class ReviewForm(PortalForm):
    comment = TextAreaField("审核意见")
    version = HiddenField()


def _region_or_404(code: str) -> Region:
    """A region of the actor's report.submit scope that submits forms; else not found."""
    region = region_queries.get_region_or_404(code, scope_for(current_actor(), svc.SUBMIT))
    if not svc.reports(region):
        abort(404)
    return region


def _trail(region: Region) -> list[Region]:
    return region_queries.trail(region, scope_for(current_actor(), svc.SUBMIT))


def _period_form(region: Region, formdata=None) -> PeriodForm:
    year = current_year()
    form = PeriodForm(formdata=formdata)
    form.year.choices = options([(str(y), f"{y} 参保年度") for y in year_choices()])
    if formdata is None:
        form.year.data = str(year)
    return form


# --- a region's periods -----------------------------------------------------------------------


@bp.route("/<region_code>/submissions")
@requires(svc.SUBMIT)
def submissions(region_code: str):
    region = _region_or_404(region_code)
    return _render_periods(region, _period_form(region))


def _render_periods(region: Region, form: PeriodForm, errors=(), status=200):
    actor = current_actor()
    periods = svc.periods_for(region)
    rows = []
    for period in periods:
        own = svc.submission_of(period, region.code)
        children = svc.child_rows(period, region)
        rows.append(
            {
                "period": period,
                "setter": db.session.get(Region, period.region_code),
                "due": svc.due_date(period, region.level),
                "state": svc.state_of(own),
                "overdue": svc.is_overdue(period, region.level, own),
                "children": len(children),
                "accepted": sum(1 for c in children if c.state == "accepted"),
                "waiting_review": sum(1 for c in children if c.state == "submitted"),
                "overdue_children": sum(1 for c in children if c.overdue),
            }
        )
    return (
        render_template(
            "reports/submissions.html",
            region=region,
            trail=_trail(region),
            rows=rows,
            form=form,
            may_open=svc.may_open_period(actor, region),
            levels=[lv for lv in svc.levels_below(region)],
            errors=list(errors),
        ),
        status,
    )


@bp.route("/<region_code>/submissions", methods=["POST"])
@requires(svc.SUBMIT)
def open_period(region_code: str):
    region = _region_or_404(region_code)
    actor = current_actor()
    if not svc.may_open_period(actor, region):
        abort(403)
    form = _period_form(region, request.form)
    if not form.validate_on_submit():
        messages = [f"{form[name].label.text}：{e}" for name, es in form.errors.items() for e in es]
        return _render_periods(region, form, messages or ["请求无效，请重试。"], status=400)
    data = svc.PeriodInput(
        year=parse_year(form.year.data),
        code=form.code.data or "",
        name=form.name.data or "",
        dues={3: form.county_due.data, 2: form.city_due.data, 1: form.province_due.data},
    )
    try:
        period = svc.open_period(actor, region, data)
    except svc.SubmissionRefused as exc:
        return _render_periods(region, form, exc.details or [str(exc)], status=400)
    flash(f"已开启报送期“{period.name}”（{period.year} 参保年度）。", "success")
    return redirect(
        url_for("reports.submission", region_code=region.code, period_id=period.id), code=303
    )


# --- one region in one period -----------------------------------------------------------------


@dataclass
class FormView:
    """One form of a submission: the frozen table and what changed since."""

    code: str
    title: str
    definition: object
    table: object  # FormTable rebuilt from the snapshot
    changes: dict  # (region code, column code) → Difference
    differences: list


def _form_views(submission, region: Region, year: int) -> list[FormView]:
    from portal.reports.forms import FORMS, FormTable, compute, differences

    views = []
    for code, frozen in (submission.snapshot or {}).items():
        submitted = FormTable.from_snapshot(frozen)
        if code in FORMS:
            found = differences(submitted, compute(code, region.code, year))
        else:  # a form withdrawn since: the frozen figures stay readable
            found = []
        views.append(
            FormView(
                code=code,
                title=svc.form_title(code) if code in FORMS else code,
                definition=FORMS.get(code),
                table=submitted,
                changes={(d.region_code, d.column_code): d for d in found},
                differences=found,
            )
        )
    return views


def _render_submission(region, period, *, review=None, error=None, details=(), status=200):
    actor = current_actor()
    own = svc.submission_of(period, region.code)
    events = svc.events_of(own) if own is not None else []
    names = svc.user_names({e.user_id for e in events} | ({own.submitted_by_id} if own else set()))
    version = str(own.version) if own else ""
    if review is None:
        review = ReviewForm(formdata=None, version=version)
    children = svc.child_rows(period, region)
    return (
        render_template(
            "reports/submission.html",
            region=region,
            trail=_trail(region),
            period=period,
            setter=db.session.get(Region, period.region_code),
            own=own,
            state=svc.state_of(own),
            due=svc.due_date(period, region.level),
            overdue=svc.is_overdue(period, region.level, own),
            forms=_form_views(own, region, period.year) if own is not None else [],
            events=events,
            names=names,
            submit_refusal=svc.submit_refusal(actor, region, period),
            submit_form=SubmitForm(formdata=None, version=version),
            may_review=own is not None and own.state == "submitted" and svc.may_review(actor, own),
            may_reopen=own is not None
            and own.state == "accepted"
            and svc.may_review(actor, own)
            and svc.reopen_refusal(own) is None,
            review=review,
            children=children,
            awaited=[c.region for c in children if c.state != "accepted"],
            may_download=can(actor, "report.export", region.code),
            error=error,
            details=list(details),
            today=local_today(),
        ),
        status,
    )


@bp.route("/<region_code>/submissions/<int:period_id>")
@requires(svc.SUBMIT)
def submission(region_code: str, period_id: int):
    region = _region_or_404(region_code)
    period = svc.get_period_or_404(region, period_id)
    return _render_submission(region, period)


@bp.route("/<region_code>/submissions/<int:period_id>/submit", methods=["POST"])
@requires(svc.SUBMIT)
def submit(region_code: str, period_id: int):
    region = _region_or_404(region_code)
    period = svc.get_period_or_404(region, period_id)
    actor = current_actor()
    if not can(actor, svc.SUBMIT, region.code) or svc.may_review_region(actor, region):
        abort(403)  # a reviewer above never submits for the region it reviews
    form = SubmitForm()
    if not form.validate_on_submit():
        return _render_submission(region, period, error="请求无效，请重试。", status=400)
    try:
        svc.submit(actor, region, period, version=form.version.data)
    except svc.SubmissionRefused as exc:
        return _render_submission(region, period, error=str(exc), details=exc.details, status=400)
    except svc.SubmissionConflict as exc:
        flash(str(exc), "warning")
        return redirect(
            url_for("reports.submission", region_code=region.code, period_id=period.id), code=303
        )
    flash(f"{region.name}的报表已报送，等待上级审核。", "success")
    return redirect(
        url_for("reports.submission", region_code=region.code, period_id=period.id), code=303
    )


@bp.route("/<region_code>/submissions/<int:period_id>/review", methods=["POST"])
@requires(svc.REVIEW)
def review(region_code: str, period_id: int):
    region = _region_or_404(region_code)
    period = svc.get_period_or_404(region, period_id)
    actor = current_actor()
    if not svc.may_review_region(actor, region):
        abort(403)  # a county never accepts its own forms
    own = svc.submission_of(period, region.code)
    if own is None:
        abort(404)
    form = ReviewForm()
    decision = request.form.get("decision", "")
    if not form.validate_on_submit():
        return _render_submission(
            region, period, review=form, error="请求无效，请重试。", status=400
        )
    try:
        svc.review(actor, own, decision, form.comment.data, version=form.version.data)
    except svc.SubmissionRefused as exc:
        return _render_submission(region, period, review=form, error=str(exc), status=400)
    except svc.SubmissionConflict as exc:
        svc.record_conflict(actor, f"report.{decision}", own)
        flash(str(exc), "warning")
        return redirect(
            url_for("reports.submission", region_code=region.code, period_id=period.id), code=303
        )
    flash(
        {
            "return": f"已退回{region.name}的报表，意见已通知报送单位。",
            "reopen": f"已撤销{region.name}报表的审核通过并退回，待其重新报送。",
        }.get(decision, f"{region.name}的报表已审核通过。"),
        "success",
    )
    parent = db.session.get(Region, region.parent_code) if region.parent_code else None
    if parent is not None and scope_for(actor, svc.SUBMIT).contains(parent.code):
        target = url_for("reports.submission", region_code=parent.code, period_id=period.id)
    else:
        target = url_for("reports.submission", region_code=region.code, period_id=period.id)
    return redirect(target, code=303)


@bp.route("/<region_code>/submissions/<int:period_id>/<form_code>-<which>.xlsx")
@requires(svc.SUBMIT)
def workbook(region_code: str, period_id: int, form_code: str, which: str):
    from portal.reports.forms import FORMS, FormTable, compute, write_workbook

    region = _region_or_404(region_code)
    period = svc.get_period_or_404(region, period_id)
    actor = current_actor()
    if not can(actor, "report.export", region.code):
        abort(403)
    own = svc.submission_of(period, region.code)
    if which not in ("submitted", "current") or own is None or form_code not in own.snapshot:
        abort(404)
    stream = io.BytesIO()
    if which == "submitted":
        table = FormTable.from_snapshot(own.snapshot[form_code])
        write_workbook(table, stream, actor=actor, detail=False)
    else:
        if form_code not in FORMS:
            abort(404)
        table = compute(form_code, region.code, period.year)
        write_workbook(table, stream, actor=actor, detail=True)
    audit.record(
        "export",
        actor=actor,
        target_type="report_submission",
        target_id=own.id,
        target_label=f"{region.name} · {period.name} · {svc.form_title(form_code)}",
        region_code=region.code,
        detail={"form": form_code, "which": "报送时" if which == "submitted" else "当前"},
    )
    label = "报送版" if which == "submitted" else "当前数据"
    stamp = format_local(utcnow(), "%Y%m%d")
    name = f"{region.name}{period.year}{svc.form_title(form_code)}-{label}-{stamp}.xlsx"
    return send_bytes(stream.getvalue(), name)


def _status_of(region: Region, year: int) -> list[dict]:
    """The region's periods of the year and its own state in each (the forms' page)."""
    rows = []
    for period in svc.periods_for(region):
        if period.year != year:
            continue
        own = svc.submission_of(period, region.code)
        rows.append(
            {
                "period": period,
                "state": svc.state_of(own),
                "due": svc.due_date(period, region.level),
                "overdue": svc.is_overdue(period, region.level, own),
            }
        )
    return rows


@bp.context_processor
def _labels():
    return {
        "report_submission_status": _status_of,
        "state_labels": svc.STATE_LABELS,
        "event_labels": EVENT_ACTION_LABELS,
        "due_labels": svc.DUE_LABELS,
    }
