"""The single entry point for "may this user do action A here?" (views, templates and CLI)."""

from flask import abort

from permissions.enforcer import get_enforcer
from permissions.guard import mark_consulted

ANY = "*"
ASSIGNED = "assigned"


def _grants(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return ()
    if not getattr(user, "is_active", False):
        return ()
    return user.grants


def can(user, action: str, region_code: str | None = None, obj: str = ANY) -> bool:
    """May `user` perform `action` on an object of kind `obj` in `region_code`?

    With no region, the question is whether the user holds the action anywhere (for menus and
    buttons); objects are then reached only through `scope_for`. Pass obj="assigned" when the
    object is assigned to the user (a grid worker's own file), or a role name for role.grant.
    """
    mark_consulted()
    return _decide(user, action, region_code, obj)


def holds(user, action: str) -> bool:
    """Does the user hold `action` anywhere, for any objects or only for those assigned to them?

    The gate of a page whose objects are then reached only through `scope_for` (a grid worker
    holds person.view for assigned files: the page opens, the scope shows their files only)."""
    mark_consulted()
    return _decide(user, action, None, ANY) or _decide(user, action, None, ASSIGNED)


def shows(user, action: str, region_code: str | None = None, obj: str = ANY) -> bool:
    """The same decision for templates showing or hiding a control.

    It does not count as the view having checked anything: a page is guarded by its view.
    """
    return _decide(user, action, region_code, obj)


def can_below(user, action: str, region_code: str) -> bool:
    """May `user` perform `action` on `region_code` through a grant held strictly above it?

    For steps a level takes on what the levels below it did (accepting or returning a
    submitted report): a county's own staff may submit the county's forms, never accept them.
    """
    mark_consulted()
    enforcer = get_enforcer()
    return any(
        grant.region_code != region_code
        and enforcer.enforce(grant.role, action, ANY, region_code, grant.prefix)
        for grant in _grants(user)
    )


def _decide(user, action, region_code, obj) -> bool:
    enforcer = get_enforcer()
    for grant in _grants(user):
        target = region_code or grant.region_code
        if enforcer.enforce(grant.role, action, obj, target, grant.prefix):
            return True
    return False


def require(user, action: str, region_code: str | None = None, obj: str = ANY) -> None:
    """Abort with 403 unless `can` says yes. Never catch around this."""
    if not can(user, action, region_code, obj):
        abort(403)
