"""The mapping step through the web client: a batch refused for its columns → its page offers
the step (not a retry) → the user chooses → the stored upload is read again → a second file with
the same headers is mapped by itself; and the error workbook of a batch read that way."""

import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from portal.imports.models import ColumnMapping, ImportBatch
from portal.persons.models import Person
from tests.factories import make_id, run_jobs, upload_kind
from tests.helpers import fetch

HEADER = ["序号", "姓名", "公民身份号码", "所在网格", "联系电话"]
IDS = [make_id(n, birth="19800101") for n in range(11, 15)]


def grid_workbook(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["阜宁县户籍人口花名册"])
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def batch(app, batch_id: int) -> ImportBatch:
    return fetch(app, select(ImportBatch).where(ImportBatch.id == batch_id))[0]


def upload_household(client, content: bytes) -> int:
    response = upload_kind(client, "household", content, name="网格名单.xlsx")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_the_mapping_step_end_to_end(app, login):
    client = login("fn_staff")
    first = upload_household(
        client,
        grid_workbook(
            [
                (1, "张一", IDS[0], "320923001001", "13800000001"),
                (2, "张二", IDS[1], "新盛居委会", None),
                (3, "坏号", IDS[1][:17] + "0", "320923001001", None),  # bad check digit
            ]
        ),
    )
    run_jobs(app)
    refused = batch(app, first)
    assert refused.state == "failed" and "所属社区" in refused.message
    page = client.get(f"/imports/{first}").get_data(as_text=True)
    assert "选择各列对应关系" in page and f"/imports/{first}/columns" in page
    assert f"/imports/{first}/retry" not in page  # a retry could only fail again
    listing = client.get("/imports/").get_data(as_text=True)
    assert "待选择列" in listing
    # A retry posted anyway is sent to the mapping step, and queues nothing.
    retried = client.post(f"/imports/{first}/retry")
    assert retried.headers["Location"].endswith(f"/imports/{first}/columns")
    assert batch(app, first).state == "failed"

    form = client.get(f"/imports/{first}/columns").get_data(as_text=True)
    assert "D列：所在网格" in form and "所属社区（村）（必需）" in form
    assert '<option selected value="1">B列：姓名' in form  # recognised: comes chosen

    # A column chosen twice, and a required field left out, are refused with reasons.
    wrong = client.post(
        f"/imports/{first}/columns", data={"name": "1", "id_number": "1", "region": ""}
    )
    assert wrong.status_code == 200
    text = wrong.get_data(as_text=True)
    assert "B列不能同时作为" in text and "请为“所属社区（村）”选择一列" in text
    assert fetch(app, select(func.count()).select_from(ColumnMapping)) == [0]

    chosen = {"name": "1", "id_number": "2", "region": "3", "phone": "4"}
    response = client.post(f"/imports/{first}/columns", data=chosen)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/{first}")
    assert batch(app, first).state == "queued"
    (saved,) = fetch(app, select(ColumnMapping))
    assert saved.list_kind == "household" and saved.region_code == "320923000000"
    assert saved.mapping == {"name": 1, "id_number": 2, "region": 3, "phone": 4}
    assert saved.created_by is not None and saved.updated_at is not None
    run_jobs(app)
    applied = batch(app, first)
    assert applied.state == "succeeded", applied.message
    assert (applied.created, applied.rejected) == (2, 1)
    assert fetch(app, select(Person.region_code).where(Person.id_number == IDS[1])) == [
        "320923001002"
    ]
    page = client.get(f"/imports/{first}").get_data(as_text=True)
    assert "已按上次保存的列对应关系读取" in page
    assert client.get(f"/imports/{first}/columns").status_code == 302  # nothing left to map

    # The error workbook: the ID column (C of the file, E of the workbook) is text, the reason
    # wraps, and it maps itself when imported again (the mapping's header, two columns more).
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{first}/errors.xlsx").data)).active
    assert sheet["E2"].value == IDS[1][:17] + "0" and sheet["E2"].number_format == "@"
    assert sheet["B2"].alignment.wrap_text

    # A second file with the same header (spaced differently) is read as chosen, by itself.
    header = ["序号", "姓名", "公民身份 号码", "所在\n网格", "联系电话"]
    second = upload_household(
        login("fn_admin"),
        grid_workbook([(1, "张三", IDS[2], "320923001001", None)], header=header),
    )
    run_jobs(app)
    done = batch(app, second)
    assert done.state == "succeeded" and done.created == 1, done.message
    assert "已按上次保存的列对应关系读取" in client.get(f"/imports/{second}").get_data(as_text=True)


