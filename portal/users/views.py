"""User administration pages (系统管理 → 用户)."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from permissions import requires, scope_for
from permissions.grants import can_manage_user, grantable_roles
from portal.extensions import db
from portal.forms import options
from portal.regions.models import Region
from portal.regions.queries import get_region_or_404
from portal.request_cycle import current_actor
from portal.users import operations as ops
from portal.users.forms import ConfirmForm, CreateUserForm, GrantForm, UserSearchForm, role_choices

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/")
@requires("user.view")
def index():
    form = UserSearchForm(request.args)
    form.role.choices = options([("", "全部")]) + role_choices(ops.ROLES)
    filters = ops.UserFilters(
        q=form.q.data or "", role=form.role.data or "", status=form.status.data or ""
    )
    page = db.paginate(
        ops.users_query(current_actor(), filters),
        per_page=current_app.config["USERS_PER_PAGE"],
        error_out=False,
    )
    return render_template("users/index.html", form=form, page=page)


@bp.route("/new", methods=["GET", "POST"])
@requires("user.create")
def new():
    code = request.args.get("region", "")
    if not code:
        flash("请先选择新用户所属的区划，再点击「在此区划新增用户」。", "info")
        return redirect(url_for("regions.index"))
    region = get_region_or_404(code, scope_for(current_actor(), "user.create"))
    form = CreateUserForm()
    form.role.choices = role_choices(grantable_roles(current_actor(), region))
    error = None
    if form.validate_on_submit():
        try:
            user, temporary = ops.create_user(
                current_actor(),
                username=form.username.data,
                display_name=form.display_name.data,
                phone=form.phone.data,
                region=region,
                role=form.role.data,
            )
        except ops.UserAdminError as exc:
            error = str(exc)
        else:
            return render_template(
                "users/password_issued.html", user=user, password=temporary, created=True
            )
    return render_template("users/new.html", form=form, region=region, error=error)


def _load_for_manage(user_id: int):
    return ops.get_user_or_404(user_id, scope_for(current_actor(), "user.manage"))


@bp.route("/<int:user_id>")
@requires("user.view")
def detail(user_id: int):
    user = ops.get_user_or_404(user_id, scope_for(current_actor(), "user.view"))
    manageable = can_manage_user(current_actor(), user)
    grant_form = None
    if manageable:
        grant_form = GrantForm()
        grant_form.role.choices = role_choices(ops.grantable_anywhere(current_actor()))
        grant_form.region.choices = options(
            (r.code, f"{r.name}（{r.level_name}）")
            for r in ops.grant_region_choices(current_actor(), user)
        )
    return render_template(
        "users/detail.html",
        user=user,
        manageable=manageable,
        grant_form=grant_form,
        confirm=ConfirmForm(),
    )


@bp.route("/<int:user_id>/grants", methods=["POST"])
@requires("user.manage")
def add_grant(user_id: int):
    user = _load_for_manage(user_id)
    form = GrantForm()
    form.role.choices = role_choices(ops.grantable_anywhere(current_actor()))
    form.region.choices = options(
        (r.code, r.name) for r in ops.grant_region_choices(current_actor(), user)
    )
    if not form.validate_on_submit():
        flash("请选择要授予的角色和区划。", "error")
        return redirect(url_for("users.detail", user_id=user.id))
    region = db.session.get(Region, form.region.data)
    try:
        ops.add_grant(current_actor(), user, form.role.data, region)
    except ops.UserAdminError as exc:
        flash(str(exc), "error")
    else:
        flash("已授予角色。", "success")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/grants/<int:grant_id>/revoke", methods=["POST"])
@requires("user.manage")
def revoke_grant(user_id: int, grant_id: int):
    user = _load_for_manage(user_id)
    if ConfirmForm().validate_on_submit():
        try:
            ops.revoke_grant(current_actor(), user, grant_id)
        except ops.UserAdminError as exc:
            flash(str(exc), "error")
        else:
            flash("已撤销角色。", "success")
    return redirect(url_for("users.detail", user_id=user.id))


def _toggle(user_id: int, active: bool, done: str):
    user = _load_for_manage(user_id)
    if ConfirmForm().validate_on_submit():
        try:
            ops.set_active(current_actor(), user, active)
        except ops.UserAdminError as exc:
            flash(str(exc), "error")
        else:
            flash(done, "success")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/disable", methods=["POST"])
@requires("user.manage")
def disable(user_id: int):
    return _toggle(user_id, False, "已停用该用户，其登录已失效。")


@bp.route("/<int:user_id>/enable", methods=["POST"])
@requires("user.manage")
def enable(user_id: int):
    return _toggle(user_id, True, "已启用该用户。")


@bp.route("/<int:user_id>/reset-password", methods=["POST"])
@requires("user.manage")
def reset_password(user_id: int):
    user = _load_for_manage(user_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("users.detail", user_id=user.id))
    try:
        temporary = ops.reset_password(current_actor(), user)
    except ops.UserAdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("users.detail", user_id=user.id))
    return render_template(
        "users/password_issued.html", user=user, password=temporary, created=False
    )
