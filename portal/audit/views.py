"""The audit log page: the auditor, and only the auditor, pages and filters it."""

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional

from permissions import requires
from portal.audit.operations import ACTION_LABELS, RESULT_LABELS
from portal.audit.queries import AuditFilters, events_query
from portal.extensions import db
from portal.forms import SearchForm, options

bp = Blueprint("audit", __name__, url_prefix="/audit")


class AuditSearchForm(SearchForm):
    action = SelectField(
        "操作", validators=[Optional()], choices=options([("", "全部"), *ACTION_LABELS.items()])
    )
    result = SelectField(
        "结果", validators=[Optional()], choices=options([("", "全部"), *RESULT_LABELS.items()])
    )
    username = StringField("操作人", validators=[Optional()])
    date_from = DateField("起始日期", validators=[Optional()])
    date_to = DateField("截止日期", validators=[Optional()])


@bp.route("/")
@requires("audit.view")
def index():
    form = AuditSearchForm(request.args)
    valid = form.validate()
    filters = AuditFilters()
    if valid:
        filters = AuditFilters(
            action=form.action.data or "",
            result=form.result.data or "",
            username=form.username.data or "",
            date_from=form.date_from.data,
            date_to=form.date_to.data,
        )
    page = db.paginate(
        events_query(current_user, filters),
        per_page=current_app.config["AUDIT_PER_PAGE"],
        error_out=False,
    )
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        valid=valid,
        action_labels=ACTION_LABELS,
        result_labels=RESULT_LABELS,
    )
