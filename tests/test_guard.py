"""Deny by default: a view that never consulted permissions/ cannot answer."""

import pytest
from sqlalchemy import select

from permissions import public
from portal import create_app
from portal.accounts.models import User
from portal.extensions import db


@pytest.fixture
def bare_app(app):
    """A second app on the same database, to which a test may add careless routes."""
    fresh = create_app(
        {
            k: app.config[k]
            for k in (
                "SQLALCHEMY_DATABASE_URI",
                "SECRET_KEY",
                "PASSWORD_HASH_TIME_COST",
                "PASSWORD_HASH_MEMORY_COST",
            )
        }
        # No job thread: it would run the scheduled jobs on the test database beside the test.
        | {"TESTING": True, "WTF_CSRF_ENABLED": False, "JOBS_IN_PROCESS": False}
    )
    return fresh


def test_a_view_without_a_permission_check_is_refused(bare_app):
    @bare_app.route("/careless")
    def careless():
        return "secret rows"

    response = bare_app.test_client().get("/careless")
    assert response.status_code == 500
    assert "secret rows" not in response.get_data(as_text=True)
    assert "权限检查缺失" in response.get_data(as_text=True)


def test_changes_of_an_unchecked_view_are_rolled_back(bare_app):
    @bare_app.route("/careless-write", methods=["POST"])
    def careless_write():
        target = db.session.scalar(select(User).where(User.username == "fc_grid2"))
        target.display_name = "被篡改"
        return "done"

    # The session factory is bound to this test's transaction, whichever app asks.
    with bare_app.app_context():
        response = bare_app.test_client().post("/careless-write")
        assert response.status_code == 500
        name = db.session.scalar(select(User.display_name).where(User.username == "fc_grid2"))
        assert name != "被篡改"


def test_a_public_view_answers(bare_app):
    @bare_app.route("/open")
    @public
    def open_page():
        return "ok"

    assert bare_app.test_client().get("/open").status_code == 200


def test_templates_showing_buttons_do_not_count_as_a_check(bare_app):
    from flask import render_template_string

    @bare_app.route("/only-template")
    def only_template():
        return render_template_string("{{ can('user.view') }}")

    assert bare_app.test_client().get("/only-template").status_code == 500


def test_htmx_request_of_a_signed_out_user_loads_the_login_page(client):
    response = client.get("/regions/search?q=阜城", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login?next=")
