"""The desk on a phone: the assign controls above the file list (sticky on small screens), and a
全选本页 that works without JavaScript."""

from tests.desk_helpers import FUCHENG, XINGFU, file_of, user_id

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal

ASSIGN = f"/desk/{FUCHENG}/assign"


def test_the_assign_controls_come_before_the_file_list(login, make_file):
    make_file()
    html = login("fc_supervisor").get(f"/desk/{FUCHENG}").get_data(as_text=True)
    controls = html.index('class="card assign sticky-controls"')
    assert controls < html.index('<table class="table files">')
    assert html.index('id="select-page"') < html.index('<table class="table files">')
    assert "全选本页（1 个）" in html
    assert "desk-select.js" in html


def test_select_all_of_the_page_without_javascript(app, login, make_file):
    made = [make_file(XINGFU) for _ in range(3)]
    g1 = user_id(app, "fc_grid1")
    client = login("fc_supervisor")
    # What a browser without JavaScript sends: the page's ids (hidden) and the ticked box.
    response = client.post(
        ASSIGN,
        data={
            "worker": str(g1),
            "selection": "ticked",
            "state": "unassigned",
            "page_all": "y",
            "page_ids": [m.file_id for m in made],
        },
    )
    assert response.status_code == 302
    assert all(file_of(app, m.file_id).assignee_id == g1 for m in made)


def test_without_the_box_the_page_ids_alone_assign_nothing(app, login, make_file):
    made = make_file(XINGFU)
    client = login("fc_supervisor")
    response = client.post(
        ASSIGN,
        data={
            "worker": str(user_id(app, "fc_grid1")),
            "selection": "ticked",
            "state": "unassigned",
            "page_ids": [made.file_id],
        },
    )
    assert "请先勾选要分配的档案" in response.get_data(as_text=True)
    assert file_of(app, made.file_id).assignee_id is None
