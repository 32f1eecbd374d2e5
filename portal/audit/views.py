"""The audit log page: the auditor, and only the auditor, pages, filters and exports it."""

import os
import tempfile
from pathlib import Path

from flask import Blueprint, after_this_request, current_app, render_template, request, send_file
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional

from permissions import requires
from portal.audit import operations as audit
from portal.audit.details import Lookups, describe, describe_text
from portal.audit.operations import ACTION_LABELS, RESULT_LABELS
from portal.audit.queries import EXPORT_LIMIT, AuditFilters, events_query
from portal.extensions import db
from portal.forms import SearchForm, options
from portal.request_cycle import current_actor
from portal.spreadsheets import write_table
from portal.timeutil import format_local

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.teardown_app_request(audit.write_deferred)  # refused-access events outlive the rollback


class AuditSearchForm(SearchForm):
    action = SelectField(
        "操作", validators=[Optional()], choices=options([("", "全部"), *ACTION_LABELS.items()])
    )
    result = SelectField(
        "结果", validators=[Optional()], choices=options([("", "全部"), *RESULT_LABELS.items()])
    )
    username = StringField("操作人", validators=[Optional()])
    region = StringField("区划代码", validators=[Optional()])
    date_from = DateField("起始日期", validators=[Optional()])
    date_to = DateField("截止日期", validators=[Optional()])


def _filters(form: AuditSearchForm) -> tuple[bool, AuditFilters]:
    valid = form.validate()
    if not valid:
        return False, AuditFilters()
    return True, AuditFilters(
        action=form.action.data or "",
        result=form.result.data or "",
        username=form.username.data or "",
        region=(form.region.data or "").strip(),
        date_from=form.date_from.data,
        date_to=form.date_to.data,
    )


@bp.route("/")
@requires("audit.view")
def index():
    form = AuditSearchForm(request.args)
    valid, filters = _filters(form)
    page = db.paginate(
        events_query(current_actor(), filters),
        per_page=current_app.config["AUDIT_PER_PAGE"],
        error_out=False,
    )
    lookups = Lookups.for_events(page.items)
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        valid=valid,
        details={e.id: describe(e.detail, lookups) for e in page.items},
        names=lookups.regions,
        action_labels=ACTION_LABELS,
        result_labels=RESULT_LABELS,
        export_args={k: v for k, v in request.args.items() if k != "page"},
    )


HEADERS = ["时间", "操作人", "来源地址", "操作", "对象", "详情", "区划", "区划代码", "结果"]


@bp.route("/export")
@requires("audit.view")
def export():
    """The filtered events as an Excel workbook (at most EXPORT_LIMIT rows); itself audited."""
    actor = current_actor()
    form = AuditSearchForm(request.args)
    _, filters = _filters(form)
    events = list(db.session.scalars(events_query(actor, filters).limit(EXPORT_LIMIT)))
    lookups = Lookups.for_events(events)
    rows = [
        [
            format_local(e.at, "%Y-%m-%d %H:%M:%S"),
            e.actor_username or "",
            e.ip or "",
            ACTION_LABELS.get(e.action, e.action),
            e.target_label or "",
            describe_text(e.detail, lookups),
            lookups.regions.get(e.region_code, e.region_code or ""),
            e.region_code or "",
            RESULT_LABELS.get(e.result, e.result),
        ]
        for e in events
    ]
    handle, name = tempfile.mkstemp(suffix=".xlsx")
    Path(name).chmod(0o600)
    path = Path(name)
    try:
        write_table(path, "审计日志", HEADERS, rows, {1: 20, 5: 24, 6: 60}, text_columns=(7,))
    finally:
        os.close(handle)
    audit.record(
        "audit.export",
        actor=actor,
        target_type="audit_log",
        target_label="审计日志",
        region_code=actor.region_code,
        detail={"what": "audit", "rows": len(rows), "filters": filters.active()},
    )

    @after_this_request
    def _remove(response):
        path.unlink(missing_ok=True)
        return response

    return send_file(path, as_attachment=True, download_name="审计日志.xlsx", max_age=0, etag=False)
