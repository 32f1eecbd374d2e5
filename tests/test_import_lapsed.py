"""The lapsed list (断缴人员): employees whose contributions stopped. Their employee enrollment is
suspended from the stop date, they are marked 断缴人员, and a comparison more than 3 months later
opens a lapsed file for them."""

import io
from datetime import date

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from portal.comparisons.models import ComparisonRun
from portal.comparisons.operations import months_before
from portal.imports.validation import lapsed_row, month_end, stop_date
from portal.persons.codes import KEY_POPULATION_BY_CODE
from portal.persons.models import Enrollment, Person, PersonChange, PersonFile
from tests.factories import (
    FULLWIDTH,
    GOOD,
    LOWER_X,
    SPACED,
    household_workbook,
    insured_workbook,
    latest_batch,
    make_id,
    run_comparison,
    run_jobs,
    upload,
    upload_kind,
)
from tests.helpers import database, fetch

LAPSED_BIT = KEY_POPULATION_BY_CODE["lapsed_payer"].bit
NOT_ON_FILE = make_id(41, birth="19820303", region="341221")
TODAY = date.today()
LONG_AGO = months_before(TODAY, 5)  # more than 3 months: a lapsed file
RECENTLY = months_before(TODAY, 1)  # within the 3-month grace: no file yet
HEADER = ["序号", "姓名", "身份证号码", "单位名称", "险种", "参保地", "停保日期", "末次缴费年月"]


def lapsed_workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)  # row 1
    rows = [
        ("张一", GOOD[0], "某厂", None, None, LONG_AGO.isoformat(), None),  # 2
        ("张二", GOOD[1], "某厂", "职工医保", "320923", None, f"{RECENTLY:%Y%m}"),  # 3
        ("不在册", NOT_ON_FILE, None, None, None, LONG_AGO.isoformat(), None),  # 4
        ("李四", LOWER_X, None, None, None, months_before(TODAY, 4).isoformat(), None),  # 5
        ("王五", FULLWIDTH, None, None, None, LONG_AGO.isoformat(), None),  # 6 insured in Tinghu
        ("赵六", SPACED, None, None, None, date(TODAY.year + 1, 1, 1).isoformat(), None),  # 7
        ("赵六", SPACED, None, None, None, "1989-12-31", None),  # 8
        ("赵六", SPACED, None, None, "320902", LONG_AGO.isoformat(), None),  # 9 employer in Tinghu
        ("赵六", SPACED, None, "居民医保", None, LONG_AGO.isoformat(), None),  # 10
        ("张一", GOOD[0], None, None, None, RECENTLY.isoformat(), None),  # 11
        ("赵六", SPACED, None, None, None, None, "202613"),  # 12
    ]
    for n, r in enumerate(rows, 1):
        ws.append([n, *r])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


EXPECTED_REJECTIONS = [
    (6, "此人的职工医保参保地320902000000不在本辖区"),
    (7, "在今天之后"),
    (8, "早于1990年"),
    (10, "断缴人员名单只登记职工医保的停保"),
    (11, "与本文件第2行是同一人"),
    (12, "末次缴费年月「202613」无法识别"),
]


def _prepare(app, login):
    """Register, insured extract (two employees, one resident), and an employee insured in
    Tinghu district, outside Funing."""
    with database(app) as session:
        session.add(
            Enrollment(
                id_number=FULLWIDTH,
                region_code="320902000000",
                scheme="employee",
                start_date=date(2020, 1, 1),
                status="normal",
            )
        )
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    year = f"{TODAY.year}-01-01"
    rows = [
        ("张一", GOOD[0], "职工医保", "320923", "2020-01-01", None, "正常"),
        ("张二", GOOD[1], "职工医保", "320923", "2020-01-01", None, "正常"),
        ("李四", LOWER_X, "居民医保", "320923", year, None, "正常"),
    ]
    upload_kind(client, "insured", insured_workbook(rows))
    run_jobs(app)
    return client


