"""A file follows its person, end to end: a register re-import, a resident list and an edit move
an uninsured person to another township; the worker, both desks and the history see it."""

import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import event, func, select

from portal.accounts.models import Grant, User
from portal.extensions import db
from portal.persons.models import FileMove, Person, PersonChange, PersonFile
from portal.timeutil import local_today
from portal.years.periods import Calendar
from tests.desk_helpers import FUCHENG, WUTAN, WUTAN_STREET, XINGFU, XINSHENG
from tests.factories import latest_batch, make_id, run_jobs, upload, upload_kind
from tests.helpers import database, fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

YEAR = Calendar().current_year(local_today())  # the insurance year the pages show by default
MOVER = make_id(71, birth="19810303")
STAYER = make_id(72, birth="19820404")
TINGHU = "320902001001"  # a community of Tinghu district, another county of Yancheng
TINGHU_TOWNSHIP = "320902001000"
FULL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def workbook(rows, community_header="村（社区）代码") -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "姓名", "公民身份号码", "联系电话", community_header, "现住址"])
    for n, (name, id_number, community) in enumerate(rows, start=1):
        ws.append([n, name, id_number, None, community, None])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def register(client, app, rows, region="320923000000"):
    upload(client, workbook(rows), region=region)
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "succeeded", batch.message
    return batch


def residents(client, app, rows):
    upload_kind(client, "resident", workbook(rows, "所在社区"), name="常住人口.xlsx")
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "succeeded", batch.message
    return batch


def person(app, id_number) -> Person:
    return fetch(app, select(Person).where(Person.id_number == id_number))[0]


def open_file(app, id_number, assignee="fc_grid1", state="assigned") -> int:
    """The uninsured person's file of this insurance year, assigned to `assignee`."""
    with database(app) as session:
        found = session.scalar(select(Person).where(Person.id_number == id_number))
        found.insured_status = "uninsured"
        worker = session.scalar(select(User.id).where(User.username == assignee))
        file = PersonFile(
            person_id=found.id,
            region_code=found.region_code,
            year=YEAR,
            file_number=f"{YEAR}-{found.region_code}-{found.id}",
            state=state,
            assignee_id=worker if assignee else None,
        )
        session.add(file)
        session.flush()
        return file.id


def the_file(app, file_id) -> PersonFile:
    return fetch(app, select(PersonFile).where(PersonFile.id == file_id))[0]


def login_user_id(app, username) -> int:
    return fetch(app, select(User.id).where(User.username == username))[0]


def task_names(client) -> str:
    return client.get("/tasks/").get_data(as_text=True)


def moves_page(client, township, direction) -> str:
    response = client.get(f"/desk/{township}/moves", query_string={"direction": direction})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _assert_moved_to_wutan(app, login, file_id, name, cause):
    """The file is in Wutan, unassigned, its history says from → to; each side sees it."""
    moved = person(app, MOVER)
    file = the_file(app, file_id)
    assert moved.region_code == WUTAN
    assert (file.region_code, file.state, file.assignee_id) == (WUTAN, "unassigned", None)
    changes = [
        c.changes
        for c in fetch(
            app,
            select(PersonChange)
            .where(PersonChange.person_id == moved.id, PersonChange.cause == cause)
            .order_by(PersonChange.id),
        )
        if "file_region" in c.changes
    ]
    assert changes == [
        {
            "file_region": [XINGFU, WUTAN],
            "assignee_id": [
                fetch(app, select(User.id).where(User.username == "fc_grid1"))[0],
                None,
            ],
            "file_state": ["assigned", "unassigned"],
        }
    ]
    # The old worker's phone no longer lists the file, nor opens it.
    old_worker = login("fc_grid1")
    assert name not in task_names(old_worker)
    assert old_worker.get(f"/tasks/{file_id}").status_code == 404
    # The new supervisor: in the unassigned pool of the desk, and among the files moved in.
    wutan = login("wt_supervisor")
    desk = wutan.get(f"/desk/{WUTAN_STREET}").get_data(as_text=True)
    assert name in desk.split("<h2>档案</h2>")[1]
    assert "移入 <strong>1</strong>" in desk
    moved_in = moves_page(wutan, WUTAN_STREET, "in")
    assert name in moved_in and "兴阜居委会" in moved_in and "已收回" in moved_in
    assert f"{YEAR} 参保年度" in moved_in
    history = wutan.get(f"/persons/{moved.id}").get_data(as_text=True)
    assert "档案所属社区：兴阜居委会" in history and "吴滩" in history
    # The old supervisor: only the move out, the person masked, where to by name.
    fucheng = login("fc_supervisor")
    moved_out = moves_page(fucheng, FUCHENG, "out")
    assert name not in moved_out and name[0] + "*" in moved_out
    assert "吴滩街道" in moved_out
    assert MOVER[:4] + "*" * 10 + MOVER[-4:] in moved_out and not FULL_ID.search(moved_out)
    assert f"/persons/{moved.id}" not in moved_out
    assert name not in fucheng.get(f"/desk/{FUCHENG}").get_data(as_text=True)
    assert fucheng.get(f"/persons/{moved.id}").status_code == 404


