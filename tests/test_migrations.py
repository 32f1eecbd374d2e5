"""The migrations build exactly the schema the models describe (on SQLite and PostgreSQL)."""

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import portal.models  # noqa: F401
from portal.extensions import db

# Compares on a connection of its own, outside the per-test transaction.
pytestmark = pytest.mark.no_db


def test_models_and_migrations_agree(app):
    # The session's database was built by `flask db upgrade` in conftest.
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], f"models differ from migrations: {differences}"


def test_migrations_have_one_head():
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    root = Path(__file__).resolve().parents[1] / "migrations"
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.fixture
def scratch_app(app, tmp_path):
    """An app over a database of its own, empty, for migrating step by step (a second database
    on the same PostgreSQL server, or a SQLite file)."""
    from sqlalchemy import create_engine, text

    from portal import create_app

    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "postgresql":
        name = f"{url.database}_migrations"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        scratch_url = url.set(database=name).render_as_string(hide_password=False)
    else:
        admin, scratch_url = None, f"sqlite:///{tmp_path / 'migrations.db'}"
    scratch = create_app(
        {"TESTING": True, "JOBS_IN_PROCESS": False, "SQLALCHEMY_DATABASE_URI": scratch_url}
    )
    yield scratch
    if admin is not None:
        with scratch.app_context():
            db.engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def test_0008_folds_the_created_history_rows_into_the_person(scratch_app):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    person = (
        "INSERT INTO person (id, id_number, name, sex, birth_date, region_code, in_register, "
        "key_populations, e_credential, insured_status, version, created_at, updated_at) VALUES "
        "({id}, '{idn}', '张三', '1', '1980-01-01', '320923001001', TRUE, 0, FALSE, 'unknown', 1, "
        "'2026-01-02 03:04:05', '2026-01-02 03:04:05')"
    )
    change = (
        "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, "
        "changes) VALUES ({id}, '320923001001', '2026-01-02 03:04:05', NULL, '{cause}', {batch}, "
        "'{changes}')"
    )
    with scratch_app.app_context():
        upgrade(revision="0007")
        for statement in (
            person.format(id=1, idn="320923198001010011"),
            person.format(id=2, idn="320923198001010038"),
            change.format(id=1, cause="import", batch=7, changes='{"created": true}'),
            change.format(id=1, cause="import", batch=8, changes='{"name": ["张三", "张三丰"]}'),
            change.format(id=2, cause="comparison", batch=3, changes='{"file_state": [null, "x"]}'),
        ):
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        created = db.session.execute(
            text("SELECT id, created_batch_id FROM person ORDER BY id")
        ).all()
        left = db.session.execute(
            text("SELECT person_id, batch_id FROM person_change ORDER BY batch_id")
        ).all()
        db.session.commit()
        assert created == [(1, 7), (2, None)]
        assert left == [(2, 3), (1, 8)]
        downgrade(revision="0007")
        restored = db.session.execute(
            text("SELECT person_id, batch_id, cause FROM person_change ORDER BY batch_id")
        ).all()
        db.session.commit()
        assert restored == [(2, 3, "comparison"), (1, 7, "import"), (1, 8, "import")]


def test_0010_downgrade_writes_the_history_rows_the_first_comparisons_did_not(scratch_app):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    with scratch_app.app_context():
        upgrade()
        for statement in (
            "INSERT INTO person_file (id, person_id, region_code, year, file_number, file_type, "
            "government_paid, filing_flag, state, opened_at, opened_by_run_id, version) VALUES "
            f"({i}, {i}, '320923001001', 2026, '2026-320923001001-{i}', 'uninsured', FALSE, "
            f"TRUE, 'unassigned', '2026-01-02 03:04:05', {run}, 1)"
            for i, run in ((1, 7), (2, "NULL"))
        ):
            db.session.execute(text(statement))
        db.session.commit()
        downgrade(revision="0009")
        rows = db.session.execute(
            text("SELECT person_id, cause, batch_id, CAST(changes AS TEXT) FROM person_change")
        ).all()
        db.session.commit()
        upgrade()
    ((person_id, cause, batch_id, changes),) = rows
    assert (person_id, cause, batch_id) == (1, "comparison", 7)
    assert json.loads(changes) == {
        "insured_status": ["unknown", "uninsured"],
        "file_state": [None, "unassigned"],
    }