def _import_lapsed(client, app, name="断缴人员.xlsx"):
    upload_kind(client, "lapsed", lapsed_workbook(), name=name)
    run_jobs(app)
    return latest_batch(app)


def _enrollments(app, id_number) -> list[tuple]:
    return [
        (e.scheme, e.region_code, e.start_date, e.end_date, e.status, e.batch_id)
        for e in fetch(
            app,
            select(Enrollment).where(Enrollment.id_number == id_number).order_by(Enrollment.id),
        )
    ]


def _mask(app, id_number) -> int:
    return fetch(app, select(Person).where(Person.id_number == id_number))[0].key_populations


def test_lapsed_list_suspends_records_marks_persons_and_counts(app, login):
    client = _prepare(app, login)
    batch = _import_lapsed(client, app)
    assert batch.kind == "lapsed" and batch.state == "succeeded", batch.message
    # Created: a record for the one not on file, for 李四 (no employee record before) and for
    # 赵六, whose employer in Tinghu stopped paying (vouched for by Funing).
    # Updated: 张一 and 张二, whose employee records are suspended.
    assert (batch.rows_read, batch.created, batch.updated, batch.unchanged, batch.rejected) == (
        11,
        3,
        2,
        0,
        6,
    )
    # Persons of Funing named: 张一, 张二, 李四, 赵六 (the one not on file names nobody).
    assert batch.matched == 4
    assert "匹配本区划人员 4 人" in batch.message and "另有 1 条记录" in batch.message
    assert _enrollments(app, GOOD[0]) == [
        ("employee", "320923000000", date(2020, 1, 1), LONG_AGO, "suspended", batch.id)
    ]
    stopped = month_end(f"{RECENTLY:%Y-%m}")
    assert _enrollments(app, GOOD[1])[0][3:5] == (stopped, "suspended")
    stop = months_before(TODAY, 4)
    assert _enrollments(app, LOWER_X) == [
        ("resident", "320923000000", date(TODAY.year, 1, 1), None, "normal", batch.id - 1),
        ("employee", "320923000000", stop, stop, "suspended", batch.id),
    ]
    assert _enrollments(app, NOT_ON_FILE) == [
        ("employee", "320923000000", LONG_AGO, LONG_AGO, "suspended", batch.id)
    ]
    # Tinghu's record of 王五 is Tinghu's to suspend.
    assert _enrollments(app, FULLWIDTH)[0][3:5] == (None, "normal")
    for id_number in (GOOD[0], GOOD[1], LOWER_X):
        assert _mask(app, id_number) == LAPSED_BIT
    assert _mask(app, FULLWIDTH) == 0
    person = fetch(app, select(Person).where(Person.id_number == GOOD[0]))[0]
    history = fetch(
        app,
        select(PersonChange).where(
            PersonChange.person_id == person.id, PersonChange.batch_id == batch.id
        ),
    )
    assert [(h.cause, h.changes) for h in history] == [
        ("import", {"key_populations": [0, LAPSED_BIT]})
    ]
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    rejected = [(r[0], r[1]) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [n for n, _ in rejected] == [n for n, _ in EXPECTED_REJECTIONS]
    for (_, reason), (_, expected) in zip(rejected, EXPECTED_REJECTIONS, strict=True):
        assert expected in reason


def test_importing_the_lapsed_list_again_changes_nothing(app, login):
    client = _prepare(app, login)
    first = _import_lapsed(client, app)
    again = _import_lapsed(client, app, name="断缴人员-再次.xlsx")
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 5, 6)
    assert _enrollments(app, GOOD[0])[0][5] == first.id
    assert not fetch(app, select(PersonChange).where(PersonChange.batch_id == again.id))


