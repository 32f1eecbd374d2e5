"""Signing in: audit trail, failure messages, lockout and its expiry, disabled accounts, `next`."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.exc import OperationalError

from portal import timeutil
from portal.accounts.models import LoginSession, User
from portal.audit.models import AuditEvent
from portal.demo import DEMO_PASSWORD
from portal.extensions import db
from tests.helpers import account, database, fetch

WRONG = "Wrong@Passw0rd"
# The one answer to an unknown user, a wrong password and a locked account (the correct
# password of a locked account included): nothing tells which, nor how long a lock lasts.
GENERIC = "用户名或密码错误，或账户因连续输错已暂时锁定。"
CLIENT_IP = "203.0.113.7"


def post_login(client, username, password, **kwargs):
    return client.post("/login", data={"username": username, "password": password}, **kwargs)


def text(response) -> str:
    return response.get_data(as_text=True)


def alert(response) -> str:
    """The error the login page shows (the page also has a fixed hint that mentions locking)."""
    found = re.findall(r'<p class="flash flash-error" role="alert">(.*?)</p>', text(response), re.S)
    assert len(found) == 1, f"expected one error message, got {found!r}"
    return found[0]


def audit_rows(app, action: str, **filters) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    for name, value in filters.items():
        query = query.where(getattr(AuditEvent, name) == value)
    return fetch(app, query)


def session_rows(app, user_id: int) -> list[LoginSession]:
    return fetch(app, select(LoginSession).where(LoginSession.user_id == user_id))


def is_signed_in(client) -> bool:
    response = client.get("/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    return False


def shift_clock(monkeypatch, delta: timedelta) -> None:
    """Move "now" for every module that imported utcnow by name."""
    real = timeutil.utcnow

    def later():
        return real() + delta

    for target in ("portal.timeutil", "portal.accounts.operations", "portal.accounts.sessions"):
        monkeypatch.setattr(f"{target}.utcnow", later)


# --- success -------------------------------------------------------------------------------


def test_success_redirects_home_and_signs_in(client):
    response = post_login(client, "fc_grid1", DEMO_PASSWORD)
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "兴阜居委会网格员" in text(home)


def test_success_writes_audit_row_with_actor_and_ip(app, client):
    me = account(app, "fc_grid1")
    post_login(client, "fc_grid1", DEMO_PASSWORD, environ_base={"REMOTE_ADDR": CLIENT_IP})
    rows = audit_rows(app, "login", actor_id=me.id)
    assert len(rows) == 1
    row = rows[0]
    assert row.result == "success"
    assert row.actor_username == "fc_grid1"
    assert row.ip == CLIENT_IP
    assert row.target_type == "user" and row.target_id == str(me.id)
    assert row.region_code == me.region_code


def test_success_records_session_ip_and_user_agent(app, client):
    me = account(app, "fc_grid1")
    post_login(
        client,
        "fc_grid1",
        DEMO_PASSWORD,
        environ_base={"REMOTE_ADDR": CLIENT_IP},
        headers={"User-Agent": "TestBrowser/1.0"},
    )
    (row,) = session_rows(app, me.id)
    assert row.ended_at is None
    assert row.ip == CLIENT_IP
    assert row.user_agent == "TestBrowser/1.0"


def test_login_page_for_signed_in_user_goes_home(login):
    client = login("fc_grid1")
    response = client.get("/login")
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/"


def test_empty_fields_show_chinese_errors(client):
    response = post_login(client, "", "")
    assert response.status_code == 200
    assert "请输入用户名。" in text(response)
    assert "请输入密码。" in text(response)
    assert not is_signed_in(client)


# --- wrong password, unknown user -----------------------------------------------------------


def test_wrong_password_counts_down(app, client):
    me = account(app, "fc_grid1")
    for left in (4, 3, 2, 1):
        response = post_login(client, "fc_grid1", WRONG)
        assert response.status_code == 200
        assert alert(response) == GENERIC, left
    assert account(app, "fc_grid1").failed_logins == 4
    assert not is_signed_in(client)
    # A failed attempt is not the account holder's action: no actor id, the account is the target.
    rows = audit_rows(app, "login", target_id=str(me.id), result="failure")
    assert len(rows) == 4
    assert all(r.actor_id is None and r.actor_username == "fc_grid1" for r in rows)
    assert all(r.detail == {"reason": "bad_password"} for r in rows)
    assert all(r.region_code == me.region_code for r in rows)


def test_success_resets_failure_counter(app, client):
    post_login(client, "fc_grid1", WRONG)
    post_login(client, "fc_grid1", WRONG)
    assert account(app, "fc_grid1").failed_logins == 2
    assert post_login(client, "fc_grid1", DEMO_PASSWORD).status_code == 302
    assert account(app, "fc_grid1").failed_logins == 0
    client.post("/logout")
    # The count starts again from the top.
    assert alert(post_login(client, "fc_grid1", WRONG)) == GENERIC
    assert account(app, "fc_grid1").failed_logins == 1


def test_unknown_username_gets_generic_message_and_audit_row(app, client):
    response = post_login(
        client, "nobody_here", DEMO_PASSWORD, environ_base={"REMOTE_ADDR": CLIENT_IP}
    )
    assert response.status_code == 200
    assert alert(response) == GENERIC
    rows = audit_rows(app, "login", actor_username="nobody_here")
    assert len(rows) == 1
    row = rows[0]
    assert row.result == "failure"
    assert row.actor_id is None
    assert row.region_code is None
    assert row.target_id is None
    assert row.ip == CLIENT_IP
    assert row.detail == {"reason": "unknown_user"}


def test_unknown_username_never_locks(client):
    for _ in range(7):
        response = post_login(client, "nobody_here", WRONG)
        assert alert(response) == GENERIC


# --- lockout --------------------------------------------------------------------------------


def _fail_five_times(client, username="fc_grid1"):
    responses = [post_login(client, username, WRONG) for _ in range(5)]
    return responses[-1]


def test_fifth_failure_locks_the_account(app, client):
    fifth = _fail_five_times(client)
    assert fifth.status_code == 200
    assert alert(fifth) == GENERIC
    me = account(app, "fc_grid1")
    assert me.locked_until is not None
    assert timedelta(minutes=14) < me.locked_until - timeutil.utcnow() <= timedelta(minutes=15)
    assert me.failed_logins == 0
    last = audit_rows(app, "login", target_id=str(me.id))[-1]
    assert last.result == "failure"
    assert last.detail == {"reason": "bad_password_locked"}


def test_locked_account_refuses_the_correct_password(app, client):
    me = account(app, "fc_grid1")
    _fail_five_times(client)
    response = post_login(client, "fc_grid1", DEMO_PASSWORD)
    assert response.status_code == 200
    assert alert(response) == GENERIC
    assert not is_signed_in(client)
    assert session_rows(app, me.id) == []
    assert audit_rows(app, "login", target_id=str(me.id))[-1].detail == {"reason": "locked"}


def test_lockout_applies_from_any_browser(app, client):
    _fail_five_times(client)
    other = app.test_client()
    response = post_login(other, "FC_GRID1", DEMO_PASSWORD)
    assert alert(response) == GENERIC
    assert not is_signed_in(other)


def test_the_lock_holds_to_its_last_minute_and_never_tells_it(client, monkeypatch):
    _fail_five_times(client)
    shift_clock(monkeypatch, timedelta(minutes=14))
    response = post_login(client, "fc_grid1", DEMO_PASSWORD)
    assert alert(response) == GENERIC and "分钟后" not in alert(response)
    assert not is_signed_in(client)


def test_lockout_expires_after_fifteen_minutes(app, client, monkeypatch):
    _fail_five_times(client)
    shift_clock(monkeypatch, timedelta(minutes=15, seconds=5))
    response = post_login(client, "fc_grid1", DEMO_PASSWORD)
    assert response.status_code == 302
    assert is_signed_in(client)
    me = account(app, "fc_grid1")
    assert me.failed_logins == 0
    assert me.locked_until is None


def test_after_lock_expiry_the_counter_starts_again(app, client, monkeypatch):
    _fail_five_times(client)
    shift_clock(monkeypatch, timedelta(minutes=16))
    response = post_login(client, "fc_grid1", WRONG)
    assert alert(response) == GENERIC
    assert account(app, "fc_grid1").failed_logins == 1


def test_lock_expired_in_database_allows_login(app, client):
    with database(app) as session:
        me = session.scalar(select(User).where(User.username == "fc_grid1"))
        me.failed_logins = 3
        me.locked_until = timeutil.utcnow() - timedelta(seconds=1)
    assert post_login(client, "fc_grid1", DEMO_PASSWORD).status_code == 302
    me = account(app, "fc_grid1")
    assert me.failed_logins == 0 and me.locked_until is None


def test_lock_set_in_database_is_honoured(app, client):
    with database(app) as session:
        me = session.scalar(select(User).where(User.username == "fc_grid1"))
        me.locked_until = timeutil.utcnow() + timedelta(minutes=7, seconds=30)
    response = post_login(client, "fc_grid1", DEMO_PASSWORD)
    assert alert(response) == GENERIC
    assert not is_signed_in(client)


def test_lockout_of_one_user_leaves_others_alone(client, app):
    _fail_five_times(client, "fc_grid1")
    other = app.test_client()
    assert post_login(other, "fc_grid2", DEMO_PASSWORD).status_code == 302


# --- disabled accounts, username case ------------------------------------------------------


def test_disabled_user_cannot_log_in(app, client):
    with database(app) as session:
        me = session.scalar(select(User).where(User.username == "fc_grid1"))
        me.active = False
        me_id = me.id
    response = post_login(client, "fc_grid1", DEMO_PASSWORD)
    assert response.status_code == 200
    assert alert(response) == "该账户已停用，请联系管理员。"
    assert not is_signed_in(client)
    assert session_rows(app, me_id) == []
    row = audit_rows(app, "login", target_id=str(me_id))[-1]
    assert row.result == "failure" and row.detail == {"reason": "disabled"}


@pytest.mark.parametrize("typed", ["FC_GRID1", "Fc_Grid1", "  fc_grid1  "])
def test_username_is_case_insensitive(app, client, typed):
    me = account(app, "fc_grid1")
    response = post_login(client, typed, DEMO_PASSWORD)
    assert response.status_code == 302
    assert "兴阜居委会网格员" in text(client.get("/"))
    row = audit_rows(app, "login", actor_id=me.id)[-1]
    assert row.result == "success" and row.actor_username == "fc_grid1"


def test_wrong_password_with_other_case_counts_for_the_same_user(app, client):
    post_login(client, "FC_GRID1", WRONG)
    response = post_login(client, "fc_grid1", WRONG)
    assert alert(response) == GENERIC
    assert account(app, "fc_grid1").failed_logins == 2


# --- next ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/users/", "/users/?q=%E5%BC%A0&page=2", "/password"])
def test_next_local_path_is_honoured(client, target):
    response = post_login(client, "fc_grid1", DEMO_PASSWORD, query_string={"next": target})
    assert response.status_code == 302
    assert response.location == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/",
        "///evil.example",
        "http://evil.example",
        "https://evil.example/login",
        "http:evil.example",
        "evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
    ],
)
def test_next_outside_the_site_goes_home(client, target):
    response = post_login(client, "fc_grid1", DEMO_PASSWORD, query_string={"next": target})
    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.netloc in ("", "portal.test")
    # A browser would resolve backslashes as slashes: the path must not become //host.
    assert not location.path.replace("\\", "/").startswith("//")
    assert "evil.example" not in location.netloc
    assert location.path in ("/", "/%5Cevil.example")
    assert is_signed_in(client)


def test_signed_out_visit_comes_back_after_login(client):
    response = client.get("/users/?q=abc")
    assert response.status_code == 302
    login_url = urlsplit(response.location)
    assert login_url.path == "/login"
    target = parse_qs(login_url.query)["next"][0]
    assert target == "/users/?q=abc"
    response = post_login(client, "fn_admin", DEMO_PASSWORD, query_string={"next": target})
    assert response.location == "/users/?q=abc"
    assert client.get(response.location).status_code == 200


# --- concurrent guesses --------------------------------------------------------------------


@pytest.mark.postgres
def test_sign_in_waits_for_a_concurrent_sign_in_of_the_same_account(app, client, is_postgres):
    """Sign-ins of one account must be judged one after another. Otherwise parallel guesses
    each read the same failure count, overwrite each other's increment and the lockout never
    comes (seen on PostgreSQL: 30 simultaneous wrong passwords left failed_logins at 2).

    Another connection holds the account row the way a concurrent failed sign-in does while it
    updates the counter (FOR NO KEY UPDATE is the lock an UPDATE takes); ours must wait for it
    before reading the counter, here until a short lock timeout gives up."""
    if not is_postgres:
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    with app.app_context():
        engine = db.engine
    other = engine.connect()
    try:
        other_tx = other.begin()
        other.execute(sql("SELECT id FROM app_user WHERE username = 'fc_grid1' FOR NO KEY UPDATE"))
        with app.app_context():
            # SET LOCAL lasts until this test's outer transaction is rolled back.
            db.session.connection().execute(sql("SET LOCAL lock_timeout = '200ms'"))
            db.session.commit()
        with pytest.raises(OperationalError, match="lock timeout"):
            post_login(client, "fc_grid1", DEMO_PASSWORD)
        other_tx.rollback()
    finally:
        other.close()
    # Once the other sign-in is over, ours goes through.
    assert post_login(client, "fc_grid1", DEMO_PASSWORD).status_code == 302
