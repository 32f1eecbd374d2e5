"""Server-side login sessions: rotation, logout, idle timeout, absolute lifetime, disabling,
cookie flags, the forced password change and what a password change does to other sessions."""

import hashlib
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from portal.accounts.models import LoginSession, User
from portal.audit.models import AuditEvent
from portal.demo import DEMO_PASSWORD
from portal.timeutil import utcnow
from tests.helpers import account, database, fetch

COOKIE = "portal_session"
DOMAIN = "portal.test"  # SERVER_NAME of the test app
NEW_PASSWORD = "Fresh#Pass2026"


@contextmanager
def config(app, **values):
    """Set app.config keys for the duration of a block (the app is shared by the whole run)."""
    saved = {key: app.config[key] for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


def cookie_value(client) -> str | None:
    cookie = client.get_cookie(COOKIE, domain=DOMAIN)
    return None if cookie is None else cookie.value


def cookie_data(app, value: str) -> dict:
    return app.session_interface.get_signing_serializer(app).loads(value)


def user_id(app, username: str) -> int:
    (found,) = fetch(app, select(User).where(User.username == username))
    return found.id


def token_of(app, client) -> str:
    return cookie_data(app, cookie_value(client))["_user_id"]


def row_of(app, client) -> LoginSession:
    """The login_session row the client's cookie points at, as it is now."""
    token_hash = hashlib.sha256(token_of(app, client).encode()).hexdigest()
    (row,) = fetch(app, select(LoginSession).where(LoginSession.token_hash == token_hash))
    return row


def row_by_id(app, row_id: int) -> LoginSession:
    (row,) = fetch(app, select(LoginSession).where(LoginSession.id == row_id))
    return row


def rows_for(app, uid: int) -> list[LoginSession]:
    return fetch(
        app, select(LoginSession).where(LoginSession.user_id == uid).order_by(LoginSession.id)
    )


def audit_rows(app, action: str, actor_id: int) -> list[AuditEvent]:
    return fetch(
        app,
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.actor_id == actor_id)
        .order_by(AuditEvent.id),
    )


def set_session_times(app, client, *, created_ago=None, seen_ago=None) -> int:
    """Age the client's login session in the database; returns the row id."""
    token_hash = hashlib.sha256(token_of(app, client).encode()).hexdigest()
    now = utcnow()
    with database(app) as session:
        row = session.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash))
        if created_ago is not None:
            row.created_at = now - created_ago
        if seen_ago is not None:
            row.last_seen_at = now - seen_ago
        return row.id


def update_user(app, username: str, **values) -> None:
    with database(app) as session:
        found = session.scalar(select(User).where(User.username == username))
        for name, value in values.items():
            setattr(found, name, value)


def login_redirect(response) -> dict:
    """Assert the response sends the browser to the login page; return its query."""
    assert response.status_code == 302, response.status_code
    url = urlsplit(response.location)
    assert url.path == "/login"
    return {key: values[0] for key, values in parse_qs(url.query).items()}


