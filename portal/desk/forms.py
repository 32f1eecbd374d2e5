"""Forms of the desk: the file filters, bulk assignment, auto-assignment, handover, review."""

from wtforms import BooleanField, DateField, Field, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.widgets import DateInput

from portal.desk.queries import OPEN, DeskFilters
from portal.forms import PortalForm, SearchForm, options
from portal.persons import codes
from portal.persons.forms import KEY_POPULATION_CHOICES

ALL = ("", "全部")
STATE_CHOICES = (
    *((code, label) for code, label in codes.FILE_STATES if code in codes.OPEN_FILE_STATES),
    (OPEN, "全部在办"),
)
DATE_MESSAGE = "日期格式不正确，请按“年-月-日”填写，例如 2026-12-31。"


class DeskFilterForm(SearchForm):
    """Which of the township's files the table shows (GET), also carried by the assign form."""

    community = SelectField("社区", validators=[Optional()], choices=[], default="")
    state = SelectField(
        "档案状态", validators=[Optional()], choices=options(STATE_CHOICES), default="unassigned"
    )
    key_population = SelectField(
        "重点人群",
        validators=[Optional()],
        choices=options([ALL, *KEY_POPULATION_CHOICES]),
        default="",
    )
    reason = SelectField(
        "未参保原因", validators=[Optional()], choices=options([ALL, *codes.REASONS]), default=""
    )

    def set_communities(self, choices: list[tuple[str, str]]) -> None:
        self.community.choices = options([ALL, *choices])

    def filters(self) -> DeskFilters:
        return DeskFilters(
            community=self.community.data or "",
            state=self.state.data or "unassigned",
            key_population=self.key_population.data or "",
            reason=self.reason.data or "",
        )


class IdListField(Field):
    """Ticked file ids (checkboxes named file_ids); anything but a whole number is refused."""

    def process_formdata(self, valuelist):
        self.data = []
        for value in valuelist:
            text = (value or "").strip()
            if not text.isdigit() or len(text) > 18:
                self.data = []
                raise ValueError("所勾选的档案编号无效，请刷新页面后重新勾选。")
            self.data.append(int(text))

    def _value(self):
        return ""


class DueDateField(DateField):
    """An optional date (HTML date input; typed by hand where the browser has no picker)."""

    widget = DateInput()

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATE_MESSAGE) from None


class AssignForm(PortalForm):
    """Give the ticked files, or all files matching the filters, to one worker."""

    worker = SelectField("分配给网格员", choices=[], validate_choice=False)
    due_date = DueDateField("截止日期（可选）", validators=[Optional()])
    file_ids = IdListField()
    # 全选本页 without JavaScript: the box ticked sends the page's ids (hidden page_ids) as ticked.
    page_all = BooleanField("全选本页")
    page_ids = IdListField()
    selection = StringField()  # the button pressed: "ticked" or "filter"
    # 代管: the same ticks and worker, sent to the cover route with a reason (checked there).
    cover_reason = StringField("代管原因")

    def ticked_ids(self) -> list[int]:
        """The ticked files, and the whole page when 全选本页 was ticked (no repeats)."""
        ids = list(self.file_ids.data or [])
        if self.page_all.data:
            ids += self.page_ids.data or []
        return list(dict.fromkeys(ids))

    def validate_selection(self, field):
        if field.data not in ("ticked", "filter"):
            field.data = "ticked"


class AutoAssignForm(PortalForm):
    due_date = DueDateField("截止日期（可选）", validators=[Optional()])


class EndCoverForm(PortalForm):
    grant = StringField()  # the 代管 grant to end


class HandoverForm(PortalForm):
    from_worker = StringField()
    to_worker = SelectField("交给", choices=[], validate_choice=False)


class ReviewForm(PortalForm):
    decision = StringField()  # the button pressed: "approve" or "return"
    comment = TextAreaField(
        "审核意见（退回时必填）",
        validators=[Length(max=500, message="审核意见不能超过 500 字。")],
    )
    # Approving without the evidence the outcome requires (visits/evidence_rules.py).
    waiver = TextAreaField(
        "豁免原因（无证明材料时通过须填写）",
        validators=[Length(max=500, message="豁免原因不能超过 500 字。")],
    )


def first_error(*forms) -> str | None:
    """The first validation message of the given forms, as the page shows it."""
    for form in forms:
        for name, messages in form.errors.items():
            label = form[name].label.text if name in form._fields else ""
            message = messages[0] if messages else "输入有误。"
            return f"{label}：{message}" if label and name != "file_ids" else message
    return None
