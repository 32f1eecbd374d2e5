"""Loading the region tree from the national CSV layout: counts, idempotent reloads, validation.

Independent of tests/conftest.py: each test gets its own database connection inside a
transaction — a fresh SQLite file (foreign keys on), and PostgreSQL too when TEST_DATABASE_URL
names one (the table is created in a throw-away schema inside the transaction, rolled back);
without it the PostgreSQL cases are not generated at all.
"""

import os
import shutil
import uuid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import make_url

from portal.extensions import db
from portal.regions.cli import regions_cli
from portal.regions.loader import SHIPPED_DATA_DIR, RegionSourceError, load_regions
from portal.regions.models import Region

# Each test brings its own database; the suite-wide transaction of tests/conftest.py (which
# rebinds db.session) must stay out of the way, or the command tests would write into it.
pytestmark = pytest.mark.no_db

NATIONAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "regions"

YANCHENG = {1: 1, 2: 1, 3: 10, 4: 154, 5: 2494}
FUNING = {1: 1, 2: 1, 3: 1, 4: 17, 5: 339}  # 320923 阜宁县
FUCHENG = {1: 1, 2: 1, 3: 1, 4: 1, 5: 26}  # 320923001 阜城街道
NATIONAL_READ = {1: 31, 2: 342, 3: 2978, 4: 41352, 5: 620573}
# Placeholder rows padded onto their parent's code: counties 东莞市 441900, 中山市 442000,
# 儋州市 460400; township 350527000 and village 350527000000 (金门县).
NATIONAL_FOLDED = {1: 0, 2: 0, 3: 3, 4: 1, 5: 1}


def _sqlite_connect(dbapi_connection, _record):
    # As the application configures SQLite: SQLAlchemy emits BEGIN itself, foreign keys on.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _postgres_url():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith(("postgresql", "postgres:")):
        return None
    url = make_url(url.replace("postgres://", "postgresql://", 1))
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")  # SQLAlchemy 2.1 would pick psycopg 3
    return url


BACKENDS = ["sqlite"] + (
    [pytest.param("postgresql", marks=pytest.mark.postgres)] if _postgres_url() else []
)


