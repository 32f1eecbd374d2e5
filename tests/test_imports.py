"""Importing a household workbook as offices send it: traps, counts, error workbook, re-import."""

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from portal.imports.models import ImportBatch
from portal.persons.models import Person
from tests.factories import (
    EXPECTED_REJECTIONS,
    FULLWIDTH,
    GOOD,
    LOWER_X,
    SPACED,
    household_workbook,
    insured_workbook,
    key_population_workbook,
    latest_batch,
    make_id,
    run_comparison,
    run_jobs,
    upload,
    upload_kind,
)
from tests.helpers import fetch


def test_a_household_workbook_with_every_trap(app, login):
    client = login("fn_staff")
    response = upload(client, household_workbook())
    assert response.status_code == 302
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "succeeded", batch.message
    assert (batch.rows_read, batch.created, batch.updated, batch.unchanged, batch.rejected) == (
        12,
        5,
        0,
        0,
        7,
    )
    stored = fetch(app, select(Person.id_number).order_by(Person.id_number))
    assert set(stored) == {GOOD[0], GOOD[1], LOWER_X, FULLWIDTH, SPACED}
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert "退回" in page and "下载退回的行" in page
    errors = client.get(f"/imports/{batch.id}/errors.xlsx")
    assert errors.status_code == 200
    sheet = load_workbook(io.BytesIO(errors.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("原Excel行号", "错误原因", "序号", "姓名")
    got = [(r[0], r[1]) for r in rows[1:]]
    assert [n for n, _ in got] == [n for n, _ in EXPECTED_REJECTIONS]
    for (number, reason), (_, expected) in zip(got, EXPECTED_REJECTIONS, strict=True):
        assert expected in reason, (number, reason)
    # The original cells come back as they were.
    assert rows[1][3] == "张三"


def test_importing_the_same_file_twice_changes_nothing(app, login):
    client = login("fn_staff")
    content = household_workbook()
    upload(client, content)
    run_jobs(app)
    upload(client, content)
    run_jobs(app)
    second = latest_batch(app)
    assert (second.created, second.updated, second.unchanged, second.rejected) == (0, 0, 5, 7)


def test_corrected_rows_are_imported_again(app, login):
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    first = latest_batch(app)
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{first.id}/errors.xlsx").data)).active
    wb = Workbook()
    fixed = wb.active
    for index, row in enumerate(sheet.iter_rows(values_only=True)):
        row = list(row[2:])  # drop the row number and reason columns, as the page says
        if index and row[1] is None:
            row[1] = "补名"
        if index and row[3] == "12345":
            row[3] = "13900001111"
        fixed.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    upload(client, buffer.getvalue(), name="改正后.xlsx")
    run_jobs(app)
    second = latest_batch(app)
    # Fixed: the missing name and the bad phone. The duplicate row is now alone in its file and
    # matches the person already imported: unchanged. The other four are still wrong.
    assert (second.created, second.unchanged, second.rejected) == (2, 1, 4)


def test_a_missing_required_column_fails_the_batch_with_a_message(app, login):
    wb = Workbook()
    wb.active.append(["姓名", "联系电话"])
    wb.active.append(["张三", "13812345678"])
    buffer = io.BytesIO()
    wb.save(buffer)
    client = login("fn_staff")
    upload(client, buffer.getvalue())
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "failed"
    assert "身份证" in batch.message
    assert fetch(app, select(func.count()).select_from(Person)) == [0]
    assert "导入失败" in client.get(f"/imports/{batch.id}").get_data(as_text=True)


def test_a_renamed_file_is_refused_at_upload(login, app):
    client = login("fn_staff")
    response = upload(client, b"id,name\n1,2\n" * 10)
    assert response.status_code == 200
    assert "不是 Excel" in response.get_data(as_text=True) or "扩展名" in response.get_data(
        as_text=True
    )
    assert fetch(app, select(func.count()).select_from(ImportBatch)) == [0]


def test_a_batch_that_crashes_half_way_leaves_nothing(app, login, monkeypatch):
    from portal.imports import apply

    original = apply.apply_household

    def crash(*args, **kwargs):
        original(*args, **kwargs)  # rows written…
        raise RuntimeError("worker killed")  # …then the worker dies before commit

    monkeypatch.setattr(apply, "apply_household", crash)
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "failed"
    assert fetch(app, select(func.count()).select_from(Person)) == [0]


def test_csv_in_gbk_is_accepted(app, login):
    text = f"姓名,身份证号,所属社区\n张一,{GOOD[0]},320923001001\n"
    client = login("fn_staff")
    upload(client, text.encode("gb18030"), name="名单.csv")
    run_jobs(app)
    assert latest_batch(app).created == 1


@pytest.mark.parametrize("actor", ["fc_supervisor", "fc_grid1", "js_auditor"])
def test_roles_without_import_cannot_upload(login, actor):
    assert upload(login(actor), household_workbook()).status_code == 403


def test_birth_date_and_sex_come_from_the_id(app, login):
    upload(login("fn_staff"), household_workbook())
    run_jobs(app)
    person = fetch(app, select(Person).where(Person.id_number == GOOD[1]))[0]
    assert person.birth_date == date(1990, 2, 15)
    assert person.sex == "2"  # the 17th digit, 2, is even: a woman


def test_insured_extract_becomes_enrollment_records(app, login):
    from portal.persons.models import Enrollment

    rows = [
        ("张一", GOOD[0], "城乡居民基本医疗保险", "320923", "2026-01-01", None, "正常"),
        ("张二", GOOD[1], "职工基本医疗保险", None, "2020/3/1", "2026-06-30", "终止"),
        ("张二", GOOD[1], "职工基本医疗保险", None, "2020/3/1", "2026-06-30", "终止"),
        ("坏险种", GOOD[2], "商业保险", None, None, None, None),
        ("外地", LOWER_X, "居民医保", "320902", None, None, None),  # insured in Tinghu: kept
    ]
    client = login("fn_staff")
    assert upload_kind(client, "insured", insured_workbook(rows)).status_code == 302
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.created, batch.rejected) == (3, 2), batch.message
    records = fetch(app, select(Enrollment).order_by(Enrollment.id_number))
    assert sorted(
        (r.id_number, r.scheme, r.status, r.region_code, r.vouched_prefix) for r in records
    ) == sorted(
        [
            (GOOD[0], "resident", "normal", "320923000000", None),
            (GOOD[1], "employee", "terminated", "320923000000", None),
            (LOWER_X, "resident", "normal", "320902000000", "320923"),
        ]
    )
    upload_kind(client, "insured", insured_workbook(rows))
    run_jobs(app)
    assert (latest_batch(app).created, latest_batch(app).unchanged) == (0, 3)


def test_household_then_insured_then_comparison_opens_files_in_communities(app, login):
    from portal.comparisons.models import ComparisonRun
    from portal.persons.models import PersonFile

    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    upload_kind(
        client,
        "insured",
        insured_workbook([("张一", GOOD[0], "居民医保", "320923", "2026-01-01", None, "正常")]),
    )
    run_jobs(app)
    # One insured in five: the guard would refuse the run as the lists' fault; confirmed.
    response = run_comparison(client, app, force="y")
    assert response.status_code == 302
    run = fetch(app, select(ComparisonRun))[0]
    assert run.state == "succeeded", run.message
    assert (run.persons, run.insured, run.opened) == (5, 1, 4)
    files = sorted((f.region_code, f.state) for f in fetch(app, select(PersonFile)))
    assert files == [("320923001001", "unassigned")] * 3 + [("320923001002", "unassigned")]
    page = client.get(f"/comparisons/{run.id}").get_data(as_text=True)
    assert "新建未参保档案" in page


def test_the_demo_samples_import_and_compare_as_the_readme_says(app, login, tmp_path):
    from portal.comparisons.models import ComparisonRun
    from portal.demo_samples import write_samples

    household, insured, _resident, _lapsed, elsewhere, *_ = write_samples(tmp_path, people=200)
    client = login("fn_staff")
    upload(client, household.read_bytes(), name=household.name)
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.created, batch.rejected) == (200, 6), batch.message
    upload_kind(client, "insured", insured.read_bytes(), name=insured.name)
    run_jobs(app)
    batch = latest_batch(app)
    # 160 of the register, three of them insured twice (Binhai, an employee, a school in Tinghu).
    assert (batch.created, batch.matched) == (163, 160), batch.message
    assert "其中姓名与名册不一致 2 人" in batch.message  # the third differs in a space only
    # The extract without names: every row kept. Insured in Tinghu, Nanjing or Shanghai (10),
    # terminated or suspended (10), old records of people insured here (5), and two people
    # registered elsewhere who are on no list of Funing yet.
    upload_kind(client, "insured", elsewhere.read_bytes(), name=elsewhere.name)
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.created, batch.rejected, batch.matched) == (27, 0, 25), batch.message
    assert "另有 2 条记录暂未对应" in batch.message
    run_comparison(client, app)
    run = fetch(app, select(ComparisonRun))[0]
    assert (run.persons, run.insured, run.opened) == (200, 170, 30)
    # The people insured twice are duplicate cases (detected after the import), counted in the
    # figures: in Funing (their communities), with a record in Binhai and one in Tinghu.
    from portal.duplicates import figures as duplicate_figures
    from portal.duplicates.models import DuplicateCase
    from portal.extensions import db
    from portal.years.selection import current_year

    with app.test_request_context():
        year = current_year()
        cases = db.session.scalars(select(DuplicateCase).where(DuplicateCase.year == year)).all()
        assert sorted(c.kind for c in cases) == ["cross", "resident", "resident"]
        assert all(c.region_code.startswith("320923") for c in cases)
        funing = duplicate_figures.region_duplicates("320923000000", year)
        assert (funing.cases, funing.open, funing.cases_cross) == (3, 3, 1)
        for county in ("320922000000", "320902000000"):
            assert duplicate_figures.region_duplicates(county, year).records == 1, county
        assert duplicate_figures.differences(db.session.connection(), year) == {}


