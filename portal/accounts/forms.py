"""Sign-in and own-password forms."""

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.accounts.passwords import RULE_TEXT
from portal.forms import PortalForm


class LoginForm(PortalForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码。"), Length(max=256)])


class ChangePasswordForm(PortalForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码。")])
    new = PasswordField(
        "新密码",
        description=RULE_TEXT,
        validators=[DataRequired("请输入新密码。"), Length(max=256)],
    )
    confirm = PasswordField(
        "确认新密码",
        validators=[DataRequired("请再次输入新密码。"), EqualTo("new", "两次输入的新密码不一致。")],
    )
