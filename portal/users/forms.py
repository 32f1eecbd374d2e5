"""User administration forms."""

from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from permissions.roles import ROLES
from portal.forms import PortalForm, SearchForm, options


def role_choices(names):
    return options((name, ROLES[name].label) for name in names)


class UserSearchForm(SearchForm):
    q = StringField("用户名/姓名", validators=[Optional(), Length(max=64)])
    role = SelectField("角色", validators=[Optional()], choices=[])
    status = SelectField(
        "状态",
        validators=[Optional()],
        choices=options([("", "全部"), ("active", "启用"), ("disabled", "停用")]),
    )


class CreateUserForm(PortalForm):
    username = StringField(
        "用户名",
        validators=[DataRequired("请输入用户名。"), Length(max=32)],
        description="3–32 位小写字母、数字或 _ . -，用于登录。",
    )
    display_name = StringField("姓名", validators=[DataRequired("请输入姓名。"), Length(max=64)])
    phone = StringField("联系电话", validators=[Optional(), Length(max=20)])
    role = SelectField("角色", validators=[DataRequired("请选择角色。")], choices=[])


class GrantForm(PortalForm):
    role = SelectField("角色", validators=[DataRequired("请选择角色。")], choices=[])
    region = SelectField("区划", validators=[DataRequired("请选择区划。")], choices=[])


class ConfirmForm(PortalForm):
    """A bare POST form (CSRF token only) for buttons such as disable or reset."""
