"""Signing in (with lockout), signing out and changing one's own password."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from portal.accounts import passwords, sessions
from portal.accounts.models import LoginSession, User
from portal.audit import operations as audit
from portal.extensions import db
from portal.timeutil import utcnow


class _Nobody:
    id = None
    username = None


_NOBODY = _Nobody()


@dataclass
class LoginResult:
    user: User | None
    message: str | None = None


def _minutes_left(until) -> int:
    seconds = (until - utcnow()).total_seconds()
    return max(1, int(-(-seconds // 60)))


def _fail(user: User | None, username: str, reason: str, message: str) -> LoginResult:
    # Whoever typed the password is unknown: no actor id (an auditor must not read an attacker's
    # guesses as the account holder's own actions); the typed name and the account targeted.
    audit.record(
        "login",
        "failure",
        actor=_NOBODY,
        actor_username=username[:64],
        target_type="user",
        target_id=user.id if user else None,
        target_label=username[:64],
        region_code=user.region_code if user else None,
        detail={"reason": reason},
    )
    return LoginResult(None, message)


def find_user(username: str, *, for_update: bool = False) -> User | None:
    name = (username or "").strip().lower()
    query = select(User).where(func.lower(User.username) == name)
    if for_update:
        # Lock the account row: concurrent sign-ins of one account queue here, so each failure
        # is counted (without it parallel guesses overwrite the counter and never lock).
        query = query.with_for_update(of=User)
    return db.session.scalar(query)


def sign_in(username: str, password: str) -> LoginResult:
    """Check the password, count failures, lock after too many, and start a session."""
    config = current_app.config
    user = find_user(username, for_update=True)
    if user is None:
        passwords.burn_time(password)
        return _fail(None, username, "unknown_user", "用户名或密码错误。")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        minutes = _minutes_left(user.locked_until)
        return _fail(
            user, username, "locked", f"登录失败次数过多，账户已锁定，请在 {minutes} 分钟后重试。"
        )
    if not passwords.verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        limit = config["LOGIN_MAX_FAILURES"]
        if user.failed_logins >= limit:
            user.failed_logins = 0
            user.locked_until = now + config["LOGIN_LOCKOUT"]
            minutes = _minutes_left(user.locked_until)
            return _fail(
                user,
                username,
                "bad_password_locked",
                f"用户名或密码错误。已连续失败 {limit} 次，账户锁定 {minutes} 分钟。",
            )
        left = limit - user.failed_logins
        return _fail(user, username, "bad_password", f"用户名或密码错误，还可尝试 {left} 次。")
    if not user.active:
        return _fail(user, username, "disabled", "该账户已停用，请联系管理员。")
    user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)  # cost settings were raised
    sessions.start(user)
    audit.record_about_user("login", user, actor=user)
    return LoginResult(user)


def sign_out(user: User) -> None:
    audit.record_about_user("logout", user, actor=user)
    sessions.sign_out(user)


def change_own_password(user: User, current: str, new: str) -> list[str]:
    """Change the signed-in user's password; Chinese problems if refused."""
    if not passwords.verify_password(user.password_hash, current):
        audit.record_about_user(
            "password.change", user, "failure", actor=user, detail={"reason": "bad_current"}
        )
        return ["当前密码不正确。"]
    problems = passwords.password_problems(new, user.username)
    if current == new:
        problems.append("新密码不能与当前密码相同。")
    if problems:
        return problems
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    # Other browsers signed in as this user are signed out; this one stays.
    keep = user.current_session.id if user.current_session is not None else None
    for other in db.session.scalars(
        select(LoginSession).where(
            LoginSession.user_id == user.id,
            LoginSession.ended_at.is_(None),
            LoginSession.id != keep,
        )
    ):
        sessions.end(other, "password_changed")
    audit.record_about_user("password.change", user, actor=user)
    return []