def test_a_register_reimport_moves_the_file_to_the_new_township(app, login):
    client = login("fn_staff")
    register(client, app, [("迁移甲", MOVER, XINGFU), ("留守乙", STAYER, XINGFU)])
    file_id = open_file(app, MOVER)
    stays = open_file(app, STAYER)
    assert "迁移甲" in task_names(login("fc_grid1"))
    batch = register(client, app, [("迁移甲", MOVER, WUTAN), ("留守乙", STAYER, XINGFU)])
    assert batch.updated == 1 and "1 个在办档案随人迁到新社区" in batch.message
    _assert_moved_to_wutan(app, login, file_id, "迁移甲", "import")
    (move,) = fetch(app, select(FileMove))
    assert (move.cause, move.batch_id, move.year) == ("import", batch.id, YEAR)
    assert the_file(app, stays).region_code == XINGFU


def test_a_resident_list_moves_the_file_to_where_the_person_lives(app, login):
    client = login("fn_staff")
    register(client, app, [("迁移甲", MOVER, XINGFU)])
    file_id = open_file(app, MOVER)
    batch = residents(client, app, [("迁移甲", MOVER, WUTAN)])
    assert batch.updated == 1
    _assert_moved_to_wutan(app, login, file_id, "迁移甲", "import")
    # The register again: the resident list says where he lives, nothing moves back.
    register(client, app, [("迁移甲", MOVER, XINGFU)])
    assert (person(app, MOVER).region_code, the_file(app, file_id).region_code) == (WUTAN, WUTAN)
    assert len(fetch(app, select(FileMove))) == 1


def test_an_edit_moves_the_file(app, login):
    client = login("fn_staff")
    register(client, app, [("迁移甲", MOVER, XINGFU)])
    file_id = open_file(app, MOVER)
    moved = person(app, MOVER)
    form = client.get(f"/persons/{moved.id}/edit").get_data(as_text=True)
    token = re.search(r'name="token"[^>]*value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"[^>]*name="token"', form
    )
    response = client.post(
        f"/persons/{moved.id}/edit",
        data={"version": moved.version, "token": token.group(1), "region_code": WUTAN},
    )
    assert response.status_code == 302
    _assert_moved_to_wutan(app, login, file_id, "迁移甲", "edit")
    (move,) = fetch(app, select(FileMove))
    assert move.cause == "edit" and move.user_id == login_user_id(app, "fn_staff")