def test_comparison_opens_a_lapsed_file_after_three_months_not_before(app, login):
    client = _prepare(app, login)
    _import_lapsed(client, app)
    run_comparison(client, app, force="y")  # 2 of 5 insured: the guard is overridden
    run = fetch(app, select(ComparisonRun))[0]
    assert run.state == "succeeded", run.message
    files = {
        fetch(app, select(Person.id_number).where(Person.id == f.person_id))[0]: f.file_type
        for f in fetch(app, select(PersonFile))
    }
    # 张一 stopped 5 months ago: a lapsed file. 张二 stopped a month ago: in the grace, no file.
    # 李四 is insured as a resident; 王五 as an employee in Tinghu; 赵六's Tinghu employer
    # stopped paying 5 months ago.
    assert files == {GOOD[0]: "lapsed", SPACED: "lapsed"}
    grace = fetch(app, select(Person).where(Person.id_number == GOOD[1]))[0]
    assert grace.insured_status == "uninsured"


def test_the_lapsed_list_from_the_command_line(app, tmp_path):
    path = tmp_path / "断缴人员.xlsx"
    path.write_bytes(lapsed_workbook())
    result = app.test_cli_runner().invoke(
        args=[
            "import",
            str(path),
            "--kind",
            "lapsed",
            "--region",
            "320923000000",
            "--as",
            "fn_staff",
        ]
    )
    assert result.exit_code == 0, result.output
    # Nothing is on file: every valid row gets a new suspended employee record.
    assert "新增停保记录 6 条" in result.output and "退回 5 行" in result.output
    assert "匹配本区划人员 0 人" in result.output


def test_stop_dates_and_last_paid_months():
    today = date(2026, 11, 23)
    assert month_end("2026-07") == date(2026, 7, 31)
    assert month_end("202602") == date(2026, 2, 28)
    assert month_end(202402.0) == date(2024, 2, 29)
    assert month_end("2026年7月") == date(2026, 7, 31)
    assert month_end(date(2026, 4, 10)) == date(2026, 4, 30)
    assert month_end("2026-13") is None and month_end("上个月") is None
    assert stop_date({"stop_date": "2026/9/15", "last_paid_month": "2026-01"}, today) == date(
        2026, 9, 15
    )
    assert stop_date({"last_paid_month": "2026-10"}, today) == date(2026, 10, 31)
    assert "在今天之后" in stop_date({"last_paid_month": "2026-11"}, today)
    assert "缺少停保日期" in stop_date({"stop_date": "", "last_paid_month": None}, today)
    assert "「九月」无法识别" in stop_date({"stop_date": "九月"}, today)


def test_a_lapsed_row_is_insured_where_it_says_or_in_the_importing_region(ctx, user):
    from permissions import scope_for

    scope = scope_for(user("fn_staff"), "data.import")
    today = date(2026, 11, 23)
    row = {"id_number": GOOD[0], "name": "张一", "stop_date": "2026-05-31"}

    def lapsed(values):
        return lapsed_row(values, scope, "320923000000", today, "320923")

    assert lapsed(row) == {
        "id_number": GOOD[0],
        "name": "张一",
        "region_code": "320923000000",
        "vouched_prefix": None,
        "stop_date": date(2026, 5, 31),
    }
    assert lapsed(row | {"region": "320923001001"})["region_code"] == "320923001001"
    # The name is optional, and normalised.
    assert lapsed(row | {"name": " "})["name"] is None
    assert lapsed(row | {"name": "张\u3000一 "})["name"] == "张一"
    # An employer insured in Tinghu: accepted, vouched for by Funing.
    tinghu = lapsed(row | {"insured_region": "320902"})
    assert (tinghu["region_code"], tinghu["vouched_prefix"]) == ("320902000000", "320923")
    assert "应为6位或12位区划代码" in lapsed(row | {"insured_region": "3209021"})