def test_another_kind_or_header_is_not_mapped_by_a_saved_mapping(app, login):
    client = login("fn_staff")
    first = upload_household(client, grid_workbook([(1, "张一", IDS[0], "320923001001", None)]))
    run_jobs(app)
    client.post(f"/imports/{first}/columns", data={"name": "1", "id_number": "2", "region": "3"})
    run_jobs(app)
    assert batch(app, first).state == "succeeded"
    # One more column: another header row, refused as before.
    other = upload_household(
        client, grid_workbook([(1, "张二", IDS[1], "x", None, "")], header=[*HEADER, "备注"])
    )
    run_jobs(app)
    assert batch(app, other).state == "failed"
    assert "选择各列对应关系" in client.get(f"/imports/{other}").get_data(as_text=True)


def test_a_file_with_no_recognisable_header_can_be_mapped(app, login):
    client = login("fn_staff")
    content = grid_workbook([("张一", IDS[3], "320923001001")], header=["人", "号", "地方"])
    first = upload_household(client, content)
    run_jobs(app)
    assert "没有找到表头" in batch(app, first).message
    form = client.get(f"/imports/{first}/columns").get_data(as_text=True)
    assert "B列：号" in form
    client.post(f"/imports/{first}/columns", data={"name": "0", "id_number": "1", "region": "2"})
    run_jobs(app)
    assert batch(app, first).created == 1


def test_the_mapping_step_is_scoped_like_the_batch(app, login):
    client = login("fn_staff")
    first = upload_household(client, grid_workbook([(1, "张一", IDS[0], "320923001001", None)]))
    run_jobs(app)
    data = {"name": "1", "id_number": "2", "region": "3"}
    # Above the batch's region: allowed (outside it: not found, see the authorization matrix);
    # without the import right: forbidden, and nothing is saved.
    assert login("yc_staff").get(f"/imports/{first}/columns").status_code == 200
    for username, status in (("fc_supervisor", 403), ("fc_grid1", 403), ("js_auditor", 403)):
        assert login(username).post(f"/imports/{first}/columns", data=data).status_code == status
    assert fetch(app, select(func.count()).select_from(ColumnMapping)) == [0]


def test_the_forked_readers_of_a_big_file_use_the_chosen_mapping(app, login, forked):  # noqa: F811
    """On PostgreSQL a big file is read by a loader and its readers: the refusal reaches the
    mapping step from the loader, and the mapping chosen reaches every reader."""
    rows = [(n, f"人{n}", make_id(n, birth="19700101"), "320923001001", None) for n in range(1, 41)]
    client = login("fn_staff")
    first = upload_household(client, grid_workbook(rows))
    run_jobs(app)
    assert forked == ["started"]  # refused by the loader
    assert batch(app, first).state == "failed"
    assert "D列：所在网格" in client.get(f"/imports/{first}/columns").get_data(as_text=True)
    client.post(f"/imports/{first}/columns", data={"name": "1", "id_number": "2", "region": "3"})
    run_jobs(app)
    done = batch(app, first)
    assert done.state == "succeeded" and (done.created, done.rejected) == (40, 0), done.message
    assert forked[-1] == 2  # two bands, each read by its own process with the chosen columns


def test_values_our_error_workbook_neutralised_come_back_as_they_were(app, login):
    """A rejected row whose address starts with - goes into the error workbook as '-…; corrected
    there and imported again, the address is stored without the quote."""
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号码", "所属社区", "联系电话", "现住址"])
    ws.append(["张一", IDS[0], "320923001001", "12345", "-3层（地下）"])  # a bad phone
    ws.append(["张二", IDS[1], "320923001001", None, "@兴阜路1号"])
    buffer = io.BytesIO()
    wb.save(buffer)
    client = login("fn_staff")
    first = upload_household(client, buffer.getvalue())
    run_jobs(app)
    assert batch(app, first).rejected == 1
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{first}/errors.xlsx").data)).active
    assert sheet["G2"].value == "'-3层（地下）"
    sheet["F2"] = "13800000000"  # corrected; the two added columns are left in place
    corrected = io.BytesIO()
    sheet.parent.save(corrected)
    second = upload_household(client, corrected.getvalue())
    run_jobs(app)
    assert batch(app, second).created == 1, batch(app, second).message
    stored = fetch(app, select(Person.address).where(Person.id_number.in_(IDS[:2])))
    assert sorted(stored, key=str) == sorted(["-3层（地下）", "@兴阜路1号"]), stored
