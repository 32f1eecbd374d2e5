"""A file follows its person (persons/moves.follow_persons): the set-based move itself."""

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.persons import moves
from portal.persons.models import FileMove, Person, PersonFile
from portal.visits.models import Visit
from tests.desk_helpers import (
    FUCHENG,
    WUTAN,
    WUTAN_STREET,
    XINGFU,
    XINSHENG,
    file_of,
    history_of,
    user_id,
)
from tests.helpers import database, fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_worker, make_proposal


def _relocate(app, person_id: int, region: str) -> None:
    """The person moves (as an import or an edit would write it), the file not yet."""
    with database(app) as session:
        session.execute(update(Person).where(Person.id == person_id).values(region_code=region))


def _follow(app, **kwargs) -> int:
    with database(app) as session:
        return moves.follow_persons(session.connection(), **kwargs)


def _moves(app, person_id: int) -> list[FileMove]:
    return fetch(app, select(FileMove).where(FileMove.person_id == person_id))


def test_an_assigned_file_follows_its_person_and_waits_unassigned(app, make_file):
    made = make_file(XINGFU, "assigned", "fc_grid1")
    _relocate(app, made.person_id, WUTAN)
    actor = user_id(app, "fn_staff")
    assert _follow(app, cause="edit", person_id=made.person_id, user_id=actor) == 1
    file = file_of(app, made.file_id)
    assert (file.region_code, file.state, file.assignee_id, file.assigned_at) == (
        WUTAN,
        "unassigned",
        None,
        None,
    )
    (move,) = _moves(app, made.person_id)
    assert (move.from_region_code, move.to_region_code, move.cause, move.user_id) == (
        XINGFU,
        WUTAN,
        "edit",
        actor,
    )
    assert move.old_assignee_id == user_id(app, "fc_grid1") and not move.kept_assignee
    (entry,) = history_of(app, made.person_id, "edit")
    assert entry.region_code == WUTAN and entry.user_id == actor
    assert entry.changes == {
        "file_region": [XINGFU, WUTAN],
        "assignee_id": [user_id(app, "fc_grid1"), None],
        "file_state": ["assigned", "unassigned"],
    }


def test_a_worker_covering_both_communities_keeps_the_file(app, make_file, make_worker):
    worker = make_worker("fc_both", XINGFU, XINSHENG)
    made = make_file(XINGFU, "following")
    with database(app) as session:
        session.execute(
            update(PersonFile).where(PersonFile.id == made.file_id).values(assignee_id=worker)
        )
    _relocate(app, made.person_id, XINSHENG)
    assert _follow(app, cause="import", person_id=made.person_id, batch_id=7) == 1
    file = file_of(app, made.file_id)
    assert (file.region_code, file.state, file.assignee_id) == (XINSHENG, "following", worker)
    (move,) = _moves(app, made.person_id)
    assert move.kept_assignee and move.old_assignee_id == worker and move.batch_id == 7
    (entry,) = history_of(app, made.person_id, "import")
    assert entry.changes == {"file_region": [XINGFU, XINSHENG]}


def test_a_proposal_moves_to_the_new_townships_review_queue(app, make_proposal):
    made, visit_id = make_proposal(XINGFU)
    _relocate(app, made.person_id, WUTAN)
    _follow(app, cause="comparison", region_prefix="320923")
    file = file_of(app, made.file_id)
    # The proposal waits for a review, not for a worker: its state stays, the worker goes.
    assert (file.region_code, file.state, file.assignee_id) == (WUTAN, "pending_review", None)
    (visit,) = fetch(app, select(Visit).where(Visit.id == visit_id))
    assert visit.region_code == WUTAN and visit.review_state == "pending"


def test_the_new_supervisor_reviews_the_moved_proposal(app, login, make_proposal):
    made, _ = make_proposal(XINGFU)
    _relocate(app, made.person_id, WUTAN)
    _follow(app, cause="edit", person_id=made.person_id)
    (person,) = fetch(app, select(Person).where(Person.id == made.person_id))
    assert person.name in login("wt_supervisor").get(f"/desk/{WUTAN_STREET}/reviews").get_data(
        as_text=True
    )
    assert person.name not in login("fc_supervisor").get(f"/desk/{FUCHENG}/reviews").get_data(
        as_text=True
    )


def test_closed_and_unmoved_files_stay(app, make_file):
    closed = make_file(XINGFU, "exempt", "fc_grid1")
    still = make_file(XINGFU, "assigned", "fc_grid1")
    _relocate(app, closed.person_id, WUTAN)
    assert _follow(app, cause="comparison", region_prefix="320923") == 0
    assert file_of(app, closed.file_id).region_code == XINGFU
    assert file_of(app, still.file_id).assignee_id == user_id(app, "fc_grid1")


def test_a_region_prefix_holds_files_moved_in_or_out_of_it(app, make_file):
    out = make_file(XINGFU)
    elsewhere = make_file(XINGFU)
    _relocate(app, out.person_id, "320902001001")  # to Tinghu
    _relocate(app, elsewhere.person_id, WUTAN)
    # Only Fucheng street's prefix: the move to Tinghu leaves it, the one to Wutan too.
    assert _follow(app, cause="comparison", region_prefix="320923001") == 2
    assert file_of(app, out.file_id).region_code == "320902001001"


def test_persons_from_a_table(app, make_file):
    made = [make_file(XINGFU) for _ in range(3)]
    for m in made:
        _relocate(app, m.person_id, XINSHENG)
    with database(app) as session:
        connection = session.connection()
        connection.exec_driver_sql("CREATE TEMPORARY TABLE moved_people (person_id BIGINT)")
        connection.exec_driver_sql(
            "INSERT INTO moved_people VALUES " + ", ".join(f"({m.person_id})" for m in made[:2])
        )
        moved = moves.follow_persons(connection, cause="import", person_ids_table="moved_people")
        assert moved == 2
        connection.exec_driver_sql("DROP TABLE moved_people")
    assert [file_of(app, m.file_id).region_code for m in made] == [XINSHENG, XINSHENG, XINGFU]


def test_the_arguments_are_checked(app):
    with app.app_context():
        connection = db.session.connection()
        with pytest.raises(ValueError):
            moves.follow_persons(connection, cause="import")
        with pytest.raises(ValueError):
            moves.follow_persons(connection, cause="walk", person_id=1)
        with pytest.raises(ValueError):
            moves.follow_persons(connection, cause="import", person_ids_table="x; DROP TABLE y")
