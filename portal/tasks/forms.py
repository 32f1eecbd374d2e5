"""Forms of the grid worker's pages: the task search and the visit form."""

import uuid

from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from portal.forms import PortalForm, SearchForm, options
from portal.persons.codes import REASONS
from portal.persons.forms import ID_TAIL
from portal.persons.queries import PersonFilters
from portal.visits.codes import METHODS, OUTCOMES
from portal.visits.operations import VisitInput

EXPIRED = "页面已过期，请刷新后重新填写。"


class TaskSearchForm(SearchForm):
    q = StringField("姓名或身份证号末4–6位", validators=[Optional(), Length(max=32)])

    def validate_q(self, field):
        text = "".join((field.data or "").split()).replace("Ｘ", "X").replace("x", "X")
        if any(c.isdigit() for c in text) and not ID_TAIL.match(text):
            raise ValidationError("请输入姓名，或身份证号的末 4 至 6 位。")
        field.data = text

    def filters(self) -> PersonFilters:
        text = self.q.data or ""
        if ID_TAIL.match(text):
            return PersonFilters(id_number=text)
        return PersonFilters(name=text)


class VisitForm(PortalForm):
    method = RadioField(
        "走访方式",
        choices=options(METHODS),
        default=METHODS[0][0],
        validators=[InputRequired("请选择走访方式。")],
    )
    outcome = RadioField(
        "走访结果",
        choices=options((o.code, o.label) for o in OUTCOMES),
        validators=[InputRequired("请选择走访结果。")],
    )
    reason_code = SelectField(
        "未参保原因",
        choices=options([("", "请选择"), *REASONS]),
        validators=[Optional()],
        description="走访结果为“拒绝参保”时必填。",
    )
    note = TextAreaField("备注", validators=[Optional(), Length(max=500)])
    follow_up_on = DateField("下次跟进日期", validators=[Optional()])
    # Offered only while the person's e-credential is not activated (the page decides).
    activated_e_credential = BooleanField("帮助激活医保电子凭证")
    # Made when the form is rendered and kept in the device's draft: a retried submit saves once.
    idempotency_key = HiddenField(validators=[InputRequired(EXPIRED)])
    # The file version the worker opened, and a signed snapshot of what they saw (a conflict
    # says what changed).
    version = IntegerField(widget=HiddenInput(), validators=[InputRequired(EXPIRED)])
    token = HiddenField()

    def validate_idempotency_key(self, field):
        try:
            field.data = str(uuid.UUID(field.data.strip()))  # one spelling: 36 characters
        except (AttributeError, ValueError):
            raise ValidationError(EXPIRED) from None

    def visit_input(self) -> VisitInput:
        return VisitInput(
            method=self.method.data,
            outcome=self.outcome.data,
            idempotency_key=self.idempotency_key.data,
            version=self.version.data,
            token=self.token.data or None,
            reason_code=self.reason_code.data or None,
            note=self.note.data or "",
            follow_up_on=self.follow_up_on.data,
            activated_e_credential=bool(self.activated_e_credential.data),
        )
