"""User administration through the pages, as an administrator would use them."""

import re

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_county_admin_creates_grid_worker_who_must_change_password(app, login, user):
    admin = login("fn_admin")
    form = admin.get("/users/new?region=320923001003")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    assert "网格员" in body and "县级管理员" not in body.split("<select")[1]
    response = admin.post(
        "/users/new?region=320923001003",
        data={
            "username": "Fc_Grid3",
            "display_name": "张三",
            "phone": "138 1234 5678",
            "role": "grid_worker",
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    password = re.search(r'class="secret">([^<]+)<', page).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        created = user("fc_grid3")
        assert created.phone == "13812345678" and created.must_change_password
        assert [(g.role, g.region_code) for g in created.grants] == [
            ("grid_worker", "320923001003")
        ]
        assert {e.action for e in audit_rows("user.create")} == {"user.create"}
    worker = login("fc_grid3", password)
    assert worker.get("/").headers["Location"].endswith("/password")


def test_create_user_refuses_bad_input_in_chinese_and_keeps_the_form(login):
    admin = login("fn_admin")
    response = admin.post(
        "/users/new?region=320923001003",
        data={"username": "fc_grid1", "display_name": "重名", "phone": "", "role": "grid_worker"},
    )
    assert "已被使用" in response.get_data(as_text=True)
    assert 'value="重名"' in response.get_data(as_text=True)
    response = admin.post(
        "/users/new?region=320923001003",
        data={
            "username": "newone",
            "display_name": "王五",
            "phone": "12345",
            "role": "grid_worker",
        },
    )
    assert "联系电话格式不正确" in response.get_data(as_text=True)


def test_role_not_offered_at_this_level_is_refused(login, app, user):
    admin = login("fn_admin")
    response = admin.post(
        "/users/new?region=320923001003",
        data={"username": "sneaky", "display_name": "x", "role": "county_admin"},
    )
    assert response.status_code == 200
    assert "不是有效的选择" in response.get_data(as_text=True)
    with app.app_context():
        assert user("sneaky") is None


def test_disable_logs_the_user_out_and_enable_restores(app, login, user):
    worker = login("fc_grid2")
    assert worker.get("/").status_code == 200
    with app.app_context():
        target_id = user("fc_grid2").id
    supervisor = login("fc_supervisor")
    assert supervisor.post(f"/users/{target_id}/disable").status_code == 302
    assert worker.get("/").status_code == 302
    assert "该账户已停用" in worker.get("/login?ended=disabled").get_data(as_text=True)
    supervisor.post(f"/users/{target_id}/enable")
    with app.app_context():
        assert user("fc_grid2").active
        assert [e.target_label for e in audit_rows("user.disable")] == ["fc_grid2"]


def test_reset_password_issues_a_one_time_password(app, login, user):
    with app.app_context():
        target_id = user("fc_grid2").id
    supervisor = login("fc_supervisor")
    page = supervisor.post(f"/users/{target_id}/reset-password").get_data(as_text=True)
    password = re.search(r'class="secret">([^<]+)<', page).group(1)
    worker = login("fc_grid2", password)
    assert worker.get("/").headers["Location"].endswith("/password")
    with app.app_context():
        assert audit_rows("password.reset")[0].actor_username == "fc_supervisor"
        # The password itself is never written to the audit trail.
        assert all(password not in str(e.detail) for e in db.session.scalars(select(AuditEvent)))


def test_supervisor_cannot_grant_a_supervisor_role(app, login, user):
    with app.app_context():
        target_id = user("fc_grid2").id
    supervisor = login("fc_supervisor")
    response = supervisor.post(
        f"/users/{target_id}/grants", data={"role": "township_supervisor", "region": "320923001000"}
    )
    assert response.status_code == 302
    with app.app_context():
        assert user("fc_grid2").role_names == {"grid_worker"}


def test_grant_then_revoke_through_the_page(app, login, user):
    with app.app_context():
        target = user("fc_grid2")
        target_id = target.id
    admin = login("fn_admin")
    admin.post(f"/users/{target_id}/grants", data={"role": "grid_worker", "region": "320923001001"})
    with app.app_context():
        grants = {(g.role, g.region_code): g.id for g in user("fc_grid2").grants}
    assert ("grid_worker", "320923001001") in grants
    detail = admin.get(f"/users/{target_id}").get_data(as_text=True)
    assert "兴阜居委会" in detail
    admin.post(f"/users/{target_id}/grants/{grants[('grid_worker', '320923001001')]}/revoke")
    with app.app_context():
        assert user("fc_grid2").role_names == {"grid_worker"}
        assert len(user("fc_grid2").grants) == 1
        actions = {e.action for e in db.session.scalars(select(AuditEvent))}
        assert actions >= {"role.grant", "role.revoke"}


def test_user_list_is_scoped_and_filtered(login):
    page = login("fc_supervisor").get("/users/").get_data(as_text=True)
    assert "fc_grid1" in page and "fc_grid2" in page
    assert "wt_grid1" not in page and "fn_admin" not in page and "js_admin" not in page
    filtered = login("fn_admin").get("/users/?role=township_supervisor").get_data(as_text=True)
    assert "fc_supervisor" in filtered and "wt_supervisor" in filtered
    assert "fc_grid1" not in filtered


def test_users_without_admin_roles_see_no_admin_menu(login):
    page = login("fn_staff").get("/").get_data(as_text=True)
    assert "用户管理" not in page and "审计日志" not in page
    assert "审计日志" in login("js_auditor").get("/").get_data(as_text=True)
