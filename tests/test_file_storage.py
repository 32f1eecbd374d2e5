"""Files holding personal data: owner-only modes, the file store every machine reaches (two
instance directories, one store: the database), and the purge after the retention."""

import io
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text, update

from portal import create_app, storage
from portal.extensions import db
from portal.imports.models import ImportBatch
from portal.jobs import queue
from portal.storage.models import StoredFile
from portal.storage.purge import purge
from portal.timeutil import utcnow
from tests.helpers import fetch
from tests.jobs_helpers import id_numbers


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def workbook_with_a_bad_row() -> bytes:
    """Two good rows of 兴阜居委会 and one with a wrong check character (rejected)."""
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "所属社区"])
    good = id_numbers(2, start=700)
    for number in good:
        wb.active.append(["存储", number, "320923001001"])
    bad = good[0][:17] + ("1" if good[0][17] != "1" else "2")
    wb.active.append(["坏号", bad, "320923001001"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def machine(app, instance: Path, file_storage: str):
    """Another portal process: its own instance directory, the test database."""
    return create_app(
        {
            "TESTING": True,
            "JOBS_IN_PROCESS": False,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_DIR": str(instance),
            "FILE_STORAGE": file_storage,
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_COST": 64,
            "SERVER_NAME": "portal.test",
        }
    )


def upload(client, content: bytes) -> None:
    response = client.post(
        "/imports/",
        data={
            "kind": "household",
            "region": "320923000000",
            "file": (io.BytesIO(content), "户籍人口.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.data.decode()


def latest_batch(app) -> ImportBatch:
    from sqlalchemy import select

    return fetch(app, select(ImportBatch).order_by(ImportBatch.id.desc()).limit(1))[0]


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


# --- owner-only ------------------------------------------------------------------------------


@pytest.mark.no_db
def test_the_sqlite_database_and_the_instance_directory_are_owner_only(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("PORTAL_INSTANCE_DIR", str(instance))
    old = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless made private
    try:
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'portal.db'}"}
        )
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE probe (x INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
            database = instance / "portal.db"
            assert mode(instance) == 0o700
            assert mode(database) == 0o600
            for companion in (instance / "portal.db-wal", instance / "portal.db-shm"):
                assert not companion.exists() or mode(companion) == 0o600
            assert mode(instance / "secret_key") == 0o600
        with app.app_context():
            db.engine.dispose()
    finally:
        os.umask(old)


def test_uploads_and_error_workbooks_are_owner_only_in_the_local_store(app, login, tmp_path):
    instance = tmp_path / "instance"
    local = machine(app, instance, "local")
    old = os.umask(0o022)
    try:
        upload(login("fn_staff", client=local.test_client()), workbook_with_a_bad_row())
        with local.app_context():
            assert queue.run_one("test")
    finally:
        os.umask(old)
    batch = latest_batch(app)
    assert batch.state == "succeeded" and batch.rejected == 1
    stored = instance / batch.stored_path
    errors = instance / batch.error_file
    assert stored.parent == instance / "uploads" and errors.parent == instance / "exports"
    for folder in (instance / "uploads", instance / "exports", instance / "tmp"):
        assert mode(folder) == 0o700, folder
    for path in (stored, errors):
        assert mode(path) == 0o600, path
    assert files_in(instance / "tmp") == []  # the upload's scratch copy was moved in


def test_person_and_dashboard_exports_are_written_owner_only(app, ctx, user, monkeypatch):
    from portal.persons import export
    from portal.persons.queries import PersonFilters

    seen = []
    real = export.write_plain_table

    def spy(path, *args, **kwargs):
        seen.append((mode(path.parent), mode(path)))  # before a single row is written
        count = real(path, *args, **kwargs)
        seen.append((mode(path.parent), mode(path)))
        return count

    monkeypatch.setattr(export, "write_plain_table", spy)
    old = os.umask(0o022)
    try:
        path, _rows, _masked = export.export_persons(user("fn_staff"), PersonFilters())
    finally:
        os.umask(old)
    path.unlink()
    assert seen == [(0o700, 0o600), (0o700, 0o600)]
    assert export.new_export_path("dashboard").stat().st_mode & 0o077 == 0


# --- two machines, one store -----------------------------------------------------------------


def test_an_upload_to_one_machine_is_imported_by_a_worker_on_another(app, login, tmp_path):
    """Web machine A receives the upload, a worker on machine B imports it (A's disk is out
    of its reach), and the error workbook B wrote is downloaded through A."""
    instance_a, instance_b = tmp_path / "a", tmp_path / "b"
    web_a = machine(app, instance_a, "database")
    worker_b = machine(app, instance_b, "database")
    client = login("fn_staff", client=web_a.test_client())
    upload(client, workbook_with_a_bad_row())
    batch = latest_batch(app)
    assert batch.state == "queued" and not Path(batch.stored_path).is_absolute()
    assert files_in(instance_a) == []  # nothing of the upload stayed on A's disk

    away = instance_a.rename(tmp_path / "a-elsewhere")  # another machine: B cannot see A's disk
    with worker_b.app_context():
        assert queue.run_one("machine-b")
    away.rename(instance_a)
    batch = latest_batch(app)
    assert (batch.state, batch.created, batch.rejected) == ("succeeded", 2, 1), batch.message
    assert files_in(instance_b) == []  # B's private copy of the upload was deleted

    response = client.get(f"/imports/{batch.id}/errors.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("原Excel行号", "错误原因")
    assert [r[0] for r in rows[1:]] == [4] and "校验位" in rows[1][1]
    assert files_in(instance_a) == []


def test_a_refused_batch_keeps_its_mapping_step_in_the_database_store(app, login, tmp_path):
    """The note the mapping step reads is written when the job fails (its work is rolled back)
    and is read by any web machine."""
    wb = Workbook()
    wb.active.append(["甲", "乙", "丙"])
    wb.active.append(["存储", id_numbers(1, start=900)[0], "320923001001"])
    buffer = io.BytesIO()
    wb.save(buffer)
    web_a = machine(app, tmp_path / "a", "database")
    worker_b = machine(app, tmp_path / "b", "database")
    client = login("fn_staff", client=web_a.test_client())
    upload(client, buffer.getvalue())
    with worker_b.app_context():
        assert queue.run_one("machine-b")
    batch = latest_batch(app)
    assert batch.state == "failed"
    page = client.get(f"/imports/{batch.id}/columns")
    assert page.status_code == 200 and "甲" in page.get_data(as_text=True)


# --- the purge -------------------------------------------------------------------------------


def set_mtime(path: Path, days: float) -> None:
    then = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(path, (then, then))


def _age(instance: Path, file_storage: str, key: str, days: int) -> None:
    if file_storage == "local":
        set_mtime(instance / key, days)
    else:
        db.session.execute(
            update(StoredFile)
            .where(StoredFile.key == key)
            .values(created_at=utcnow() - timedelta(days=days))
        )


@pytest.mark.parametrize("file_storage", ["local", "database"])
def test_purge_deletes_files_older_than_the_retention_and_keeps_newer(app, tmp_path, file_storage):
    instance = tmp_path / "instance"
    portal = machine(app, instance, file_storage)
    portal.config["FILE_RETENTION_DAYS"] = 30
    keys = {
        "uploads/batch-1.xlsx": 31,
        "uploads/batch-1.xlsx.columns.json": 31,
        "exports/import-1-errors.xlsx": 45,
        "uploads/batch-2.xlsx": 29,
        "exports/import-2-errors.xlsx": 1,
    }
    with portal.test_request_context():
        files = storage.store()
        for key, days in keys.items():
            files.put(key, io.BytesIO(b"x" * 10))
            _age(instance, file_storage, key, days)
        leftover = storage.private_temp_path(".xlsx")  # a crashed job's copy, two days old
        set_mtime(leftover, 2)
        fresh = storage.private_temp_path(".xlsx")  # a job reading right now
        result = purge()
        assert sorted(result.stored) == sorted(k for k, d in keys.items() if d > 30)
        for key, days in keys.items():
            assert files.exists(key) == (days <= 30), key
        assert not leftover.exists() and fresh.exists()
        assert "已删除" in result.message


def test_files_purge_command(app, tmp_path):
    portal = machine(app, tmp_path / "instance", "local")
    with portal.app_context():
        storage.store().put("uploads/batch-9.xlsx", io.BytesIO(b"old"))
    set_mtime(tmp_path / "instance" / "uploads" / "batch-9.xlsx", 10)
    result = portal.test_cli_runner().invoke(args=["files", "purge", "--days", "7"])
    assert result.exit_code == 0, result.output
    assert "已删除超过保留期限的文件 1 个" in result.output
    assert not (tmp_path / "instance" / "uploads" / "batch-9.xlsx").exists()


def test_a_purged_error_workbook_is_explained_not_a_500(app, login, tmp_path):
    portal = machine(app, tmp_path / "instance", "database")
    client = login("fn_staff", client=portal.test_client())
    upload(client, workbook_with_a_bad_row())
    with portal.app_context():
        assert queue.run_one("test")
    batch = latest_batch(app)
    with portal.app_context():
        assert purge(days=0, now=utcnow() + timedelta(seconds=1)).stored
        db.session.commit()
    response = client.get(f"/imports/{batch.id}/errors.xlsx", follow_redirects=True)
    assert response.status_code == 200
    assert "超过保留期限" in response.get_data(as_text=True)


def test_the_purge_is_a_daily_scheduled_job(app, tmp_path):
    from portal.jobs import schedule

    portal = machine(app, tmp_path / "instance", "local")
    with portal.app_context():
        storage.store().put("exports/import-8-errors.xlsx", io.BytesIO(b"old"))
        set_mtime(tmp_path / "instance" / "exports" / "import-8-errors.xlsx", 40)
        job = schedule.load_jobs()["files_purge"]
        assert job.period == "daily"
        assert "已删除超过保留期限的文件 1 个" in job.run(utcnow().date())
    assert not (tmp_path / "instance" / "exports" / "import-8-errors.xlsx").exists()
