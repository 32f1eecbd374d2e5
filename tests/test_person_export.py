"""Exporting the person list: the filtered rows, masked unless allowed, audited, injection-safe."""

import io
import re
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from portal.accounts.models import Grant, User
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.persons import codes
from portal.persons import export as person_export
from tests.factories import FULL_ID, FULL_MOBILE, WUTAN, XINGFU, XINSHENG, YEAR
from tests.helpers import database, fetch


@pytest.fixture
def crowd(make_person):
    """Persons in both streets, one with a name and an address that a spreadsheet would run."""
    gov = codes.KEY_POPULATION_BY_CODE["minimum_allowance"].bit
    made = [
        make_person("=1+1", XINGFU, phone="13811112222", address="+SUM(A1:A9)"),
        make_person("@cmd", XINGFU, phone="13811113333", address="-2+3"),
        make_person("兴阜一", XINGFU, phone="13811114444", insured_status="uninsured"),
        make_person(
            "新盛一",
            XINSHENG,
            phone="13811115555",
            insured_status="uninsured",
            key_populations=gov,
            files=[(YEAR, "assigned", "fc_grid2", "hardship")],
        ),
        make_person("吴滩一", WUTAN, phone="13811116666", insured_status="uninsured"),
    ]
    return {p.name: p for p in made}


PURPOSE = "核对参保登记"
FULL = {"full": "y", "purpose": PURPOSE}


def workbook_rows(response) -> list[tuple]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    return list(sheet.iter_rows(values_only=True))


def export_events(app) -> list[AuditEvent]:
    return fetch(app, select(AuditEvent).where(AuditEvent.action == "export"))


def listed_count(client, query: str) -> int:
    html = client.get(f"/persons/?{query}").get_data(as_text=True)
    return int(re.search(r"共 (\d+) 人", html).group(1))


@pytest.mark.parametrize(
    ("username", "query"),
    [
        ("fn_staff", ""),
        ("fn_staff", "insured_status=uninsured"),
        ("fc_supervisor", ""),
        ("fc_supervisor", f"region={XINSHENG}"),
        ("fc_supervisor", "key_population=government_paid"),
    ],
)
def test_export_has_the_rows_of_the_filtered_list(app, login, crowd, username, query):
    client = login(username)
    expected = listed_count(client, query)
    rows = workbook_rows(client.post("/persons/export.xlsx", data=dict(parse_qsl(query))))
    assert rows[0][:2] == ("姓名", "公民身份号码")
    assert len(rows) - 1 == expected
    (event,) = export_events(app)
    assert event.actor_username == username
    assert event.detail["rows"] == expected and event.detail["masked"] is True
    assert event.detail["what"] == "persons"
    assert event.detail["filters"] == dict(p.split("=") for p in query.split("&") if p)


def test_export_stays_in_the_scope(login, crowd):
    rows = workbook_rows(login("fc_supervisor").post("/persons/export.xlsx"))
    names = {r[0] for r in rows[1:]}
    assert "吴滩一" not in names and "兴阜一" in names and "新盛一" in names


def _cells(rows) -> list[str]:
    return [str(v) for row in rows for v in row if v is not None]


@pytest.mark.parametrize(
    ("username", "full"), [("fn_staff", ""), ("fn_staff", "y"), ("fc_supervisor", "")]
)
def test_export_is_masked_without_the_reveal_grant_or_the_tick(app, login, crowd, username, full):
    rows = workbook_rows(
        login(username).post("/persons/export.xlsx", data={"full": full, "purpose": PURPOSE})
    )
    cells = _cells(rows)
    assert len(rows) > 1
    for cell in cells:
        assert not FULL_ID.search(cell), cell
        assert not FULL_MOBILE.search(cell), cell
    for p in crowd.values():
        assert p.id_number not in cells and p.phone not in cells
    assert export_events(app)[0].detail["masked"] is True


def test_full_numbers_for_a_user_who_may_unmask_and_asked(app, login, crowd):
    rows = workbook_rows(login("fc_supervisor").post("/persons/export.xlsx", data=FULL))
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["兴阜一"][1] == crowd["兴阜一"].id_number
    assert by_name["兴阜一"][5] == crowd["兴阜一"].phone
    assert export_events(app)[0].detail["masked"] is False


def test_full_numbers_only_within_the_unmask_scope(app, login, crowd):
    # County staff with the unmask grant for Fucheng street only: Wutan rows stay masked.
    with database(app) as session:
        staff = session.scalar(select(User).where(User.username == "fn_staff"))
        session.add(Grant(user_id=staff.id, role="unmask", region_code="320923001000"))
    rows = workbook_rows(login("fn_staff").post("/persons/export.xlsx", data=FULL))
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["兴阜一"][1] == crowd["兴阜一"].id_number
    assert by_name["吴滩一"][1] != crowd["吴滩一"].id_number
    assert not FULL_MOBILE.search(by_name["吴滩一"][5])