def test_key_population_list_flags_persons_already_on_file(app, login):
    from portal.persons.codes import KEY_POPULATION_BY_CODE as KP

    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    rows = [
        ("张一", GOOD[0], "低保户、重度残疾"),
        ("张二", GOOD[1], "特困供养人员"),
        ("不在册", make_id(99, birth="19600101"), "低保"),
        ("李四", LOWER_X, "会员"),
    ]
    upload_kind(client, "key_population", key_population_workbook(rows), name="重点人群.xlsx")
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.updated, batch.unchanged, batch.rejected) == (2, 0, 2), batch.message
    masks = dict(
        (p.id_number, p.key_populations)
        for p in fetch(app, select(Person).where(Person.id_number.in_(GOOD[:2])))
    )
    assert masks[GOOD[0]] == KP["minimum_allowance"].bit | KP["severe_disability"].bit
    assert masks[GOOD[1]] == KP["extreme_poverty"].bit
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    reasons = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert "请先导入户籍人口" in reasons[0] and "人员类别「会员」无法识别" in reasons[1]
    upload_kind(client, "key_population", key_population_workbook(rows[:2]), name="再次.xlsx")
    run_jobs(app)
    assert (latest_batch(app).updated, latest_batch(app).unchanged) == (0, 2)


def test_a_one_category_list_chosen_at_upload(app, login):
    from portal.persons.codes import KEY_POPULATION_BY_CODE as KP

    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    wb = Workbook()
    wb.active.append(["姓名", "身份证号"])
    wb.active.append(["张一", GOOD[0]])
    buffer = io.BytesIO()
    wb.save(buffer)
    response = client.post(
        "/imports/",
        data={
            "kind": "key_population",
            "category": "orphan",
            "region": "320923000000",
            "file": (io.BytesIO(buffer.getvalue()), "孤儿.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run_jobs(app)
    assert latest_batch(app).updated == 1
    person = fetch(app, select(Person).where(Person.id_number == GOOD[0]))[0]
    assert person.key_populations == KP["orphan"].bit
