"""Server-side login sessions: the cookie holds a random token, the database decides.

Logging in clears the old cookie session and issues a fresh token (the identifier rotates);
logging out, disabling the user, an idle period or the absolute lifetime ends the row, and an
ended token is worth nothing even if someone kept a copy of the cookie.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from portal.accounts.models import LoginSession, User
from portal.audit import operations as audit
from portal.extensions import db
from portal.timeutil import utcnow

TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User) -> LoginSession:
    """Rotate the cookie session and sign the user in with a new server-side session."""
    session.clear()
    token = secrets.token_urlsafe(32)
    login = LoginSession(
        token_hash=_hash(token),
        user_id=user.id,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:255],
    )
    db.session.add(login)
    db.session.flush()
    login.token = token
    user.current_session = login
    login_user(user)
    session.permanent = False
    return login


def end(login: LoginSession, reason: str) -> None:
    login.ended_at = utcnow()
    login.end_reason = reason


def end_all_for(user: User, reason: str) -> None:
    """End every open session of a user (disable, password reset)."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )


def sign_out(user: User) -> None:
    if user.current_session is not None:
        end(user.current_session, "logout")
    logout_user()
    session.clear()


def load(token: str) -> User | None:
    """Flask-Login user loader: the user of a live session, or None (and why, in g)."""
    login = db.session.scalar(select(LoginSession).where(LoginSession.token_hash == _hash(token)))
    if login is None or login.ended_at is not None:
        return None
    now = utcnow()
    config = current_app.config
    user = login.user
    reason = None
    if not user.active:
        reason = "disabled"
    elif now - login.created_at > config["SESSION_ABSOLUTE_LIFETIME"]:
        reason = "lifetime"
    elif now - login.last_seen_at > config["SESSION_IDLE_TIMEOUT"]:
        reason = "idle"
    if reason:
        end(login, reason)
        g.session_end_reason = reason
        if reason != "disabled":
            audit.record_about_user("session.expired", user, actor=user, detail={"reason": reason})
        return None
    if now - login.last_seen_at > TOUCH_EVERY:
        login.last_seen_at = now
    login.token = token
    user.current_session = login
    return user
