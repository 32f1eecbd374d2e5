"""Test fixtures: one migrated database per run, each test inside a rolled-back transaction.

The database is SQLite in a temporary directory, or PostgreSQL when TEST_DATABASE_URL is set
(.ci/run does both). The schema is built by the Alembic migrations, not create_all, so every
run also proves the migrations.
"""

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import insert, text

from portal import create_app
from portal.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_accounts
from portal.extensions import db
from portal.regions.cli import load_shipped_demo_regions
from portal.regions.models import Region
from tests import world

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")


def _database_url(tmp_root) -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    return f"sqlite:///{tmp_root / 'test.db'}"


def _reset_postgres(engine) -> None:
    name = engine.url.database or ""
    if "test" not in name:
        raise RuntimeError(f"refusing to wipe database {name!r}: its name must contain 'test'")
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("portal")
    os.environ.setdefault("PORTAL_INSTANCE_DIR", str(root / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "JOBS_IN_PROCESS": False,
            "SQLALCHEMY_DATABASE_URI": _database_url(root),
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_COST": 64,
            "SERVER_NAME": "portal.test",
        }
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            _reset_postgres(db.engine)
        upgrade()
        load_shipped_demo_regions()
        db.session.execute(
            insert(Region),
            [dict(code=c, name=n, level=lv, parent_code=p) for c, n, lv, p in world.EXTRA_REGIONS],
        )
        seed_accounts(DEMO_ACCOUNTS + world.EXTRA_ACCOUNTS)
        db.session.commit()
        db.session.remove()
    yield app


@pytest.fixture(autouse=True)
def _transaction(request, app):
    """Run the test inside one outer transaction that is rolled back afterwards.

    No application context stays pushed while the test runs: Flask would reuse it for every
    test-client request, sharing `g` (the signed-in user, the permission guard's flag) between
    requests and hiding exactly the bugs these tests look for.
    """
    if "no_db" in request.keywords:
        yield
        # A test that commits for real and deletes what it made leaves the figures its writers
        # maintained (portal/stats/): every other test expects none committed.
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DELETE FROM community_figures"))
            connection.execute(text("DELETE FROM community_activity"))
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        db.session.remove()
    factory = db.session.session_factory
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield connection
    finally:
        with app.app_context():
            db.session.remove()
        factory.configure(bind=None, join_transaction_mode="conditional_savepoint")
        outer.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def _login_throttle():
    """Failed sign-ins per address are counted in this process: each test starts with none."""
    from portal.accounts import throttle

    throttle.reset()
    yield
    throttle.reset()


@pytest.fixture
def ctx(app):
    """An application context for tests that call services directly."""
    with app.test_request_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(app):
    """Sign in as a user; returns the signed-in test client."""

    def _login(username: str, password: str = DEMO_PASSWORD, client=None):
        client = client or app.test_client()
        response = client.post("/login", data={"username": username, "password": password})
        assert response.status_code == 302, f"login as {username} failed"
        return client

    return _login


@pytest.fixture
def user(app):
    """Look a user up by username (in the test's transaction)."""
    from sqlalchemy import select

    from portal.accounts.models import User

    def _user(username: str) -> User:
        return db.session.scalar(select(User).where(User.username == username))

    return _user


@pytest.fixture
def is_postgres(app):
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


@pytest.fixture
def make_person(app):
    """make_person(name, region, phone=…, files=…, **columns) → Made (tests/factories)."""
    import itertools

    from tests.factories import create_person

    numbers = itertools.count(100)
    return lambda *args, **kw: create_person(app, next(numbers), *args, **kw)


@pytest.fixture
def forked(app, is_postgres, monkeypatch):
    """Imports of 1 row or more go through the loader and two readers, each handing its rows
    over in files of 3 lines; lists, per import, how many bands were read ("started" if reading
    failed)."""
    from portal.imports import loader, parallel

    if not is_postgres:
        pytest.skip("forked readers stage into PostgreSQL only; SQLite imports in one process")
    app.config["IMPORT_PARALLEL_MIN_ROWS"] = 1
    monkeypatch.setattr(parallel, "CHUNK_LINES", 3)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    # The suite may run other threads (the browser tests' live server); these readers touch
    # none of their locks. test_no_fork_beside_another_thread checks the guard itself.
    monkeypatch.setattr(parallel, "alone", lambda: True)
    runs = []
    original = loader.Loader.stage

    def counted(self, *args, **kwargs):
        runs.append("started")
        staged = original(self, *args, **kwargs)
        runs[-1] = self.flags[loader.BANDS]  # how many readers read it
        return staged

    monkeypatch.setattr(loader.Loader, "stage", counted)
    return runs
