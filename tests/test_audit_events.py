"""Field work in the audit trail: visits, review decisions and assignments are events; the page
says each event's details in Chinese with region names, filters by user, action, region and
time and exports (itself audited); free text is masked; refused access is recorded, rate-limited."""

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.audit import limits
from portal.audit.models import AuditEvent
from portal.masking import mask_free_text
from tests.desk_helpers import FUCHENG, XINGFU, user_id
from tests.evidence_helpers import jpeg_bytes
from tests.factories import create_task
from tests.helpers import database, fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

HIDDEN = re.compile(
    r'<input id="(idempotency_key|version|token)" name="\1" type="hidden" value="([^"]*)"'
)
BARE_CODE = re.compile(r"<td[^>]*>\s*3209\d{8}\s*</td>")  # a code alone in a cell


def events(app, action):
    return fetch(app, select(AuditEvent).where(AuditEvent.action == action))


@pytest.fixture(autouse=True)
def _fresh_limits():
    limits.reset()
    yield
    limits.reset()


def test_visits_reviews_and_assignments_are_audit_events_in_chinese(app, login, make_file):
    zhang = create_task(app, "张三")
    worker = login("fc_grid1")
    form = dict(HIDDEN.findall(worker.get(f"/tasks/{zhang.file_id}").get_data(as_text=True)))
    worker.post(
        f"/tasks/{zhang.file_id}/visit",
        data={
            **form,
            "method": "in_person",
            "outcome": "deceased",
            "note": "邻居告知",
            "evidence": (BytesIO(jpeg_bytes(640, 480)), "证明.jpg"),
        },
    )
    # Only this file's: PostgreSQL's concurrency tests commit visits (and their events) for real.
    (visit_event,) = [e for e in events(app, "visit.record") if e.target_id == str(zhang.file_id)]
    assert visit_event.region_code == XINGFU and visit_event.detail["outcome"] == "deceased"
    supervisor = login("fc_supervisor")
    (visit_id,) = [visit_event.detail["visit_id"]]
    supervisor.post(f"/desk/reviews/{visit_id}", data={"decision": "return", "comment": "请核实"})
    (review_event,) = events(app, "file.review")
    assert review_event.detail["decision"] == "returned"
    unassigned = make_file()
    supervisor.post(
        f"/desk/{FUCHENG}/assign",
        data={
            "worker": str(user_id(app, "fc_grid1")),
            "selection": "ticked",
            "state": "unassigned",
            "file_ids": [unassigned.file_id],
        },
    )
    page = login("js_auditor").get("/audit/").get_data(as_text=True)
    assert "记录走访" in page and "走访结果：死亡" in page and "走访方式：上门" in page
    assert "审核核销" in page and "审核结果：已退回" in page and "意见：请核实" in page
    assert "分配档案" in page and "网格员：兴阜居委会网格员" in page
    shown = re.findall(r'<small class="muted audit-detail">(.*?)</small>', page)
    assert shown and not any(re.search(r"[a-z_]+=|[a-z]+_[a-z]+", d) for d in shown)
    # Region names, with the code beside them; never a bare code.
    assert '兴阜居委会 <span class="muted">320923001001</span>' in page
    assert not BARE_CODE.search(page.split("<tbody>")[1])
    # Filters: action, user, region.
    only = login("js_auditor").get("/audit/?action=file.review").get_data(as_text=True)
    assert "审核结果：已退回" in only and "记录走访" not in only.split("<tbody>")[1]
    by_user = login("js_auditor").get("/audit/?username=fc_grid1").get_data(as_text=True)
    body = by_user.split("<tbody>")[1]
    assert "记录走访" in body and "审核核销" not in body
    wutan = login("js_auditor").get("/audit/?region=320923002000").get_data(as_text=True)
    assert "记录走访" not in wutan.split("<tbody>")[1]
    fucheng = login("js_auditor").get(f"/audit/?region={FUCHENG}").get_data(as_text=True)
    assert "记录走访" in fucheng.split("<tbody>")[1]


def test_login_and_grant_details_are_in_chinese(app, login):
    app.test_client().post("/login", data={"username": "fc_grid2", "password": "wrong"})
    page = login("js_auditor").get("/audit/?action=login").get_data(as_text=True)
    assert "原因：密码错误" in page and "reason=" not in page


def test_free_text_holding_an_id_or_mobile_number_is_masked(app):
    id_number, mobile = "32092319700101001X", "13812345678"
    assert mask_free_text(f"查 {id_number} 和 {mobile}") == "查 3209**********001X 和 138****5678"
    app.test_client().post("/login", data={"username": id_number, "password": "x"})
    app.test_client().post("/login", data={"username": mobile, "password": "x"})
    stored = [e.actor_username for e in events(app, "login")]
    assert "3209**********001X" in stored and "138****5678" in stored
    assert id_number not in stored and mobile not in stored
    from portal.audit import operations as audit

    with database(app):
        event = audit.record("export", detail={"filters": {"name": f"张{mobile}"}})
        assert event.detail == {"filters": {"name": "张138****5678"}}


def test_refused_access_to_a_foreign_object_is_recorded_and_rate_limited(app, login, monkeypatch):
    from portal.audit import operations as audit

    monkeypatch.setattr(audit, "DENIED_WINDOW_SECONDS", 10**9)  # no window boundary mid-test
    other = create_task(app, "别人的", assignee="fc_grid2", region="320923001002")
    client = login("fc_grid1")
    for _ in range(8):
        assert client.get(f"/tasks/{other.file_id}").status_code == 404
    denied = events(app, "access.denied")
    assert len(denied) == 5  # DENIED_PER_WINDOW: a probe cannot flood the log
    assert {(e.result, e.target_id, e.actor_username) for e in denied} == {
        ("denied", str(other.file_id), "fc_grid1")
    }
    assert login("fc_supervisor").post("/desk/reviews/999999999").status_code == 404
    assert [e.detail["object"] for e in events(app, "access.denied")].count("review") == 1
    page = login("js_auditor").get("/audit/?action=access.denied").get_data(as_text=True)
    assert "越权访问被拒绝" in page and "对象：任务档案" in page


def test_the_export_is_an_excel_of_the_filtered_events_and_is_audited(app, login):
    login("fc_grid1")
    auditor = login("js_auditor")
    page = auditor.get("/audit/?action=login").get_data(as_text=True)
    assert "/audit/export?action=login" in page
    response = auditor.get("/audit/export", query_string={"action": "login"})
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("时间", "操作人", "来源地址", "操作")
    assert any(r[1] == "fc_grid1" and r[3] == "登录" for r in rows[1:])
    assert all(r[3] == "登录" for r in rows[1:])
    (exported,) = events(app, "audit.export")
    assert exported.actor_username == "js_auditor"
    assert exported.detail["rows"] == len(rows) - 1
    assert exported.detail["filters"] == {"action": "login"}


def test_comparisons_and_imports_list_region_names(app, login):
    html = login("fn_staff").get("/comparisons/").get_data(as_text=True)
    assert not BARE_CODE.search(html)
