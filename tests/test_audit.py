"""The audit trail: append-only, read by the auditor of the region only, filterable."""

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from portal.audit.models import AuditEvent
from portal.extensions import db


def test_audit_rows_cannot_be_updated_or_deleted(ctx, _transaction):
    db.session.add(AuditEvent(action="login", result="success", actor_username="x"))
    db.session.flush()
    for statement in (update(AuditEvent).values(result="failure"), delete(AuditEvent)):
        savepoint = _transaction.begin_nested()
        with pytest.raises(DatabaseError, match="append-only"):
            _transaction.execute(statement)
        savepoint.rollback()


def test_auditor_sees_both_streets_and_filters(app, login):
    login("fc_grid1")  # success in Fucheng
    login("wt_grid1")  # success in Wutan
    fail = app.test_client().post("/login", data={"username": "fc_grid2", "password": "wrong"})
    assert "用户名或密码错误" in fail.get_data(as_text=True)
    auditor = login("js_auditor")
    page = auditor.get("/audit/?action=login").get_data(as_text=True)
    assert "fc_grid1" in page and "wt_grid1" in page and "fc_grid2" in page
    failures = auditor.get("/audit/?action=login&result=failure").get_data(as_text=True)
    assert "fc_grid2" in failures and "wt_grid1" not in failures
    by_user = auditor.get("/audit/?username=wt_grid1").get_data(as_text=True)
    assert "wt_grid1" in by_user and "fc_grid1" not in by_user.split("<tbody>")[1]


def test_city_auditor_does_not_see_other_cities_or_unplaced_events(app, login):
    app.test_client().post("/login", data={"username": "nobody", "password": "x"})
    login("wx_grid")
    login("fc_grid1")
    page = login("yc_auditor").get("/audit/?action=login").get_data(as_text=True)
    rows = page.split("<tbody>")[1]
    assert "fc_grid1" in rows and "wx_grid" not in rows and "nobody" not in rows
    province = login("js_auditor").get("/audit/?action=login").get_data(as_text=True)
    assert "nobody" in province.split("<tbody>")[1]


def test_bad_date_filter_is_explained(login):
    page = login("js_auditor").get("/audit/?date_from=2026-13-45").get_data(as_text=True)
    assert "日期格式不正确" in page


def test_date_filter_uses_china_time(app, login):
    from datetime import datetime

    login("fc_grid1")
    with app.app_context():
        at = db.session.scalar(select(AuditEvent.at).where(AuditEvent.actor_username == "fc_grid1"))
    local_day = (
        at.replace(microsecond=0) + (datetime(2000, 1, 1, 8) - datetime(2000, 1, 1))
    ).date()
    auditor = login("js_auditor")
    same = auditor.get(f"/audit/?username=fc_grid1&date_from={local_day}&date_to={local_day}")
    assert "fc_grid1" in same.get_data(as_text=True).split("<tbody>")[1]
    later = auditor.get(
        f"/audit/?username=fc_grid1&date_from={local_day.replace(year=local_day.year + 1)}"
    )
    assert "没有符合条件的记录" in later.get_data(as_text=True)


def test_application_never_logs_passwords(app, login, caplog):
    caplog.set_level("DEBUG")
    app.test_client().post("/login", data={"username": "fc_grid1", "password": "Secret#Wrong99"})
    assert "Secret#Wrong99" not in caplog.text
    with app.app_context():
        details = db.session.scalars(select(AuditEvent.detail)).all()
    assert all("Secret#Wrong99" not in str(d) for d in details)