def replay(app, value: str):
    """A fresh browser carrying a copy of someone's cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, value, domain=DOMAIN)
    return thief


def change_password(client, current=DEMO_PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post(
        "/password", data={"current": current, "new": new, "confirm": confirm or new}
    )


# --- rotation and rows -------------------------------------------------------------------


def test_cookie_value_changes_at_login(app, client):
    assert client.get("/login").status_code == 200
    before = cookie_value(client)
    assert before is not None, "GET /login should set a session cookie (CSRF token)"
    assert "_user_id" not in cookie_data(app, before)
    response = client.post("/login", data={"username": "fc_grid1", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    after = cookie_value(client)
    assert after != before
    data = cookie_data(app, after)
    # The old cookie session was cleared, not extended: nothing from before login survives.
    assert "csrf_token" not in data
    assert "_user_id" in data


def test_pre_login_cookie_is_worth_nothing_after_login(app, client):
    client.get("/login")
    before = cookie_value(client)
    client.post("/login", data={"username": "fc_grid1", "password": DEMO_PASSWORD})
    assert client.get("/").status_code == 200
    login_redirect(replay(app, before).get("/"))


def test_cookie_holds_only_the_random_token(app, login):
    me = user_id(app, "fc_grid1")
    client = login("fc_grid1")
    token = token_of(app, client)
    assert token != str(me)
    assert len(token) >= 40
    assert "fc_grid1" not in cookie_value(client)
    row = row_of(app, client)
    assert row.user_id == me
    # Only a hash is stored.
    assert token not in row.token_hash


def test_each_login_gets_its_own_row_and_token(app, login):
    me = user_id(app, "fc_grid1")
    first = login("fc_grid1")
    second = login("fc_grid1")
    assert cookie_value(first) != cookie_value(second)
    assert token_of(app, first) != token_of(app, second)
    rows = rows_for(app, me)
    assert len(rows) == 2
    assert rows[0].token_hash != rows[1].token_hash
    assert {r.id for r in rows} == {row_of(app, first).id, row_of(app, second).id}
    assert all(r.ended_at is None for r in rows)
    # Both browsers are signed in independently.
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 200


def test_logging_in_again_issues_a_new_token(app, login):
    client = login("fc_grid1")
    first = row_of(app, client)
    client.post("/logout")
    login("fc_grid1", client=client)
    second = row_of(app, client)
    assert second.id != first.id
    assert second.token_hash != first.token_hash
    assert row_by_id(app, first.id).end_reason == "logout"


# --- logout ------------------------------------------------------------------------------


def test_logout_ends_the_row_and_the_old_cookie_is_dead(app, login):
    me = user_id(app, "fc_grid1")
    client = login("fc_grid1")
    old = cookie_value(client)
    row = row_of(app, client)
    assert row.ended_at is None
    login_redirect(client.post("/logout"))
    assert "您已安全退出" in client.get("/login").get_data(as_text=True)
    row = row_by_id(app, row.id)
    assert row.ended_at is not None
    assert row.end_reason == "logout"
    assert len(audit_rows(app, "logout", me)) == 1
    login_redirect(client.get("/"))
    # Replaying the copied cookie in another browser gets nowhere.
    thief = replay(app, old)
    login_redirect(thief.get("/"))
    login_redirect(thief.get("/password"))
    login_redirect(thief.post("/logout"))
    assert row_by_id(app, row.id).end_reason == "logout"


def test_replayed_cookie_works_before_logout(app, login):
    """The control for the replay test: a copied live cookie does sign in (so the check above
    is about the ended row, not about the copy)."""
    client = login("fc_grid1")
    assert replay(app, cookie_value(client)).get("/").status_code == 200


def test_logout_of_one_browser_leaves_the_other_signed_in(login):
    first = login("fc_grid1")
    second = login("fc_grid1")
    first.post("/logout")
    login_redirect(first.get("/"))
    assert second.get("/").status_code == 200


def test_logout_requires_post(login):
    client = login("fc_grid1")
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


# --- idle timeout and absolute lifetime ----------------------------------------------------


def test_idle_timeout_logs_out(app, login):
    me = user_id(app, "fc_grid1")
    client = login("fc_grid1")
    row_id = set_session_times(app, client, seen_ago=timedelta(minutes=31))
    query = login_redirect(client.get("/"))
    assert query["ended"] == "idle"
    assert query["next"] == "/"
    row = row_by_id(app, row_id)
    assert row.ended_at is not None and row.end_reason == "idle"
    page = client.get("/login", query_string=query)
    assert page.status_code == 200
    assert "长时间未操作" in page.get_data(as_text=True)
    # The session stays dead for the next request too, and the expiry is audited once.
    login_redirect(client.get("/"))
    expired = audit_rows(app, "session.expired", me)
    assert [e.detail for e in expired] == [{"reason": "idle"}]


def test_activity_within_the_idle_timeout_keeps_the_session(app, login):
    client = login("fc_grid1")
    row_id = set_session_times(app, client, seen_ago=timedelta(minutes=29))
    assert client.get("/").status_code == 200
    row = row_by_id(app, row_id)
    assert row.ended_at is None
    # The request counted as activity.
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_idle_timeout_follows_the_configuration(app, login):
    client = login("fc_grid1")
    set_session_times(app, client, seen_ago=timedelta(minutes=6))
    with config(app, SESSION_IDLE_TIMEOUT=timedelta(minutes=5)):
        assert login_redirect(client.get("/"))["ended"] == "idle"


def test_absolute_lifetime_logs_out_even_when_active(app, login):
    client = login("fc_grid1")
    row_id = set_session_times(
        app, client, created_ago=timedelta(hours=13), seen_ago=timedelta(minutes=2)
    )
    query = login_redirect(client.get("/"))
    assert query["ended"] == "lifetime"
    row = row_by_id(app, row_id)
    assert row.ended_at is not None and row.end_reason == "lifetime"
    page = client.get("/login", query_string=query).get_data(as_text=True)
    assert "超过 12 小时" in page


def test_session_younger_than_the_lifetime_survives(app, login):
    client = login("fc_grid1")
    row_id = set_session_times(
        app, client, created_ago=timedelta(hours=11), seen_ago=timedelta(minutes=2)
    )
    assert client.get("/").status_code == 200
    assert row_by_id(app, row_id).ended_at is None


def test_expired_session_can_sign_in_again(app, login):
    client = login("fc_grid1")
    set_session_times(app, client, seen_ago=timedelta(hours=1))
    login_redirect(client.get("/"))
    login("fc_grid1", client=client)
    assert client.get("/").status_code == 200


# --- disabled users ----------------------------------------------------------------------


def test_user_disabled_in_database_is_logged_out(app, login):
    client = login("fc_grid2")
    assert client.get("/").status_code == 200
    row = row_of(app, client)
    update_user(app, "fc_grid2", active=False)
    query = login_redirect(client.get("/"))
    assert query["ended"] == "disabled"
    row = row_by_id(app, row.id)
    assert row.ended_at is not None and row.end_reason == "disabled"
    page = client.get("/login", query_string=query).get_data(as_text=True)
    assert "该账户已停用" in page


def test_user_disabled_by_admin_is_logged_out_everywhere(app, login):
    target = user_id(app, "fc_grid2")
    phone = login("fc_grid2")
    laptop = login("fc_grid2")
    assert phone.get("/").status_code == 200
    assert laptop.get("/").status_code == 200
    admin = login("fn_admin")
    response = admin.post(f"/users/{target}/disable")
    assert response.status_code == 302
    assert account(app, "fc_grid2").active is False
    rows = rows_for(app, target)
    assert len(rows) == 2
    assert all(r.ended_at is not None and r.end_reason == "disabled" for r in rows)
    for client in (phone, laptop):
        login_redirect(client.get("/"))
    # The admin's own session is untouched.
    assert admin.get("/").status_code == 200
    assert row_of(app, admin).ended_at is None


# --- cookie flags ------------------------------------------------------------------------


def session_set_cookie(response) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def attributes(header: str) -> dict[str, str]:
    parts = [p.strip() for p in header.split(";")[1:]]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1) + [""])[1] for p in parts}


def test_session_cookie_is_httponly_and_samesite_lax(client):
    for response in (
        client.get("/login"),
        client.post("/login", data={"username": "fc_grid1", "password": DEMO_PASSWORD}),
    ):
        attrs = attributes(session_set_cookie(response))
        assert "httponly" in attrs
        assert attrs.get("samesite") == "Lax"
        assert "secure" not in attrs
        # A browser-session cookie: gone when the browser closes.
        assert "expires" not in attrs and "max-age" not in attrs


def test_session_cookie_is_secure_when_configured(app, client):
    with config(app, SESSION_COOKIE_SECURE=True):
        response = client.post("/login", data={"username": "fc_grid1", "password": DEMO_PASSWORD})
        attrs = attributes(session_set_cookie(response))
    assert "secure" in attrs
    assert "httponly" in attrs
    assert attrs.get("samesite") == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_no_remember_me_cookie_is_set(client):
    response = client.post("/login", data={"username": "fc_grid1", "password": DEMO_PASSWORD})
    names = [h.split("=", 1)[0] for h in response.headers.getlist("Set-Cookie")]
    assert names == [COOKIE]


# --- must change password ----------------------------------------------------------------


def test_must_change_password_redirects_everything_to_password(app, login):
    update_user(app, "fc_grid1", must_change_password=True)
    client = login("fc_grid1")
    for path in ("/", "/regions/", "/users/", "/audit/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.location).path == "/password", path
    page = client.get("/password")
    assert page.status_code == 200
    assert "请先修改密码" in page.get_data(as_text=True)


def test_must_change_password_user_can_log_out(app, login):
    update_user(app, "fc_grid1", must_change_password=True)
    client = login("fc_grid1")
    row = row_of(app, client)
    login_redirect(client.post("/logout"))
    assert row_by_id(app, row.id).end_reason == "logout"
    login_redirect(client.get("/password"))


def test_must_change_password_cleared_after_change(app, login):
    update_user(app, "fc_grid1", must_change_password=True)
    client = login("fc_grid1")
    assert urlsplit(client.get("/").location).path == "/password"
    response = change_password(client)
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/"
    assert client.get("/").status_code == 200
    me = account(app, "fc_grid1")
    assert me.must_change_password is False
    assert me.password_changed_at is not None


def test_must_change_password_survives_a_refused_change(app, login):
    update_user(app, "fc_grid1", must_change_password=True)
    client = login("fc_grid1")
    assert change_password(client, new="short").status_code == 200
    assert urlsplit(client.get("/").location).path == "/password"
    assert account(app, "fc_grid1").must_change_password is True


def test_password_change_ends_other_sessions_but_keeps_this_one(app, login):
    me = user_id(app, "fc_grid1")
    here = login("fc_grid1")
    elsewhere = login("fc_grid1")
    third = login("fc_grid1")
    other_user = login("fc_grid2")
    old_elsewhere = cookie_value(elsewhere)
    here_row = row_of(app, here)
    assert change_password(here).status_code == 302
    assert here.get("/").status_code == 200
    assert row_by_id(app, here_row.id).ended_at is None
    for client in (elsewhere, third):
        login_redirect(client.get("/"))
    login_redirect(replay(app, old_elsewhere).get("/"))
    ended = [r for r in rows_for(app, me) if r.id != here_row.id]
    assert len(ended) == 2
    assert all(r.ended_at is not None and r.end_reason == "password_changed" for r in ended)
    assert other_user.get("/").status_code == 200
    assert row_of(app, other_user).ended_at is None
