"""Deny by default: every response must come from a view that consulted permissions/.

Views are wrapped in one of three decorators (`public`, `signed_in`, `requires`) or call `can`,
`require` or `scope_for` themselves; all of them mark the request as consulted. A successful
response from a view that did none of this is refused with a 500 and its transaction rolled back,
so a forgotten check fails loudly in tests instead of leaking in production.
"""

import functools

from flask import abort, g, has_request_context, make_response, redirect, request, url_for
from flask_login import current_user

from portal.htmx import is_partial

PUBLIC_ENDPOINTS = {"static"}


def mark_consulted() -> None:
    if has_request_context():
        g.permissions_consulted = True


def was_consulted() -> bool:
    return bool(g.get("permissions_consulted"))


def _tag(view, kind: str, action: str | None = None):
    view.permission_kind = kind
    view.permission_action = action
    return view


def public(view):
    """A page anyone may open without signing in (the login page)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        mark_consulted()
        return view(*args, **kwargs)

    return _tag(wrapper, "public")


def redirect_page(location: str):
    """Redirect; an htmx request is told to load the whole page instead of a fragment."""
    if is_partial():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location)


def _login_redirect():
    args = {"next": request.full_path.rstrip("?")}
    if g.get("session_end_reason"):
        args["ended"] = g.session_end_reason
    return redirect_page(url_for("auth.login", **args))


def signed_in(view):
    """A page every signed-in user may open (home, own password, sign out)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        mark_consulted()
        if not current_user.is_authenticated:
            return _login_redirect()
        return view(*args, **kwargs)

    return _tag(wrapper, "signed_in")


def requires(action: str):
    """The user must hold `action` somewhere (for any or for assigned objects); the objects are
    then loaded through the scope, which is where a grid worker's "assigned only" applies."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            from permissions.decisions import holds

            mark_consulted()
            if not current_user.is_authenticated:
                return _login_redirect()
            if not holds(current_user, action):
                abort(403)
            return view(*args, **kwargs)

        return _tag(wrapper, "requires", action)

    return decorator
