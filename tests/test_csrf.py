"""CSRF protection: forms carry a token, htmx requests send it in a header, nothing else passes.

The test app runs with WTF_CSRF_ENABLED=False; these tests switch it on (it is read per request)
and restore it afterwards.
"""

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.accounts.models import LoginSession, User
from portal.demo import DEMO_PASSWORD
from portal.extensions import db
from tests.factories import csrf_on, form_token, header_token

EXPIRED = "页面已过期"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def csrf(app):
    with csrf_on(app):
        yield
    assert app.config["WTF_CSRF_ENABLED"] is False


def credentials(**extra):
    return {"username": "fc_grid1", "password": DEMO_PASSWORD, **extra}


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def open_sessions(app, username="fc_grid1") -> int:
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.username == username))
        return len(
            db.session.scalars(
                select(LoginSession).where(
                    LoginSession.user_id == uid, LoginSession.ended_at.is_(None)
                )
            ).all()
        )


def failed_logins(app, username="fc_grid1") -> int:
    with app.app_context():
        return db.session.scalar(select(User.failed_logins).where(User.username == username))


def refused(response) -> None:
    assert response.status_code == 400
    assert EXPIRED in response.get_data(as_text=True)


# --- the login form ---------------------------------------------------------------------------


def test_login_without_token_is_refused(app, client, csrf):
    client.get("/login")
    response = client.post("/login", data=credentials())
    refused(response)
    assert "<html" in response.get_data(as_text=True)  # a full Chinese error page
    assert not signed_in(client)
    assert open_sessions(app) == 0


def test_login_with_token_from_the_form_succeeds(app, client, csrf):
    token = form_token(client.get("/login"))
    response = client.post("/login", data=credentials(csrf_token=token))
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/"
    assert signed_in(client)
    assert open_sessions(app) == 1


def test_login_with_a_forged_token_is_refused(client, csrf):
    client.get("/login")
    refused(client.post("/login", data=credentials(csrf_token="forged-token")))
    assert not signed_in(client)


def test_token_from_another_browser_is_refused(app, client, csrf):
    token = form_token(app.test_client().get("/login"))
    client.get("/login")
    refused(client.post("/login", data=credentials(csrf_token=token)))
    assert not signed_in(client)


def test_refused_login_does_not_count_as_a_failure(app, client, csrf):
    client.get("/login")
    refused(client.post("/login", data=credentials(password="Wrong@Pass2026")))
    assert failed_logins(app) == 0


def test_without_csrf_enabled_the_same_post_passes(client):
    """The control: with the test default (CSRF off) the token-less post signs in, so the
    refusals above come from CSRF protection and nothing else."""
    assert client.post("/login", data=credentials()).status_code == 302


# --- htmx: the token in a header --------------------------------------------------------------


def test_layout_puts_the_token_in_hx_headers_on_body(client, csrf):
    page = client.get("/login")
    token = header_token(page)
    assert token
    assert token == form_token(page)


def test_layout_hx_headers_when_signed_in(login, app):
    client = login("fc_grid1")
    with csrf_on(app):
        assert header_token(client.get("/"))


def test_htmx_post_with_header_token_is_accepted(app, login):
    client = login("fc_grid1")
    with csrf_on(app):
        token = header_token(client.get("/"))
        response = client.post("/logout", headers={**HTMX, "X-CSRFToken": token})
        assert response.status_code == 302
        assert urlsplit(response.location).path == "/login"
        assert not signed_in(client)
    assert open_sessions(app) == 0


def test_htmx_post_without_token_is_refused(app, login):
    client = login("fc_grid1")
    with csrf_on(app):
        response = client.post("/logout", headers=HTMX)
        refused(response)
        # htmx gets a fragment to swap in, not a whole page.
        assert "<html" not in response.get_data(as_text=True)
        assert signed_in(client)
    assert open_sessions(app) == 1


def test_htmx_post_with_wrong_header_token_is_refused(app, login):
    client = login("fc_grid1")
    with csrf_on(app):
        refused(client.post("/logout", headers={**HTMX, "X-CSRFToken": "forged"}))
        assert signed_in(client)


def test_logout_form_token_is_accepted(app, login):
    client = login("fc_grid1")
    with csrf_on(app):
        token = form_token(client.get("/"))  # the 退出 form in the top bar
        response = client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 302
        assert not signed_in(client)


def test_token_from_before_login_is_dead_after_login(app, client, csrf):
    """Logging in starts a new cookie session, so a token an attacker planted or read before
    login cannot be used afterwards."""
    token = form_token(client.get("/login"))
    assert client.post("/login", data=credentials(csrf_token=token)).status_code == 302
    refused(client.post("/logout", headers={**HTMX, "X-CSRFToken": token}))
    assert signed_in(client)
    fresh = header_token(client.get("/"))
    assert fresh != token
    assert client.post("/logout", headers={**HTMX, "X-CSRFToken": fresh}).status_code == 302


# --- other forms -------------------------------------------------------------------------------


def test_change_password_without_token_is_refused(app, login):
    client = login("fc_grid1")
    new = "Fresh#Pass2026"
    with csrf_on(app):
        refused(
            client.post("/password", data={"current": DEMO_PASSWORD, "new": new, "confirm": new})
        )
        token = form_token(client.get("/password"))
        response = client.post(
            "/password",
            data={"current": DEMO_PASSWORD, "new": new, "confirm": new, "csrf_token": token},
        )
        assert response.status_code == 302


def test_admin_disable_without_token_is_refused(app, login):
    with app.app_context():
        target = db.session.scalar(select(User.id).where(User.username == "fc_grid2"))
    admin = login("fn_admin")
    with csrf_on(app):
        refused(admin.post(f"/users/{target}/disable"))
    with app.app_context():
        assert db.session.scalar(select(User.active).where(User.id == target)) is True
