"""Sign in, sign out, change own password."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from permissions import mark_consulted, public, signed_in
from permissions.guard import redirect_page
from portal.accounts import operations
from portal.accounts.forms import ChangePasswordForm, LoginForm

bp = Blueprint("auth", __name__)

END_MESSAGES = {
    "idle": "长时间未操作，已自动退出，请重新登录。",
    "lifetime": "登录已超过 12 小时，请重新登录。",
    "disabled": "该账户已停用，请联系管理员。",
}
# Set by logout: the next login page clears the device's drafts (static/signed-out.js).
CLEAR_DEVICE = "clear_device"
ALWAYS_ALLOWED = {"auth.change_password", "auth.logout", "auth.login", "static"}


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme:
            return target
    return url_for("home.index")


@bp.before_app_request
def force_password_change():
    """A user given a password by someone else must choose their own before anything else."""
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in ALWAYS_ALLOWED
    ):
        mark_consulted()  # a redirect away from the page is itself the decision
        flash("首次登录或密码已被重置，请先修改密码。", "warning")
        return redirect_page(url_for("auth.change_password"))
    return None


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    reason = g.get("session_end_reason") or request.args.get("ended")
    if reason in END_MESSAGES and request.method == "GET":
        flash(END_MESSAGES[reason], "warning")
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        result = operations.sign_in(form.username.data, form.password.data)
        if result.user is not None:
            return redirect(_safe_next(request.args.get("next")))
        error = result.message
    clear_device = request.method == "GET" and session.pop(CLEAR_DEVICE, False)
    return render_template("accounts/login.html", form=form, error=error, clear_device=clear_device)


@bp.route("/logout", methods=["POST"])
@signed_in
def logout():
    operations.sign_out(current_user._get_current_object())
    flash("您已安全退出。", "success")
    # Shared phones: the login page shown next clears what the portal kept on the device (the
    # visit drafts; static/signed-out.js), and browsers that honour it clear it at once.
    session[CLEAR_DEVICE] = True
    response = redirect(url_for("auth.login"))
    response.headers["Clear-Site-Data"] = '"storage"'
    return response


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def change_password():
    form = ChangePasswordForm()
    problems = []
    if form.validate_on_submit():
        problems = operations.change_own_password(
            current_user._get_current_object(), form.current.data, form.new.data
        )
        if not problems:
            flash("密码已修改。", "success")
            return redirect(url_for("home.index"))
        if problems == [operations.LOCKED_WHILE_SIGNED_IN]:
            flash(operations.LOCKED_WHILE_SIGNED_IN, "error")
            return redirect(url_for("auth.login"))
    return render_template("accounts/change_password.html", form=form, problems=problems)
