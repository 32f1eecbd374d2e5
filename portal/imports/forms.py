"""The upload form."""

from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.validators import DataRequired

from portal.forms import PortalForm


class UploadForm(PortalForm):
    kind = SelectField("名单类型", validators=[DataRequired("请选择名单类型。")], choices=[])
    region = SelectField("导入到区划", validators=[DataRequired("请选择区划。")], choices=[])
    file = FileField(
        "文件",
        validators=[FileRequired("请选择要上传的文件。")],
        description=(
            "支持 .xlsx、.xls（Excel 97–2003）和 .csv（UTF-8 或 GBK）。表头可在标题行之下。"
        ),
    )
