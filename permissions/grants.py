"""Rules for granting roles and managing accounts (who may make whom what, and where).

The decision "may this actor grant role R at region X" is Casbin's (action role.grant, object R);
this module adds the structural rules around it: the role's level must be the region's level, the
three-officer split, and nobody manages their own account.
"""

from permissions.decisions import can
from permissions.enforcer import get_enforcer
from permissions.guard import mark_consulted
from permissions.roles import ROLES
from portal.regions.codes import LEVEL_NAMES


def officer_class(role: str) -> str | None:
    """security / audit for the two officer roles; system for any role that administers users."""
    meta = ROLES[role]
    if meta.officer:
        return meta.officer
    if ("user.create", "*") in get_enforcer().permissions_of(role):
        return "system"
    return None


def officer_conflict(roles) -> str | None:
    """A Chinese message if the roles together break the three-officer split, else None."""
    classes = {officer_class(r) for r in roles} - {None}
    if len(classes) > 1:
        return "三员分立：系统管理员、安全管理员、审计员三类角色不能由同一用户兼任。"
    return None


def level_error(role: str, region) -> str | None:
    meta = ROLES.get(role)
    if meta is None:
        return "未知角色。"
    if region is None:
        return "区划不存在。"
    if region.level not in meta.levels:
        allowed = "或".join(LEVEL_NAMES[lv] for lv in meta.levels)
        return (
            f"角色「{meta.label}」只能授予在{allowed}级区划，"
            f"「{region.name}」是{region.level_name}级。"
        )
    return None


def may_grant(actor, role: str, region) -> bool:
    """Casbin: does some grant of the actor allow granting `role` at `region`?"""
    return region is not None and role in ROLES and can(actor, "role.grant", region.code, obj=role)


def grantable_roles(actor, region) -> list[str]:
    """Roles the actor may grant at this region, in display order."""
    mark_consulted()
    return [r for r in ROLES if level_error(r, region) is None and may_grant(actor, r, region)]


def grant_error(actor, target_user, role: str, region) -> str | None:
    """Why `actor` may not grant `role` at `region` to `target_user`; None when allowed."""
    mark_consulted()
    if target_user is not None and target_user.id == actor.id:
        return "不能修改自己的角色。"
    error = level_error(role, region)
    if error:
        return error
    if not may_grant(actor, role, region):
        return f"您无权在「{region.name}」授予角色「{ROLES[role].label}」。"
    if target_user is not None:
        if any(g.role == role and g.region_code == region.code for g in target_user.grants):
            return "该用户已有此授权。"
        conflict = officer_conflict({g.role for g in target_user.grants} | {role})
        if conflict:
            return conflict
    return None


def can_manage_user(actor, target) -> bool:
    """Disable, enable, reset, revoke: only users in the actor's scope whose every role the
    actor could have granted (so a county admin cannot disable a city admin). A role the desk
    grants with the files it covers (代管) does not count: it lies in the township of the
    holder's own grid-worker grant."""
    mark_consulted()
    if target is None or actor is None or target.id == actor.id:
        return False
    if not can(actor, "user.manage", target.region_code):
        return False
    return all(
        may_grant(actor, g.role, g.region)
        for g in target.grants
        if not (g.role in ROLES and ROLES[g.role].desk_granted)
    )
