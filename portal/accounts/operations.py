"""Signing in (with lockout), signing out and changing one's own password."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from portal.accounts import passwords, sessions, throttle
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


# One answer for an unknown user, a wrong password and a locked account, so that the answer
# never tells whether an account exists or is locked. The lock's remaining minutes are never
# told (not even after a correct password): if a correct password during the lock were answered
# differently, guessing could go on through the lock and the lock would only delay the attacker.
# The holder learns from this message (and the page's hint: 5 failures, 15 minutes) that a lock
# may be why, and waits or asks an administrator.
# The argon2 verification runs in every branch, so the time taken does not tell either.
GENERIC_FAILURE = "用户名或密码错误，或账户因连续输错已暂时锁定。"
ADDRESS_THROTTLED = "登录失败次数过多，请稍后再试。"
LOCKED_WHILE_SIGNED_IN = "当前密码连续输错次数过多，账户已暂时锁定并已退出登录。"


def sign_in(username: str, password: str) -> LoginResult:
    """Check the password, count failures (per account and per address), lock after too many,
    and start a session."""
    if throttle.blocked():
        # The address is held back whatever it tries: nothing is checked, nothing is told.
        return _fail(None, username, "address_throttled", ADDRESS_THROTTLED)
    user = find_user(username, for_update=True)
    if user is None:
        passwords.burn_time(password)
        throttle.record_failure()
        return _fail(None, username, "unknown_user", GENERIC_FAILURE)
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        passwords.burn_time(password)  # as long as a check; the password is not looked at
        throttle.record_failure()
        return _fail(user, username, "locked", GENERIC_FAILURE)
    if not passwords.verify_password(user.password_hash, password):
        throttle.record_failure()
        reason = _count_failure(user, now)
        return _fail(user, username, reason, GENERIC_FAILURE)
    if not user.active:
        return _fail(user, username, "disabled", "该账户已停用，请联系管理员。")
    user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)  # cost settings were raised
    sessions.start(user)
    audit.record_about_user("login", user, actor=user)
    return LoginResult(user)


def _count_failure(user: User, now) -> str:
    """One more failure of the account's password; the lock after LOGIN_MAX_FAILURES."""
    config = current_app.config
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= config["LOGIN_MAX_FAILURES"]:
        user.failed_logins = 0
        user.locked_until = now + config["LOGIN_LOCKOUT"]
        return "bad_password_locked"
    return "bad_password"


def sign_out(user: User) -> None:
    audit.record_about_user("logout", user, actor=user)
    sessions.sign_out(user)


def change_own_password(user: User, current: str, new: str) -> list[str]:
    """Change the signed-in user's password; Chinese problems if refused.

    A wrong current password is a failed sign-in: it counts for the account and the address,
    and the lock it may set also ends this session (whoever holds an unattended browser must not
    guess the password through this page)."""
    if throttle.blocked():
        return [ADDRESS_THROTTLED]
    if not passwords.verify_password(user.password_hash, current):
        throttle.record_failure()
        reason = _count_failure(user, utcnow())
        audit.record_about_user(
            "password.change", user, "failure", actor=user, detail={"reason": "bad_current"}
        )
        if reason == "bad_password_locked":
            audit.record_about_user(
                "logout", user, actor=user, detail={"reason": "locked_by_failures"}
            )
            sessions.end_all_for(user, "locked")
            sessions.sign_out(user)
            return [LOCKED_WHILE_SIGNED_IN]
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
