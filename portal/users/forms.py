"""User administration forms."""

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from permissions.roles import ROLES


def role_choices(names) -> list[tuple[str, str]]:
    return [(name, ROLES[name].label) for name in names]


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("用户名/姓名", validators=[Optional(), Length(max=64)])
    role = SelectField("角色", validators=[Optional()], choices=[])
    status = SelectField(
        "状态", validators=[Optional()],
        choices=[("", "全部"), ("active", "启用"), ("disabled", "停用")],
    )


class CreateUserForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), Length(max=32)],
                           description="3–32 位小写字母、数字或 _ . -，用于登录。")
    display_name = StringField("姓名", validators=[DataRequired("请输入姓名。"), Length(max=64)])
    phone = StringField("联系电话", validators=[Optional(), Length(max=20)])
    role = SelectField("角色", validators=[DataRequired("请选择角色。")], choices=[])


class GrantForm(FlaskForm):
    role = SelectField("角色", validators=[DataRequired("请选择角色。")], choices=[])
    region = SelectField("区划", validators=[DataRequired("请选择区划。")], choices=[])


class ConfirmForm(FlaskForm):
    """A bare POST form (CSRF token only) for buttons such as disable or reset."""