def test_a_worker_covering_both_communities_keeps_the_file(app, login, make_worker):
    worker = make_worker("fc_both", XINGFU, XINSHENG)
    client = login("fn_staff")
    register(client, app, [("迁移甲", MOVER, XINGFU)])
    file_id = open_file(app, MOVER, assignee="fc_both")
    register(client, app, [("迁移甲", MOVER, XINSHENG)])
    file = the_file(app, file_id)
    assert (file.region_code, file.state, file.assignee_id) == (XINSHENG, "assigned", worker)
    (move,) = fetch(app, select(FileMove))
    assert move.kept_assignee and move.old_assignee_id == worker
    # Both lists of the same township show it, and say the worker kept it.
    supervisor = login("fc_supervisor")
    for direction in ("in", "out"):
        page = moves_page(supervisor, FUCHENG, direction)
        assert "迁移甲" in page and "fc_both网格员（保留）" in page


def test_a_register_of_another_county_takes_the_person_and_the_file(app, login):
    """A household move from Tinghu to Funing: Funing's register is the newer truth."""
    with database(app) as session:
        tinghu_staff = session.scalar(select(User).where(User.username == "th_grid"))
        tinghu_staff.grants.append(Grant(role="county_staff", region_code="320902000000"))
    register(login("th_grid"), app, [("迁移甲", MOVER, TINGHU)], region="320902000000")
    file_id = open_file(app, MOVER, assignee="th_grid")
    assert "迁移甲" in task_names(login("th_grid"))
    batch = register(login("fn_staff"), app, [("迁移甲", MOVER, XINGFU)])
    assert (batch.updated, batch.rejected) == (1, 0)
    file = the_file(app, file_id)
    assert (person(app, MOVER).region_code, file.region_code) == (XINGFU, XINGFU)
    assert (file.state, file.assignee_id) == ("unassigned", None)
    assert "迁移甲" not in task_names(login("th_grid"))
    # Funing's township sees it moved in from Tinghu; Tinghu's side sees it moved out, masked.
    moved_in = moves_page(login("fc_supervisor"), FUCHENG, "in")
    assert "迁移甲" in moved_in and "亭湖区" in moved_in
    city = login("yc_staff")
    assert "迁移甲" in moves_page(city, TINGHU_TOWNSHIP, "out")  # the city sees both sides
    index = city.get("/desk/", query_string={"page": 1}).get_data(as_text=True)
    assert f"{YEAR}年度移入" in index


def test_a_register_moving_many_persons_moves_their_files_in_a_few_statements(app, login):
    many = [make_id(n, birth="19700101", region="320923") for n in range(100, 140)]
    client = login("fn_staff")
    register(client, app, [(f"批量{n}", id_number, XINGFU) for n, id_number in enumerate(many)])
    with database(app) as session:
        worker = session.scalar(select(User.id).where(User.username == "fc_grid1"))
        ids = session.scalars(select(Person.id).where(Person.id_number.in_(many))).all()
        session.add_all(
            PersonFile(
                person_id=i,
                region_code=XINGFU,
                year=YEAR,
                file_number=f"B-{i}",
                state="assigned",
                assignee_id=worker,
            )
            for i in ids
        )
    statements = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        register(client, app, [(f"批量{n}", id_number, WUTAN) for n, id_number in enumerate(many)])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(fetch(app, select(FileMove))) == len(many)
    with app.app_context():
        in_wutan = db.session.scalar(
            select(func.count())
            .select_from(PersonFile)
            .where(PersonFile.region_code == WUTAN, PersonFile.state == "unassigned")
        )
    assert in_wutan == len(many)
    # One statement each, whatever the number of files.
    assert sum("UPDATE person_file" in s for s in statements) == 1
    assert sum("INSERT INTO file_move (" in s for s in statements) == 1


@pytest.mark.parametrize("direction", ["in", "out", "sideways"])
def test_the_moves_page_of_a_township_outside_the_scope_is_not_found(login, direction):
    client = login("fc_supervisor")
    response = client.get(f"/desk/{WUTAN_STREET}/moves", query_string={"direction": direction})
    assert response.status_code == 404
    assert client.get(f"/desk/{FUCHENG}/moves?direction={direction}").status_code == 200