@pytest.fixture(params=BACKENDS)
def connection(request, tmp_path):
    """A connection inside a transaction, on a database holding an empty region table."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'regions.db'}")
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        db.metadata.create_all(engine, tables=[Region.__table__])
        with engine.connect() as conn, conn.begin():
            yield conn
        engine.dispose()
        return

    engine = create_engine(_postgres_url())
    with engine.connect() as conn:
        transaction = conn.begin()
        schema = f"region_test_{uuid.uuid4().hex[:12]}"
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"SET LOCAL search_path TO {schema}")
        db.metadata.create_all(conn, tables=[Region.__table__])
        try:
            yield conn
        finally:
            transaction.rollback()
    engine.dispose()


def table_rows(connection) -> list[tuple]:
    """The whole table, in code order."""
    return [
        tuple(row)
        for row in connection.execute(
            select(Region.code, Region.name, Region.level, Region.parent_code).order_by(Region.code)
        )
    ]


def rows_per_level(connection) -> dict[int, int]:
    return dict(connection.execute(select(Region.level, func.count()).group_by(Region.level)).all())


def track_writes(connection):
    """Start recording writes to `region`; returns a function giving the codes written since.

    PostgreSQL: a written row gets a new physical version (ctid). SQLite: a temporary trigger.
    """
    if connection.dialect.name == "postgresql":
        before = dict(connection.exec_driver_sql("SELECT code, ctid::text FROM region").all())

        def written() -> set[str]:
            after = dict(connection.exec_driver_sql("SELECT code, ctid::text FROM region").all())
            return {code for code, ctid in after.items() if before.get(code) != ctid}

        return written

    connection.exec_driver_sql("CREATE TEMP TABLE region_writes (code TEXT)")
    for event_name in ("INSERT", "UPDATE"):
        connection.exec_driver_sql(
            f"CREATE TEMP TRIGGER region_writes_{event_name.lower()} AFTER {event_name}"
            " ON main.region BEGIN INSERT INTO region_writes VALUES (new.code); END"
        )

    def written() -> set[str]:
        return set(connection.exec_driver_sql("SELECT code FROM region_writes").scalars())

    return written


@pytest.fixture
def source_copy(tmp_path):
    """A copy of the shipped Yancheng data, edited line by line by the test."""
    directory = tmp_path / "source"
    shutil.copytree(SHIPPED_DATA_DIR, directory)

    def edit(file_name: str, change) -> Path:
        path = directory / file_name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(change(lines)), encoding="utf-8")
        return directory

    edit.directory = directory
    return edit


def line_of(lines: list[str], code: str) -> int:
    """Index in `lines` of the row for `code` (the file's line number is one more)."""
    return next(i for i, line in enumerate(lines) if line.startswith(code + ","))


# --- the shipped Yancheng tree ---------------------------------------------------------------


def test_loads_shipped_yancheng_tree_counts_per_level(connection):
    report = load_regions(connection, SHIPPED_DATA_DIR)

    assert {level: c.read for level, c in report.levels.items()} == YANCHENG
    assert {level: c.inserted for level, c in report.levels.items()} == YANCHENG
    assert (report.inserted, report.updated, report.unchanged, report.folded) == (2660, 0, 0, 0)
    assert rows_per_level(connection) == YANCHENG
    assert report.elapsed_seconds > 0


def test_codes_are_padded_with_level_and_parent(connection):
    load_regions(connection, SHIPPED_DATA_DIR)

    rows = {row[0]: row[1:] for row in table_rows(connection)}
    assert rows["320000000000"] == ("江苏省", 1, None)
    assert rows["320900000000"] == ("盐城市", 2, "320000000000")
    assert rows["320923000000"] == ("阜宁县", 3, "320900000000")
    assert rows["320923001000"] == ("阜城街道", 4, "320923000000")
    assert rows["320923001001"] == ("兴阜居委会", 5, "320923001000")
    assert all(len(code) == 12 and code.isdigit() for code in rows)


# --- reloading -------------------------------------------------------------------------------


def test_reload_reports_nothing_changed_and_writes_nothing(connection):
    load_regions(connection, SHIPPED_DATA_DIR)
    before = table_rows(connection)
    written = track_writes(connection)

    report = load_regions(connection, SHIPPED_DATA_DIR)

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 2660)
    assert {level: c.unchanged for level, c in report.levels.items()} == YANCHENG
    assert table_rows(connection) == before
    assert written() == set()


def test_renamed_region_is_updated_and_nothing_else(connection, source_copy):
    load_regions(connection, SHIPPED_DATA_DIR)
    before = {row[0]: row for row in table_rows(connection)}
    written = track_writes(connection)

    def rename(lines):
        at = line_of(lines, "320923001001")
        lines[at] = lines[at].replace("兴阜居委会", "兴阜社区居委会")
        return lines

    report = load_regions(connection, source_copy("villages.csv", rename))

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2659)
    assert report.levels[5].updated == 1
    after = {row[0]: row for row in table_rows(connection)}
    changed = {code for code in after if after[code] != before[code]}
    assert changed == {"320923001001"}
    assert after["320923001001"] == ("320923001001", "兴阜社区居委会", 5, "320923001000")
    assert written() == {"320923001001"}


def test_wrong_level_or_parent_in_table_is_repaired(connection):
    load_regions(connection, SHIPPED_DATA_DIR)
    expected = table_rows(connection)
    region = Region.__table__
    connection.execute(
        update(region).where(region.c.code == "320923001000").values(parent_code="320902000000")
    )
    connection.execute(update(region).where(region.c.code == "320923000000").values(level=4))

    report = load_regions(connection, SHIPPED_DATA_DIR)

    assert (report.inserted, report.updated) == (0, 2)
    assert (report.levels[3].updated, report.levels[4].updated) == (1, 1)
    assert table_rows(connection) == expected


def test_regions_absent_from_source_are_kept(connection, source_copy):
    load_regions(connection, SHIPPED_DATA_DIR)
    before = table_rows(connection)

    def drop_community(lines):
        del lines[line_of(lines, "320923001001")]
        return lines

    report = load_regions(connection, source_copy("villages.csv", drop_community))

    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 2659)
    assert table_rows(connection) == before