def test_a_funing_resident_whose_tinghu_employer_stopped_paying(app, login):
    """Imported by Funing, before or after the register: the lapse is Funing's record (vouched
    by 320923), and a Tinghu record Funing vouched for (its own extract listed it) is suspended;
    a record Tinghu itself recorded is Tinghu's to suspend."""
    zhang, wang = GOOD[0], FULLWIDTH
    client = login("fn_staff")
    rows = [("张一", zhang, "职工医保", "320902", "2020-01-01", None, "正常")]
    upload_kind(client, "insured", insured_workbook(rows))  # before the register
    run_jobs(app)
    with database(app) as session:  # Tinghu's own record of 王五
        session.add(
            Enrollment(
                id_number=wang,
                region_code="320902000000",
                scheme="employee",
                start_date=date(2020, 1, 1),
                status="normal",
            )
        )
    wb = Workbook()
    wb.active.append(["姓名", "身份证号码", "参保地", "停保日期"])  # no names given
    for id_number in (zhang, wang, SPACED):
        wb.active.append([None, id_number, "320902", LONG_AGO.isoformat()])
    buffer = io.BytesIO()
    wb.save(buffer)
    upload_kind(client, "lapsed", buffer.getvalue(), name="断缴人员-亭湖单位.xlsx")
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.created, batch.updated, batch.rejected) == (1, 1, 1), batch.message
    assert _enrollments(app, zhang)[0][3:5] == (LONG_AGO, "suspended")
    assert _enrollments(app, wang)[0][3:5] == (None, "normal")
    (record,) = fetch(app, select(Enrollment).where(Enrollment.id_number == SPACED))
    assert (record.region_code, record.vouched_prefix, record.status) == (
        "320902000000",
        "320923",
        "suspended",
    )
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    (reason,) = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert "停保须由参保地的经办机构登记" in reason
    upload(client, household_workbook())  # the register after the lists
    run_jobs(app)
    run_comparison(client, app, force="y")  # few insured: the guard is overridden
    files = {
        fetch(app, select(Person.id_number).where(Person.id == f.person_id))[0]: f.file_type
        for f in fetch(app, select(PersonFile))
    }
    assert files[zhang] == "lapsed" and files[SPACED] == "lapsed" and wang not in files


def test_the_demo_samples_of_residents_and_lapses_import_and_compare(app, login, tmp_path):
    from portal.demo_samples import write_samples

    household, insured, resident, lapsed, elsewhere, *_ = write_samples(tmp_path, people=200)
    client = login("fn_staff")
    counts = []
    for kind, path in (
        ("household", household),
        ("insured", insured),
        ("insured", elsewhere),
        ("resident", resident),
        ("lapsed", lapsed),
    ):
        upload_kind(client, kind, path.read_bytes(), name=path.name)
        run_jobs(app)
        batch = latest_batch(app)
        counts.append((batch.kind, batch.created, batch.updated, batch.unchanged, batch.rejected))
    assert counts == [
        ("household", 200, 0, 0, 6),
        ("insured", 163, 0, 0, 0),  # 160 persons, 3 of them insured twice (重复参保)
        ("insured", 27, 0, 0, 0),  # no names; 10 insured outside Funing
        ("resident", 10, 50, 0, 3),  # 10 registered elsewhere; 50 of the register marked
        ("lapsed", 2, 23, 0, 3),  # 1 not on file, 1 employed in Tinghu; 23 employees suspended
    ]
    run_comparison(client, app)
    run = fetch(app, select(ComparisonRun))[0]
    # Insured: 170 of the register (10 of them outside Funing) and 2 of the residents registered
    # elsewhere, less the 23 employees who stopped. Files: 30 of the register, 8 residents,
    # 12 employees stopped 6 months ago.
    assert (run.persons, run.insured, run.opened) == (210, 172 - 23, 30 + 8 + 12)
    # The 12, and the resident whose Tinghu employer stopped paying (never insured here).
    assert [f.file_type for f in fetch(app, select(PersonFile))].count("lapsed") == 13
