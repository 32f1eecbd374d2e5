"""The migrations build exactly the schema the models describe (on SQLite and PostgreSQL)."""

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