def test_formula_injection_is_neutralised(login, crowd):
    rows = workbook_rows(login("fc_supervisor").post("/persons/export.xlsx"))
    names = {r[0] for r in rows[1:]}
    assert "'=1+1" in names and "'@cmd" in names and "=1+1" not in names
    addresses = {r[8] for r in rows[1:]}
    assert "'+SUM(A1:A9)" in addresses and "'-2+3" in addresses


def test_export_labels_are_chinese(login, crowd):
    rows = workbook_rows(
        login("fc_supervisor").post("/persons/export.xlsx", data={"region": XINSHENG})
    )
    (row,) = rows[1:]
    header = rows[0]
    record = dict(zip(header, row, strict=True))
    assert record["参保状态"] == "未参保"
    assert record["重点人群"] == "低保对象" and record["政府资助人群"] == "是"
    assert record["档案状态"] == "待走访" and record["未参保原因"] == "经济困难"
    assert record["管理社区"] == "新盛居委会" and record["联系电话"] == "138****5555"


def test_export_streams_in_batches(app, login, crowd, monkeypatch, is_postgres):
    """yield_per batches, and a server-side (named) cursor on PostgreSQL: never all rows."""
    monkeypatch.setattr(person_export, "YIELD_PER", 2)
    seen = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if "FROM person" in statement and "person_file.file_number" in statement:
            seen.append((context.execution_options.get("yield_per"), getattr(cursor, "name", None)))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", spy)
    try:
        rows = workbook_rows(login("fn_staff").post("/persons/export.xlsx"))
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", spy)
    assert len(rows) - 1 == len(crowd)
    ((yield_per, cursor_name),) = seen
    assert yield_per == 2
    assert bool(cursor_name) == is_postgres


def test_the_temporary_file_is_deleted_after_sending(app, login, crowd):
    exports = Path(app.config["INSTANCE_DIR"]) / "exports"
    response = login("fc_supervisor").post("/persons/export.xlsx")
    assert len(workbook_rows(response)) > 1
    assert response.headers["Content-Length"] == str(len(response.data))
    assert list(exports.glob("persons-*.xlsx")) == []


def test_grid_workers_and_auditors_may_not_export(app, login, crowd):
    assert login("fc_grid1").post("/persons/export.xlsx").status_code == 403
    assert login("js_auditor").post("/persons/export.xlsx").status_code == 403
    assert export_events(app) == []


def test_bad_filters_are_sent_back_to_the_list(app, login, crowd):
    response = login("fc_supervisor").post("/persons/export.xlsx", data={"phone_tail": "12"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "查询条件有误，请修正后再导出。" in html and "手机尾号请输入 4 位数字。" in html
    assert export_events(app) == []


# --- an export is a POST with a CSRF token; full numbers need a stated purpose -----------------


def test_an_export_is_never_a_get(app, login, crowd):
    client = login("fc_supervisor")
    assert client.get("/persons/export.xlsx").status_code == 405
    assert client.get("/persons/export.xlsx?full=y&purpose=x").status_code == 405
    assert export_events(app) == []


def test_the_export_form_posts_its_token_and_the_filters(login, crowd):
    html = login("fc_supervisor").get("/persons/?insured_status=uninsured").get_data(as_text=True)
    form = html[html.index('action="/persons/export.xlsx"') - 30 :]
    form = form[: form.index("</form>")]
    assert 'method="post"' in form and 'name="csrf_token"' in form
    assert 'name="insured_status" value="uninsured"' in form
    assert 'name="purpose"' in form


def test_full_numbers_need_a_stated_purpose(app, login, crowd):
    client = login("fc_supervisor")
    for purpose in ("", "   "):
        response = client.post("/persons/export.xlsx", data={"full": "y", "purpose": purpose})
        assert response.mimetype == "text/html"
        assert "导出完整号码须填写用途。" in response.get_data(as_text=True)
    assert export_events(app) == []
    # A masked export needs none.
    assert len(workbook_rows(client.post("/persons/export.xlsx"))) > 1


def test_the_purpose_is_in_the_audit_record(app, login, crowd):
    workbook_rows(login("fc_supervisor").post("/persons/export.xlsx", data=FULL))
    (event,) = export_events(app)
    assert event.detail["masked"] is False
    assert event.detail["purpose"] == PURPOSE


def test_an_export_without_the_csrf_token_is_refused(app, login, crowd):
    from tests.factories import csrf_on, form_token

    client = login("fc_supervisor")
    with csrf_on(app):
        refused = client.post("/persons/export.xlsx", data=FULL)
        assert refused.status_code == 400
        assert export_events(app) == []
        token = form_token(client.get("/persons/"))
        rows = workbook_rows(
            client.post("/persons/export.xlsx", data={**FULL, "csrf_token": token})
        )
    assert len(rows) > 1
