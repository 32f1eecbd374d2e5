"""End-to-end fixtures: the portal on a free localhost port, driven by real headless Chromium.

The live server has its own SQLite database in a temporary directory, prepared the way
`portal demo --no-serve` prepares it (the demo command itself is invoked), then filled the way
a county officer would fill it: fn_staff imports the demo's household and insured sample
workbooks (through `portal import`) and runs the comparison for Funing county, so that persons
and uninsured files exist. Background jobs never run on their own (JOBS_IN_PROCESS off): the
set-up runs them synchronously, and a test that queues one in the browser calls `run_jobs()`.

The data is committed and shared by every e2e test of the session: tests must not depend on
what another test changed. The per-test rolled-back transaction of tests/conftest.py does not
apply here (the server thread could not see uncommitted rows anyway): every test in this package
is marked `e2e` and `no_db`, and `_transaction` is overridden.

Chromium is Debian's (/usr/bin/chromium, with fonts-noto-cjk for the Chinese text): Playwright's
own browser download is not used. Without it the tests are skipped, or fail when CI is set.
"""

import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.e2e.helpers import ARTIFACTS, shot

# Debian's Chromium; PORTAL_E2E_CHROMIUM points elsewhere (another distribution's path).
CHROMIUM = Path(os.environ.get("PORTAL_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
COUNTY = "320923000000"  # Funing county: the demo's sample people live there
COUNTY_STAFF = "fn_staff"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
TIMEOUT_MS = 10_000  # Playwright's default (30 s) makes a broken page slow to report
E2E_DIR = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test of this package `e2e` (so `-m "not e2e"` leaves them out) and `no_db`.

    tryfirst: the markers must be there before `-m` deselects."""
    for item in items:
        if E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.no_db)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so that fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _transaction():
    """The e2e tests use the live server's committed database, not a rolled-back transaction."""
    yield


def _unavailable(reason: str):
    """Skip locally; fail under CI, where a skipped browser suite would go unnoticed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the e2e tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LiveServer:
    app: Flask
    url: str
    database: Path
    instance: Path

    def run_jobs(self) -> int:
        """Run every queued background job now, in this thread; returns how many ran."""
        from portal.jobs import queue

        ran = 0
        with self.app.app_context():
            try:
                while queue.run_one("e2e"):
                    ran += 1
            finally:
                db.session.remove()
        return ran


@contextmanager
def _instance_dir_env(path: Path):
    """PORTAL_INSTANCE_DIR while the app is built: nothing is created in the repository's
    instance/ (the configuration reads the environment before the overrides apply)."""
    saved = os.environ.get("PORTAL_INSTANCE_DIR")
    os.environ["PORTAL_INSTANCE_DIR"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PORTAL_INSTANCE_DIR", None)
        else:
            os.environ["PORTAL_INSTANCE_DIR"] = saved


def _build_app(root: Path) -> tuple[Flask, Path, Path]:
    instance = root / "instance"
    database = root / "portal.db"
    with _instance_dir_env(instance):
        app = create_app(
            {
                "INSTANCE_DIR": str(instance),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                "SECRET_KEY": "e2e-secret",
                "JOBS_IN_PROCESS": False,  # jobs run when the set-up or a test says so
                "PROXY_HOPS": 0,
                "SESSION_COOKIE_SECURE": False,  # plain http on localhost
                "PASSWORD_HASH_TIME_COST": 1,
                "PASSWORD_HASH_MEMORY_COST": 64,
                # CSRF protection stays on: the browser submits the real forms.
            }
        )
    return app, instance, database


def _invoke(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"portal {' '.join(args)} failed:\n{result.output}") from (
            result.exception
        )
    return result.output


def _prepare(app: Flask, instance: Path) -> None:
    """`portal demo --no-serve`, then the samples imported and compared for Funing county."""
    from portal.accounts.models import User
    from portal.comparisons import operations as comparisons
    from portal.demo_samples import HOUSEHOLD, INSURED
    from portal.jobs import queue
    from portal.persons.models import Person, PersonFile
    from portal.regions.models import Region

    _invoke(app, "demo", "--no-serve")
    with app.app_context():
        has_persons = db.session.scalar(select(func.count()).select_from(Person))
        db.session.remove()
    if not has_persons:  # the demo only writes the workbooks: import them as fn_staff would
        samples = instance / "samples"
        for kind, name in (("household", HOUSEHOLD), ("insured", INSURED)):
            _invoke(
                app, "import", str(samples / name), "--kind", kind,
                "--region", COUNTY, "--as", COUNTY_STAFF,
            )  # fmt: skip
    with app.app_context():
        try:
            if not db.session.scalar(select(func.count()).select_from(PersonFile)):
                actor = db.session.scalar(select(User).where(User.username == COUNTY_STAFF))
                run = comparisons.start_comparison(actor, db.session.get(Region, COUNTY))
                db.session.commit()
                queue.run_one("e2e-setup", job_id=run.job_id)
                db.session.refresh(run)
                assert run.state == "succeeded", f"the comparison failed: {run.message}"
            files = db.session.scalar(select(func.count()).select_from(PersonFile))
            assert files, "the demo data has no person files: the e2e tests need some"
        finally:
            db.session.remove()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The portal with the demo data, served by a threaded werkzeug server on a free port."""
    app, instance, database = _build_app(tmp_path_factory.mktemp("e2e"))
    _prepare(app, instance)
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the OS picks a free one
    thread = threading.Thread(target=server.serve_forever, name="e2e-portal", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}", database, instance)
    finally:
        server.shutdown()  # waits for serve_forever to return
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()
    assert not thread.is_alive(), "the e2e server thread did not stop"


@pytest.fixture(scope="session")
def run_jobs(live_server):
    """Run the queued background jobs (an upload or a comparison started in the browser)."""
    return live_server.run_jobs


@pytest.fixture
def assign_files(live_server):
    """Arrange data: assign_files(username, count) gives that grid worker `count` unassigned
    files of their community (state 待走访) and returns their ids; undone after the test.

    A grid worker sees only the persons whose file is assigned to them. The supervisor desk will
    assign files in the browser; until a test goes through it, this sets the rows directly."""
    from portal.accounts.models import User
    from portal.persons.models import PersonFile

    app, assigned = live_server.app, []

    def _assign(username: str, count: int = 3) -> list[int]:
        with app.app_context():
            try:
                user = db.session.scalar(select(User).where(User.username == username))
                files = db.session.scalars(
                    select(PersonFile)
                    .where(
                        PersonFile.region_code == user.region_code,
                        PersonFile.state == "unassigned",
                    )
                    .order_by(PersonFile.id)
                    .limit(count)
                ).all()
                assert len(files) == count, f"{user.region_code} has too few unassigned files"
                for file in files:
                    file.assignee_id, file.state = user.id, "assigned"
                ids = [file.id for file in files]
                db.session.commit()
            finally:
                db.session.remove()
        assigned.extend(ids)
        return ids

    yield _assign
    if assigned:
        with app.app_context():
            try:
                for file in db.session.scalars(
                    select(PersonFile).where(PersonFile.id.in_(assigned))
                ):
                    file.assignee_id, file.state = None, "unassigned"
                db.session.commit()
            finally:
                db.session.remove()


@pytest.fixture(scope="session")
def _artifacts():
    """Start each session with an empty screenshot directory: it shows the last run."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser(_artifacts):
    """Debian's headless Chromium, one per session."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(browser, live_server, request):
    """Open browser contexts on the live server: new_context(**options) → a page.

    Defaults to the phone (390×844, zh-CN); options override them, e.g.
    new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False).
    JavaScript errors on a page fail the test; a failed test leaves a screenshot of each page
    in test-artifacts/e2e/FAILED-<test>-<n>.png."""
    contexts, pages, errors = [], [], []

    def _open(**options):
        context = browser.new_context(base_url=live_server.url, **{**PHONE, **options})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        pages.append(page)
        return page

    yield _open
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for n, page in enumerate(pages, 1):
            try:
                shot(page, re.sub(r"[^\w.-]+", "-", f"FAILED-{request.node.name}-{n}"))
            except Exception:  # a missing screenshot must not hide the failure
                pass
    for context in contexts:
        context.close()
    assert not errors, "JavaScript errors on the page:\n" + "\n".join(errors)


@pytest.fixture
def phone(new_context):
    """A page in a phone-sized browser context (390×844 at 2×, touch, zh-CN), signed out."""
    return new_context()
