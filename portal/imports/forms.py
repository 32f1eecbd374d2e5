"""The upload form and the mapping step's form."""

from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.validators import DataRequired, Optional

from portal.forms import PortalForm, options
from portal.imports.columns import FIELD_BY_NAME, ListKind
from portal.persons.codes import KEY_POPULATIONS


class UploadForm(PortalForm):
    kind = SelectField("名单类型", validators=[DataRequired("请选择名单类型。")], choices=[])
    category = SelectField(
        "人员类别（重点人群名单）",
        validators=[Optional()],
        choices=options(
            [("", "按文件中的“人员类别”列"), *((k.code, k.label) for k in KEY_POPULATIONS)]
        ),
        description="整份名单都是同一类人员时在此选择，文件中可不填类别列。",
    )
    region = SelectField("导入到区划", validators=[DataRequired("请选择区划。")], choices=[])
    file = FileField(
        "文件",
        validators=[FileRequired("请选择要上传的文件。")],
        description=(
            "支持 .xlsx、.xls（Excel 97–2003）和 .csv（UTF-8 或 GBK）。表头可在标题行之下。"
        ),
    )


def mapping_form(list_kind: ListKind, column_choices, chosen: dict[str, int]) -> PortalForm:
    """The mapping step's form: one select of the file's columns per field of the list kind,
    starting from `chosen` (what was recognised)."""

    class MappingForm(PortalForm):
        pass

    choices = options(
        [("", "（文件中没有这一列）"), *((str(c), label) for c, label in column_choices)]
    )
    groups = {f: g for g in list_kind.required_any for f in g}
    for name in list_kind.fields:
        spec = FIELD_BY_NAME[name]
        if name in list_kind.required:
            note = "必需"
        elif name in groups:
            note = "与“" + "”“".join(FIELD_BY_NAME[f].label for f in groups[name] if f != name)
            note += "”至少选一列"
        else:
            note = "可选"
        shown = "、".join(s for s in spec.synonyms[:4] if not s.isascii())
        setattr(
            MappingForm,
            name,
            SelectField(
                f"{spec.label}（{note}）",
                choices=choices,
                default=str(chosen[name]) if name in chosen else "",
                description=f"常见列名：{shown}",
            ),
        )
    return MappingForm()
