"""The resident list (常住人口): persons who live in a community of the region, registered here or
not; the community given becomes the one that manages them, and the comparison counts them."""

import io
from datetime import date

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from portal.comparisons.models import ComparisonRun
from portal.persons.models import Person, PersonFile
from tests.factories import (
    BAD_CHECK,
    GOOD,
    household_workbook,
    latest_batch,
    make_id,
    run_jobs,
    upload,
    upload_kind,
)
from tests.helpers import database, fetch

MIGRANT = make_id(11, birth="19850505", region="341221")  # registered in Anhui, lives in Funing
OUTSIDER = make_id(21, birth="19720707", region="320902")  # managed by Tinghu district
UNLISTED = make_id(31, birth="19790909")  # on file in Funing, on neither list


def resident_workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["阜宁县常住人口名册"])
    ws.append(["序号", "姓名", "公民身份号码", "联系电话", "所在社区", "现住址"])  # row 2
    rows = [
        (1, "张一", GOOD[0], None, "320923001002", "新盛小区2幢"),  # 3 moved within Funing
        (2, "张二", GOOD[1], None, "320923001002", None),  # 4 already lives where registered
        (3, "外来", MIGRANT, "13912345678", "兴阜居委会", None),  # 5 not in the register
        (4, "钱七", BAD_CHECK, None, "320923001001", None),  # 6 wrong check digit
        (5, "周九", make_id(66, birth="19700101"), None, "320902001001", None),  # 7 out of scope
        (6, "外来", MIGRANT, None, "320923001001", None),  # 8 duplicate of row 5
        (7, "亭湖人", OUTSIDER, None, "320923001001", None),  # 9 moved here from Tinghu
    ]
    for r in rows:
        ws.append(list(r))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _on_file(app, id_number, region_code, **fields):
    with database(app) as session:
        session.add(
            Person(
                id_number=id_number,
                name="在档",
                sex="1",
                birth_date=date(1970, 1, 1),
                region_code=region_code,
                **fields,
            )
        )


def _person(app, id_number) -> Person:
    return fetch(app, select(Person).where(Person.id_number == id_number))[0]


def _import_register_then_residents(app, login):
    _on_file(
        app, OUTSIDER, "320902001001", in_register=True, phone="13800000021", address="亭湖某路"
    )
    _on_file(app, UNLISTED, "320923001001", phone="13800000031")
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    upload_kind(client, "resident", resident_workbook(), name="常住人口.xlsx")
    run_jobs(app)
    return client


def test_resident_list_counts_rejections_and_moves_the_managing_community(app, login):
    client = _import_register_then_residents(app, login)
    batch = latest_batch(app)
    assert batch.kind == "resident" and batch.state == "succeeded", batch.message
    # Created: the migrant. Updated: 张一 (moved, now a resident), 张二 (now a resident) and
    # the Tinghu person, who lives here now: the resident list takes him over (persons/moves.py).
    assert (batch.rows_read, batch.created, batch.updated, batch.unchanged, batch.rejected) == (
        7,
        1,
        3,
        0,
        3,
    )
    moved = _person(app, GOOD[0])
    assert (moved.region_code, moved.address) == ("320923001002", "新盛小区2幢")
    assert moved.in_register and moved.in_resident_list
    migrant = _person(app, MIGRANT)
    assert (migrant.region_code, migrant.in_register, migrant.in_resident_list) == (
        "320923001001",
        False,
        True,
    )
    taken_over = _person(app, OUTSIDER)
    assert (taken_over.region_code, taken_over.in_resident_list) == ("320923001001", True)
    # What Tinghu recorded and the list leaves empty is not handed over with the person.
    assert (taken_over.phone, taken_over.address) == (None, None)
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    rejected = [(r[0], r[1]) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [n for n, _ in rejected] == [6, 7, 8]
    assert "校验位错误" in rejected[0][1]
    assert "不在您的管辖范围内" in rejected[1][1]
    assert "与本文件第5行是同一人" in rejected[2][1]


def test_importing_the_resident_list_again_changes_nothing(app, login):
    client = _import_register_then_residents(app, login)
    before = _person(app, GOOD[0]).version
    upload_kind(client, "resident", resident_workbook(), name="常住人口-再次.xlsx")
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.created, batch.updated, batch.unchanged, batch.rejected) == (0, 0, 4, 3)
    assert _person(app, GOOD[0]).version == before


