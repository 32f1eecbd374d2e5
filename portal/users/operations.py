"""User administration: create accounts, grant and revoke roles, disable, reset passwords.

Every function takes the acting user explicitly, checks through permissions/ and writes an audit
record; nothing here commits (the request does, once).
"""

import re
from dataclasses import dataclass

from flask import abort
from sqlalchemy import func, or_, select

from permissions import Scope, can, scope_for
from permissions.grants import can_manage_user, grant_error, may_grant
from permissions.roles import ROLES
from portal.accounts import passwords, sessions
from portal.accounts.models import Grant, User
from portal.audit import operations as audit
from portal.extensions import db
from portal.phones import normalize_phone
from portal.regions.models import Region

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")


class UserAdminError(Exception):
    """A refused administrative action, with a message for the user in Chinese."""


@dataclass
class UserFilters:
    q: str = ""
    role: str = ""
    status: str = ""


def users_query(actor, filters: UserFilters):
    """Users of the actor's subtree, filtered; always through the user.view scope."""
    scope = scope_for(actor, "user.view")
    query = select(User).where(scope.clause(User.region_code))
    if filters.q:
        like = f"%{filters.q.strip()}%"
        query = query.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    if filters.role in ROLES:
        query = query.where(User.grants.any(Grant.role == filters.role))
    if filters.status == "active":
        query = query.where(User.active.is_(True))
    elif filters.status == "disabled":
        query = query.where(User.active.is_(False))
    return query.order_by(User.region_code, User.username)


def get_user_or_404(user_id: int, scope: Scope) -> User:
    user = db.session.scalar(select(User).where(User.id == user_id, scope.clause(User.region_code)))
    if user is None:
        abort(404)
    return user


def _audit_user(action: str, actor, target: User, detail: dict | None = None, result="success"):
    audit.record_about_user(action, target, result, actor=actor, detail=detail)


def create_user(
    actor, *, username: str, display_name: str, phone: str | None, region: Region, role: str
) -> tuple[User, str]:
    """Create an account with its first role; returns the user and a one-time password."""
    if region is None or not can(actor, "user.create", region.code):
        raise UserAdminError("您无权在该区划新增用户。")
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise UserAdminError("用户名须为 3–32 位小写字母、数字或 _ . -，且以字母或数字开头。")
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username)):
        raise UserAdminError(f"用户名「{username}」已被使用。")
    normalized_phone = None
    if phone and phone.strip():
        normalized_phone = normalize_phone(phone)
        if normalized_phone is None:
            raise UserAdminError("联系电话格式不正确：应为 11 位手机号或带区号的固定电话。")
    error = grant_error(actor, None, role, region)
    if error:
        raise UserAdminError(error)
    temporary = passwords.generate_password()
    user = User(
        username=username,
        display_name=display_name.strip(),
        phone=normalized_phone,
        password_hash=passwords.hash_password(temporary),
        region_code=region.code,
        active=True,
        must_change_password=True,
        created_by_id=actor.id,
    )
    user.grants.append(Grant(role=role, region_code=region.code, granted_by_id=actor.id))
    db.session.add(user)
    db.session.flush()
    _audit_user("user.create", actor, user, {"role": role, "region": region.code})
    _audit_user("role.grant", actor, user, {"role": role, "region": region.code})
    return user, temporary


def _require_manage(actor, target: User) -> None:
    if target.id == actor.id:
        raise UserAdminError("不能对自己的账户执行此操作。")
    if not can_manage_user(actor, target):
        raise UserAdminError("该用户拥有超出您授权范围的角色，您不能管理此账户。")


def add_grant(actor, target: User, role: str, region: Region | None) -> Grant:
    _require_manage(actor, target)
    error = grant_error(actor, target, role, region)
    if error:
        _audit_user(
            "role.grant",
            actor,
            target,
            {"role": role, "region": region.code if region else None, "reason": error},
            "denied",
        )
        raise UserAdminError(error)
    grant = Grant(role=role, region_code=region.code, granted_by_id=actor.id)
    target.grants.append(grant)
    db.session.flush()
    _audit_user("role.grant", actor, target, {"role": role, "region": region.code})
    return grant


def revoke_grant(actor, target: User, grant_id: int) -> None:
    _require_manage(actor, target)
    grant = next((g for g in target.grants if g.id == grant_id), None)
    if grant is None:
        abort(404)
    if not may_grant(actor, grant.role, grant.region):
        raise UserAdminError("您无权撤销该角色。")
    target.grants.remove(grant)
    _audit_user("role.revoke", actor, target, {"role": grant.role, "region": grant.region_code})


def set_active(actor, target: User, active: bool) -> None:
    _require_manage(actor, target)
    if target.active == active:
        return
    target.active = active
    if not active:
        sessions.end_all_for(target, "disabled")
    _audit_user("user.enable" if active else "user.disable", actor, target)


def reset_password(actor, target: User) -> str:
    """Give the user a new one-time password they must change at next sign-in."""
    _require_manage(actor, target)
    temporary = passwords.generate_password()
    target.password_hash = passwords.hash_password(temporary)
    target.must_change_password = True
    target.failed_logins = 0
    target.locked_until = None
    sessions.end_all_for(target, "password_reset")
    _audit_user("password.reset", actor, target)
    return temporary


def grant_region_choices(actor, target: User) -> list[Region]:
    """Regions offered when adding a role: the user's region, its parent's children and its own
    children, limited to where the actor may grant anything."""
    scope = scope_for(actor, "user.manage")
    region = target.region
    codes = {region.code}
    if region.parent_code:
        codes.add(region.parent_code)
    query = select(Region).where(
        or_(Region.code.in_(codes), Region.parent_code.in_(codes)),
        scope.region_clause(Region.code),
    )
    return list(db.session.scalars(query.order_by(Region.level, Region.code)))


def grantable_anywhere(actor) -> list[str]:
    """Roles the actor may grant somewhere in their subtree (for the role dropdown)."""
    return [name for name in ROLES if can(actor, "role.grant", obj=name)]
