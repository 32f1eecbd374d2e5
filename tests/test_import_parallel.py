"""Big lists are opened by a loader process and read by one reader per core (portal/imports/
loader.py, parallel.py).

They only run on PostgreSQL (SQLite imports in one process), so these tests do too; the
threshold is lowered to make the small trap workbook take the forked path, and each test checks
that it did. The outcome must be exactly the one-process outcome (tests/test_imports.py).
"""

import io
import pickle
import threading
from dataclasses import replace
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.imports import apply, kinds, loader, parallel
from portal.persons.models import Person
from tests.factories import (
    EXPECTED_REJECTIONS,
    GOOD,
    child_processes,
    household_workbook,
    latest_batch,
    make_id,
    run_jobs,
    upload,
)
from tests.helpers import fetch


def test_the_trap_workbook_gives_the_same_counts_and_errors(app, login, forked):
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    batch = latest_batch(app)
    assert forked == [2]
    assert batch.state == "succeeded", batch.message
    assert (batch.rows_read, batch.created, batch.rejected) == (12, 5, 7)
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    got = [(r[0], r[1]) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert [n for n, _ in got] == [n for n, _ in EXPECTED_REJECTIONS]
    for (number, reason), (_, expected) in zip(got, EXPECTED_REJECTIONS, strict=True):
        assert expected in reason, (number, reason)


def _long_workbook(ids: list[str]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "公民身份号码", "村（社区）代码"])
    for n, id_number in enumerate(ids):
        ws.append([f"人{n}", id_number, "320923001001"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_the_same_person_in_both_halves_is_refused_once(app, login, forked):
    ids = [make_id(n, birth="19500101") for n in range(1, 41)]
    ids[-1] = ids[0]  # row 41 repeats row 2: they fall in different readers' bands
    client = login("fn_staff")
    upload(client, _long_workbook(ids))
    run_jobs(app)
    batch = latest_batch(app)
    assert forked == [2]
    assert (batch.rows_read, batch.created, batch.rejected) == (40, 39, 1), batch.message
    sheet = load_workbook(io.BytesIO(client.get(f"/imports/{batch.id}/errors.xlsx").data)).active
    (rejected,) = list(sheet.iter_rows(min_row=2, values_only=True))
    assert rejected[:3] == (41, "与本文件第2行是同一人（身份证号相同），同一人只能出现一次", "人39")


def test_names_and_addresses_with_tabs_line_breaks_and_backslashes_arrive_as_written(
    app, login, forked
):
    """Readers hand rows over in COPY's text format, where these characters are special."""
    address = "幸福路\\12号\t3幢\n401室\n后院"  # (an .xlsx turns CR LF into LF)
    rows = [
        ["姓名", "公民身份号码", "村（社区）代码", "现住址"],
        ["王\\小\t明", GOOD[0], "320923001001", address],
        ["李四", GOOD[1], "320923001001", None],
    ]
    batch = _import_sheet(app, login, rows)
    assert forked == [2]
    assert (batch.created, batch.rejected) == (2, 0), batch.message
    with app.app_context():
        persons = db.session.execute(select(Person.name, Person.address)).all()
    assert sorted(persons) == sorted([("王\\小\t明", address), ("李四", None)])


def test_a_staged_line_keeps_every_character(app, is_postgres):
    if not is_postgres:
        pytest.skip("COPY is PostgreSQL's")
    row = {
        "id_number": GOOD[0],
        "name": "\\N",
        "sex": "1",
        "birth_date": date(1980, 1, 1),
        "phone": None,
        "region_code": "320923001001",
        "hukou_region_code": None,
        "address": "a\rb\\\tc\x0bd",
    }
    with app.app_context():
        connection = db.session.connection()
        apply.create_stage(connection)
        line = io.StringIO(apply.stage_line(7, row))
        apply.copy_into(connection, apply.STAGE, apply.FIELDS, line, text_format=True)
        staged = connection.execute(select(text("*")).select_from(text(apply.STAGE))).one()
        db.session.rollback()
    assert tuple(staged) == (7, *(row[f] for f in apply.FIELDS))


def test_a_band_is_handed_over_in_files_of_whole_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "CHUNK_LINES", 2)
    for count, sizes in ((5, [2, 2, 1]), (4, [2, 2]), (0, [0])):
        chunks = [0]
        parallel.write_chunks(iter(f"{n}\n" for n in range(count)), tmp_path, 0, chunks)
        assert chunks == [len(sizes)]
        paths = [parallel.chunk_path(tmp_path, 0, c) for c in range(len(sizes))]
        assert [len(p.read_text().splitlines()) for p in paths] == sizes
        assert "".join(p.read_text() for p in paths) == "".join(f"{n}\n" for n in range(count))
        for path in paths:
            path.unlink()


def test_a_person_in_three_bands_keeps_the_first_row(tmp_path):
    """With more cores, more bands: each later row of a person is refused, citing the first."""
    first_band = {"A": 2, "B": 3}
    for index, keys in ((1, {"B": 10, "C": 11}), (2, {"A": 20, "C": 21, "D": 22})):
        with (tmp_path / f"band-{index}.keys").open("wb") as f:
            pickle.dump(keys, f)
    found = parallel.duplicates(tmp_path, first_band, 3)
    assert sorted(found) == [(10, 3), (20, 2), (21, 11)]


def test_a_reader_that_fails_fails_the_batch_and_leaves_nothing(app, login, forked, monkeypatch):
    before = child_processes()
    household = kinds.IMPORTERS["household"]

    def validate(values, context):
        if values["id_number"] == GOOD[1]:
            raise MemoryError("reader killed")
        return household.validate(values, context)

    # Every row the general way: the plain one (plain.py) would not call this validate.
    general = replace(household.parallel_stage, plain=None)
    failing = replace(household, validate=validate, parallel_stage=general)
    monkeypatch.setitem(kinds.IMPORTERS, "household", failing)
    client = login("fn_staff")
    upload(client, household_workbook())
    run_jobs(app)
    batch = latest_batch(app)
    assert forked == ["started"]
    assert batch.state == "failed"
    assert fetch(app, select(func.count()).select_from(Person)) == [0]
    assert child_processes() == before  # the loader and the other reader were stopped


def test_no_fork_beside_another_thread(app, is_postgres, tmp_path, monkeypatch):
    """A process with another thread (a web process running jobs) keeps reading in one process."""
    if not is_postgres:
        pytest.skip("forked readers stage into PostgreSQL only; SQLite imports in one process")
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    path = tmp_path / "list.xlsx"
    path.write_bytes(household_workbook())
    household = kinds.IMPORTERS["household"]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with app.app_context():
            connection = db.session.connection()
            assert not parallel.alone()
            assert not loader.usable(connection, path, "xlsx", household, 1)
            monkeypatch.setattr(parallel, "alone", lambda: True)
            assert loader.usable(connection, path, "xlsx", household, 1)  # the thread was why
            assert not loader.usable(connection, path, "csv", household, 1)
            assert not loader.usable(connection, path, "xlsx", household, 10**9)  # too small
    finally:
        stop.set()
        other.join()


def _import_sheet(app, login, rows, far_cell: str | None = None):
    """Import a workbook of `rows` as the Funing staff; the batch."""
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    if far_cell:
        wb.active[far_cell] = "x"
    buffer = io.BytesIO()
    wb.save(buffer)
    upload(login("fn_staff"), buffer.getvalue())
    run_jobs(app)
    return latest_batch(app)


def test_a_far_apart_cell_is_refused_while_the_loader_parses(app, login, forked):
    """The check runs beside the loader: a sheet that would make calamine allocate 550 GB is
    refused with the check's message, the loader (which may have aborted) is gone."""
    before = child_processes()
    rows = [["姓名", "公民身份号码", "村（社区）代码"], ["张三", GOOD[0], "320923001001"]]
    batch = _import_sheet(app, login, rows, far_cell="XFD1048576")
    assert forked == ["started"]
    assert batch.state == "failed"
    assert "数据范围过大" in batch.message
    assert fetch(app, select(func.count()).select_from(Person)) == [0]
    assert child_processes() == before


def test_a_missing_column_found_by_the_loader_fails_the_batch_with_its_message(app, login, forked):
    batch = _import_sheet(app, login, [["姓名", "联系电话"], ["张三", "13812345678"]])
    assert forked == ["started"]
    assert batch.state == "failed"
    assert "身份证" in batch.message


def test_no_reader_is_left_behind(app, login, forked):
    before = child_processes()
    upload(login("fn_staff"), household_workbook())
    run_jobs(app)
    assert latest_batch(app).state == "succeeded"
    assert child_processes() == before