def test_the_household_register_again_leaves_residents_where_they_live(app, login):
    """The register says where 张一 is registered (兴阜), the resident list where he lives (新盛):
    re-importing the register must not move him back."""
    client = _import_register_then_residents(app, login)
    before = _person(app, GOOD[0])
    upload(client, household_workbook())
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "succeeded" and batch.updated == 0, batch.message
    after = _person(app, GOOD[0])
    assert (after.region_code, after.version) == ("320923001002", before.version)


def test_a_resident_not_in_the_register_is_compared_and_gets_a_file(app, login):
    client = _import_register_then_residents(app, login)
    # Nobody insured: the guard (comparisons/guard.py) is confirmed, as a user would.
    client.post("/comparisons/", data={"region": "320923000000", "force": "y"})
    run_jobs(app)
    run = fetch(app, select(ComparisonRun))[0]
    assert run.state == "succeeded", run.message
    # The five of the register, the migrant and the person who moved here from Tinghu; not the
    # person on neither list.
    assert (run.persons, run.opened) == (7, 7)
    files = {
        p.id_number: f.region_code
        for f, p in (
            (f, fetch(app, select(Person).where(Person.id == f.person_id))[0])
            for f in fetch(app, select(PersonFile))
        )
    }
    assert files[MIGRANT] == "320923001001"
    assert files[GOOD[0]] == "320923001002"  # the file goes to where the person lives
    assert UNLISTED not in files


def test_the_person_page_shows_the_resident_list(app, login):
    client = _import_register_then_residents(app, login)
    page = client.get(f"/persons/{_person(app, MIGRANT).id}").get_data(as_text=True)
    assert "常住人口名册在册" in page and "户籍名册在册" not in page
    page = client.get(f"/persons/{_person(app, GOOD[0]).id}").get_data(as_text=True)
    assert "常住人口名册在册" in page and "户籍名册在册" in page


def test_the_upload_form_offers_the_resident_and_lapsed_lists(app, login):
    page = login("fn_staff").get("/imports/").get_data(as_text=True)
    assert "常住人口" in page and "断缴人员" in page


def test_the_resident_list_from_the_command_line(app, tmp_path):
    path = tmp_path / "常住人口.xlsx"
    path.write_bytes(resident_workbook())
    result = app.test_cli_runner().invoke(
        args=[
            "import",
            str(path),
            "--kind",
            "resident",
            "--region",
            "320923000000",
            "--as",
            "fn_staff",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "新增 4" in result.output and "退回 3" in result.output


def test_an_empty_phone_keeps_ours_but_hands_over_nothing_another_region_recorded(app, login):
    ours, theirs = make_id(41, birth="19660606"), make_id(51, birth="19660606", region="320902")
    _on_file(app, ours, "320923001001", in_register=True, phone="13800000041", address="阜城1号")
    _on_file(app, theirs, "320902001001", in_register=True, phone="13800000051", address="亭湖1号")
    wb = Workbook()
    wb.active.append(["姓名", "公民身份号码", "联系电话", "所在社区", "现住址"])
    wb.active.append(["本县人", ours, None, "320923001002", None])
    wb.active.append(["迁入人", theirs, None, "320923001002", None])
    buffer = io.BytesIO()
    wb.save(buffer)
    upload_kind(login("fn_staff"), "resident", buffer.getvalue(), name="常住人口.xlsx")
    run_jobs(app)
    assert latest_batch(app).updated == 2
    kept, taken_over = _person(app, ours), _person(app, theirs)
    assert (kept.region_code, kept.phone, kept.address) == (
        "320923001002",
        "13800000041",
        "阜城1号",
    )
    assert (taken_over.region_code, taken_over.phone, taken_over.address) == (
        "320923001002",
        None,
        None,
    )
