"""Forms of the person pages: the list's filters and the edit form."""

import re

from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from portal.forms import PortalForm, SearchForm, options
from portal.persons import codes
from portal.persons.idnumbers import normalize_id_number
from portal.persons.queries import (
    E_CREDENTIAL_CHOICES,
    GOVERNMENT_PAID,
    NO_FILE,
    POPULATION_CHOICES,
    PersonFilters,
)
from portal.phones import normalize_phone

ID_TAIL = re.compile(r"^[0-9]{3,5}[0-9X]$")  # the last 4–6 characters of an ID number
PHONE_TAIL = re.compile(r"^[0-9]{4}$")
ALL = ("", "全部")
FULL_ID_NOT_IN_URL = "完整的身份证号不能放在网址中查询，请在查询框中输入后点“查询”。"
# Fields of the list's form that are not filters (the export's own).
NOT_FILTERS = ("full", "purpose")
PHONE_MESSAGE = "联系电话格式不正确：应为 11 位手机号（1 开头）或带区号的固定电话。"
# The key-population filter: any government-paid group, or one group (also the desk's filter).
KEY_POPULATION_CHOICES = (
    (GOVERNMENT_PAID, "政府资助人群（任一）"),
    *((k.code, k.label) for k in codes.KEY_POPULATIONS),
)


def _id_query(raw: str | None) -> str:
    """A full number (normalised) or a tail of 4–6 characters, upper-case X."""
    text = "".join((raw or "").split()).upper().replace("Ｘ", "X")
    if not text:
        return ""
    if ID_TAIL.match(text):
        return text
    if len(text) >= 15:
        check = normalize_id_number(text)
        if check.ok:
            return check.value
        raise ValidationError(check.error)
    raise ValidationError("请输入完整的 18 位身份证号，或身份证号的末 4 至 6 位。")


class PersonSearchForm(SearchForm):
    name = StringField("姓名", validators=[Optional(), Length(max=64)])
    id_number = StringField("身份证号", validators=[Optional(), Length(max=30)])
    phone_tail = StringField("手机尾号", validators=[Optional(), Length(max=8)])
    region = SelectField("社区", validators=[Optional()], choices=[])
    insured_status = SelectField(
        "参保状态", validators=[Optional()], choices=options([ALL, *codes.INSURED_STATUSES])
    )
    scheme = SelectField(
        "参保类型", validators=[Optional()], choices=options([ALL, *codes.SCHEMES])
    )
    key_population = SelectField(
        "重点人群", validators=[Optional()], choices=options([ALL, *KEY_POPULATION_CHOICES])
    )
    file_state = SelectField(
        "档案状态",
        validators=[Optional()],
        choices=options([ALL, *codes.FILE_STATES, (NO_FILE, "无档案")]),
    )
    reason = SelectField(
        "未参保原因", validators=[Optional()], choices=options([ALL, *codes.REASONS])
    )
    e_credential = SelectField(
        "电子凭证", validators=[Optional()], choices=options([ALL, *E_CREDENTIAL_CHOICES])
    )
    population = SelectField(
        "应参保", validators=[Optional()], choices=options([ALL, *POPULATION_CHOICES])
    )
    full = BooleanField("导出完整号码")
    purpose = StringField("用途", validators=[Optional(), Length(max=200)])

    def __init__(self, formdata=None, *, posted: bool = False, **kwargs):
        super().__init__(formdata, **kwargs)
        # A full ID number is taken only from a POSTed form: never from (nor into) a URL.
        self.posted = posted

    def validate_id_number(self, field):
        field.data = _id_query(field.data)
        if len(field.data) > 6 and not self.posted:
            raise ValidationError(FULL_ID_NOT_IN_URL)

    def has_full_id_number(self) -> bool:
        return len(self.id_number.data or "") > 6

    def query_args(self) -> dict:
        """The filters as query-string arguments for links and the address bar: a full ID number
        stays out (the list of one person it finds is shown in the POST's own answer)."""
        args = {
            field.name: field.data
            for field in self
            if field.name not in NOT_FILTERS and field.data and isinstance(field.data, str)
        }
        if self.has_full_id_number():
            del args["id_number"]
        return args

    def export_error(self) -> str | None:
        """Why an export of this form may not run (a full export states its purpose)."""
        if self.full.data and not (self.purpose.data or "").strip():
            return "导出完整号码须填写用途。"
        return None

    def validate_phone_tail(self, field):
        text = (field.data or "").strip()
        if text and not PHONE_TAIL.match(text):
            raise ValidationError("手机尾号请输入 4 位数字。")
        field.data = text

    def filters(self) -> PersonFilters:
        return PersonFilters(
            name=(self.name.data or "").strip(),
            id_number=self.id_number.data or "",
            phone_tail=self.phone_tail.data or "",
            region=self.region.data or "",
            insured_status=self.insured_status.data or "",
            scheme=self.scheme.data or "",
            key_population=self.key_population.data or "",
            file_state=self.file_state.data or "",
            reason=self.reason.data or "",
            e_credential=self.e_credential.data or "",
            population=self.population.data or "",
        )


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (works without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PersonEditForm(PortalForm):
    # The version the user started from, and a signed digest of the values they saw: together
    # they say whether, and which of, these fields changed meanwhile (optimistic locking).
    version = IntegerField(
        widget=HiddenInput(), validators=[InputRequired("页面已过期，请刷新后重新修改。")]
    )
    token = HiddenField()
    phone = StringField(
        "联系电话",
        validators=[Optional(), Length(max=20)],
        description="填写新号码将替换原号码；留空则保持不变。",
    )
    clear_phone = BooleanField("删除联系电话")
    address = StringField("现住址", validators=[Optional(), Length(max=200)])
    e_credential = BooleanField("已激活医保电子凭证")
    key_populations = CheckboxesField(
        "重点人群",
        validators=[Optional()],
        choices=options((k.code, k.label) for k in codes.KEY_POPULATIONS),
    )
    region_code = SelectField("管理社区", validators=[DataRequired("请选择管理社区。")], choices=[])

    def validate_phone(self, field):
        text = (field.data or "").strip()
        if text and normalize_phone(text) is None:
            raise ValidationError(PHONE_MESSAGE)

    def key_population_mask(self) -> int:
        return sum(codes.KEY_POPULATION_BY_CODE[c].bit for c in self.key_populations.data or ())