def test_reload_adds_new_regions_under_existing_parents(connection, source_copy):
    def add_community(lines):
        lines.append('320923001999,"新设社区居委会",320923001,32,3209,320923\n')
        return lines

    load_regions(connection, SHIPPED_DATA_DIR)
    report = load_regions(connection, source_copy("villages.csv", add_community))

    assert (report.inserted, report.updated, report.unchanged) == (1, 0, 2660)
    assert ("320923001999", "新设社区居委会", 5, "320923001000") in table_rows(connection)


# --- loading part of the tree ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("under", "expected"),
    [("320923", FUNING), ("320923001", FUCHENG), ("32", YANCHENG), ("3209", YANCHENG)],
)
def test_under_loads_the_subtree_and_its_ancestors(connection, under, expected):
    report = load_regions(connection, SHIPPED_DATA_DIR, under=under)

    assert {level: c.read for level, c in report.levels.items()} == expected
    assert rows_per_level(connection) == expected
    codes = [row[0] for row in table_rows(connection)]
    ancestors = {code.ljust(12, "0") for code in ("32", "3209", "320923", "320923001")}
    assert all(code.startswith(under) or code in ancestors for code in codes)


def test_under_then_full_load_inserts_only_the_rest(connection):
    load_regions(connection, SHIPPED_DATA_DIR, under="320923")
    report = load_regions(connection, SHIPPED_DATA_DIR)

    assert report.unchanged == sum(FUNING.values())
    assert report.inserted == 2660 - sum(FUNING.values())
    assert rows_per_level(connection) == YANCHENG


def test_under_a_region_missing_from_the_source_is_refused(connection):
    with pytest.raises(RegionSourceError, match="没有代码为 320999 的区划"):
        load_regions(connection, SHIPPED_DATA_DIR, under="320999")
    assert table_rows(connection) == []


@pytest.mark.parametrize("under", ["3209x", "320", "3209230010011"])
def test_malformed_under_prefix_is_refused(connection, under):
    with pytest.raises(RegionSourceError, match="区划前缀.*无效"):
        load_regions(connection, SHIPPED_DATA_DIR, under=under)


# --- bad input -------------------------------------------------------------------------------


def _replace_row(code: str, new_row: str):
    def change(lines):
        lines[line_of(lines, code)] = new_row
        return lines

    return change


def _drop_row(code: str):
    def change(lines):
        del lines[line_of(lines, code)]
        return lines

    return change


def _duplicate_row(code: str):
    def change(lines):
        lines.append(lines[line_of(lines, code)])
        return lines

    return change


BAD_SOURCES = {
    "non-digit code": (
        "villages.csv",
        _replace_row("320923001001", '32092300100x,"兴阜居委会",320923001,32,3209,320923\n'),
        r"villages\.csv 第 1223 行：区划代码“32092300100x”无效："
        r"villages\.csv 中的代码应为 12 位数字",
    ),
    "short code": (
        "areas.csv",
        _replace_row("320923", '32092,"阜宁县",3209,32\n'),
        r"areas\.csv 第 7 行：区划代码“32092”无效：areas\.csv 中的代码应为 6 位数字",
    ),
    "parent column inconsistent with the code": (
        "villages.csv",
        _replace_row("320923001001", '320923001001,"兴阜居委会",320923002,32,3209,320923\n'),
        r"villages\.csv 第 1223 行：streetCode“320923002”与区划代码 320923001001 不一致"
        r"（应为 320923001）",
    ),
    "parent absent from the source": (
        "streets.csv",
        _drop_row("320923001"),
        r"villages\.csv 第 1223 行：区划 320923001001 的上级 320923001 不在 streets\.csv 中",
    ),
    "duplicate code": (
        "villages.csv",
        _duplicate_row("320923001001"),
        r"villages\.csv 第 2496 行：区划代码 320923001001 重复（第 1223 行已有）",
    ),
    "empty name": (
        "streets.csv",
        _replace_row("320923001", '320923001,"",320923,32,3209\n'),
        r"streets\.csv 第 83 行：区划 320923001 的名称为空",
    ),
    "missing column": (
        "cities.csv",
        lambda lines: ["code,name\n", "3209,盐城市\n"],
        r"cities\.csv 第 1 行：表头缺少列 provinceCode",
    ),
}


