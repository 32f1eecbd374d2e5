"""The e-credential activation list (医保电子凭证激活名单): columns by meaning, persons marked
set-based within the uploader's scope, bad rows sent back with the reason, figures refreshed."""

import io
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import select, update

from portal.extensions import db
from portal.imports.columns import E_CREDENTIAL, map_columns
from portal.persons.models import Person, PersonChange
from portal.stats import maintain
from portal.stats.figures import region_figures
from tests.factories import (
    BAD_CHECK,
    GOOD,
    LOWER_X,
    household_workbook,
    latest_batch,
    make_id,
    run_jobs,
    upload,
    upload_kind,
    workbook,
)
from tests.helpers import database, fetch

XINGFU = "320923001001"


def activated(app, numbers) -> dict[str, bool]:
    return {
        p.id_number: p.e_credential
        for p in fetch(app, select(Person).where(Person.id_number.in_(numbers)))
    }


def reasons(client, batch) -> list[str]:
    data = client.get(f"/imports/{batch.id}/errors.xlsx").data
    sheet = load_workbook(io.BytesIO(data)).active
    return [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_the_list_marks_persons_on_file_and_sends_back_the_rest(app, login):
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    # Shuffled columns, headed in the platform's words; empty optional cells.
    rows = [
        ("2026-10-08", GOOD[0], "张一"),  # 2 ok
        (None, GOOD[1], None),  # 3 ok: no day, no name
        ("2026/10/9", make_id(99, birth="19600101"), "不在册"),  # 4 not on file
        (None, BAD_CHECK, "钱七"),  # 5 invalid ID number
        ("去年", LOWER_X, "李四"),  # 6 a day not understood
        (tomorrow, make_id(66, birth="19700101"), "周九"),  # 7 a day in the future
        (None, GOOD[0], "张一"),  # 8 the same person again
    ]
    content = workbook(["电子凭证激活日期", "公民身份证号码", "人员姓名"], rows)
    assert upload_kind(client, "e_credential", content, name="激活名单.xlsx").status_code == 302
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "succeeded", batch.message
    assert (batch.updated, batch.unchanged, batch.rejected) == (2, 0, 5), batch.message
    assert "匹配本辖区人员 2 人" in batch.message and "人员档案中没有的 1 人" in batch.message
    assert activated(app, GOOD[:2] + [LOWER_X]) == {GOOD[0]: True, GOOD[1]: True, LOWER_X: False}
    sent_back = reasons(client, batch)  # in the order of the rows
    assert "请先导入户籍人口" in sent_back[0]
    assert "校验位错误" in sent_back[1]
    assert sent_back[2] == "激活日期「去年」无法识别，如 2026-10-08"
    assert "晚于今天" in sent_back[3]
    assert "与本文件第2行是同一人" in sent_back[4]
    changes = fetch(
        app,
        select(PersonChange)
        .join(Person, Person.id == PersonChange.person_id)
        .where(Person.id_number == GOOD[0], PersonChange.batch_id == batch.id),
    )
    assert [c.changes for c in changes] == [{"e_credential": [False, True]}]
    # The same list again changes nothing (and takes nothing away).
    again = workbook(["身份证号", "激活日期"], [(GOOD[0], None), (GOOD[1], None)])
    upload_kind(client, "e_credential", again, name="再次.xlsx")
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.updated, batch.unchanged, batch.rejected) == (0, 2, 0), batch.message
    assert activated(app, GOOD[:2]) == {GOOD[0]: True, GOOD[1]: True}


def test_persons_outside_the_scope_are_not_touched(app, login):
    outside = make_id(12, birth="19700101", region="320902")
    with database(app) as session:
        session.add(
            Person(
                id_number=outside,
                name="亭湖人",
                sex="1",
                birth_date=date(1970, 1, 1),
                region_code="320902001001",
                in_register=True,
            )
        )
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    content = workbook(["身份证号码"], [(outside,), (GOOD[0],)])
    upload_kind(client, "e_credential", content, name="激活.xlsx")
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.updated, batch.rejected) == (1, 1), batch.message
    assert activated(app, [outside, GOOD[0]]) == {outside: False, GOOD[0]: True}
    assert reasons(client, batch) == ["此人由辖区外管理，不能由本辖区标记"]


def test_the_activation_rate_follows_the_list(app, login):
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    with database(app) as session:
        session.execute(
            update(Person).where(Person.id_number.in_(GOOD[:2])).values(insured_status="insured")
        )
        maintain.rebuild(session.connection())
        year = max(maintain.built_years(session.connection()))
    content = workbook(["身份证号码", "姓名"], [(GOOD[0], "张一"), (LOWER_X, "李四")])
    upload_kind(client, "e_credential", content, name="激活.xlsx")
    run_jobs(app)
    with app.app_context():
        connection = db.session.connection()
        for each in maintain.built_years(connection):
            assert maintain.differences(connection, prefix="320923", year=each) == {}
        figures = region_figures("320923000000", year)
        # Two insured, one of them activated; LOWER_X activated but not insured: not counted.
        assert (figures.insured, figures.e_credential) == (2, 1)
        assert figures.e_credential_rate == 0.5


def test_header_variants_map_by_meaning():
    for header, expected in (
        (["身份证号", "激活日期"], {"id_number": 0, "activated_on": 1}),
        (
            ["姓名", "医保电子凭证激活时间", "证件号码"],
            {"name": 0, "activated_on": 1, "id_number": 2},
        ),
        (["序号", "公民身份号码（18位）", "首次激活日期"], {"id_number": 1, "activated_on": 2}),
    ):
        mapped = map_columns(header, E_CREDENTIAL)
        assert mapped.missing == (), header
        assert mapped.fields == expected, header


def test_the_template_downloads_with_its_columns(app, login):
    client = login("fn_staff")
    response = client.get("/imports/templates/e_credential.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook.worksheets[0]
    assert [c.value for c in sheet[1]] == ["公民身份号码", "姓名", "激活日期"]
    notes = [row[2] for row in workbook["填写说明"].iter_rows(values_only=True) if row[2]]
    assert any("激活名单" in str(n) for n in notes)
    # The kind is offered on the upload page.
    assert "医保电子凭证激活名单" in client.get("/imports/").get_data(as_text=True)
