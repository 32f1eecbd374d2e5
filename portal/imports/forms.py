"""The upload form."""

from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.validators import DataRequired, Optional

from portal.forms import PortalForm, options
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