@pytest.mark.parametrize("case", BAD_SOURCES, ids=list(BAD_SOURCES))
def test_bad_source_raises_and_leaves_table_as_it_was(connection, source_copy, case):
    file_name, change, message = BAD_SOURCES[case]
    load_regions(connection, SHIPPED_DATA_DIR, under="320902")
    before = table_rows(connection)

    with pytest.raises(RegionSourceError, match=message) as raised:
        load_regions(connection, source_copy(file_name, change))

    assert raised.value.file_name is not None and raised.value.line is not None
    assert table_rows(connection) == before
    # The transaction is still usable and the staging table is gone: a good load works.
    assert load_regions(connection, SHIPPED_DATA_DIR).inserted == 2660 - len(before)


def test_missing_file_raises_and_leaves_table_as_it_was(connection, source_copy):
    load_regions(connection, SHIPPED_DATA_DIR)
    before = table_rows(connection)
    (source_copy.directory / "streets.csv").unlink()

    with pytest.raises(RegionSourceError, match=r"缺少文件：streets\.csv"):
        load_regions(connection, source_copy.directory)

    assert table_rows(connection) == before


def test_missing_directory_raises(connection, tmp_path):
    with pytest.raises(RegionSourceError, match="区划数据目录不存在"):
        load_regions(connection, tmp_path / "nowhere")


# --- the command -----------------------------------------------------------------------------


@pytest.fixture
def cli_app(tmp_path):
    """A bare Flask app with only the database and the regions command (no app factory)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'cli.db'}"
    db.init_app(app)
    app.cli.add_command(regions_cli)
    with app.app_context():
        event.listen(db.engine, "connect", _sqlite_connect)
        event.listen(db.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        db.metadata.create_all(db.engine, tables=[Region.__table__])
        yield app
        db.session.remove()
        db.engine.dispose()


def test_load_command_loads_and_commits_the_shipped_tree(cli_app):
    runner = cli_app.test_cli_runner()

    result = runner.invoke(args=["regions", "load", "--under", "320923"])
    assert result.exit_code == 0, result.output
    assert "社区/村" in result.output and "339" in result.output and "用时" in result.output

    result = runner.invoke(args=["regions", "load"])
    assert result.exit_code == 0, result.output
    with db.engine.connect() as connection:  # a new connection: the load was committed
        assert rows_per_level(connection) == YANCHENG


def test_load_command_reports_a_bad_source_and_fails(cli_app, tmp_path):
    result = cli_app.test_cli_runner().invoke(args=["regions", "load", "--source", str(tmp_path)])
    assert result.exit_code == 1
    assert "缺少文件" in result.output and "provinces.csv" in result.output


def test_load_command_refuses_a_malformed_prefix(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["regions", "load", "--under", "32a"])
    assert result.exit_code == 2
    assert "区划前缀" in result.output


# --- the whole country -----------------------------------------------------------------------


@pytest.mark.national
def test_loads_the_whole_country(connection):
    """The national tree, on SQLite (about 5 s) and on PostgreSQL (about 10 s).

    31/342/2978/41352/620573 rows are read; five placeholder rows share their parent's padded
    code and are folded into it, so 31/342/2975/41351/620572 regions are stored.
    """
    if not NATIONAL_DIR.is_dir():
        pytest.skip(f"national region data not found at {NATIONAL_DIR} (CI always has it)")

    report = load_regions(connection, NATIONAL_DIR)

    assert {level: c.read for level, c in report.levels.items()} == NATIONAL_READ
    assert {level: c.folded for level, c in report.levels.items()} == NATIONAL_FOLDED
    stored = {level: NATIONAL_READ[level] - NATIONAL_FOLDED[level] for level in NATIONAL_READ}
    assert rows_per_level(connection) == stored
    rows = dict(
        connection.execute(
            select(Region.code, Region.parent_code).where(
                Region.code.in_(["441900003000", "350527000000", "110101001001"])
            )
        ).all()
    )
    assert rows == {
        "441900003000": "441900000000",  # a town of 东莞市 hangs from the city itself
        "350527000000": "350500000000",  # 金门县 is the county, not its placeholder village
        "110101001001": "110101001000",
    }
