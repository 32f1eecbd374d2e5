"""Load the region tree from the national CSV files (provinces.csv … villages.csv) into `region`.

The source is five CSV files in the layout of the national statistical division codes
(统计用区划代码): short codes of 2/4/6/9/12 digits, each row naming its ancestors' codes. They are
stored padded to 12 digits, with the level and the padded code of the parent.

Loading is a merge, never a replace: a code already present with a different name, level or
parent is updated, an identical row is not written at all, a new code is inserted, and a region
absent from the source is left alone (never deleted). Merging, splitting and retiring codes
(区划调整) need an old → new mapping that moves people, files and figures along; that is a later
feature, not something a reload may do silently.

A few rows of the national data are placeholders for a level that does not exist there: the
county rows 东莞市 441900, 中山市 442000 and 儋州市 460400 (cities without counties), and the
township and village rows 金门县 350527000 / 350527000000. Padded to 12 digits, such a row has
the same code as its parent, so it cannot be stored as a region of its own: it is "folded" into
that ancestor (counted in the report, not stored) and its children hang directly from the
ancestor, e.g. the township 441900003000 has the parent 441900000000 (东莞市, level 2).

The whole source is validated while it streams into a staging table, before `region` is touched:
a bad file raises RegionSourceError (with the file name and line) and leaves `region` as it was.
Then a few set-based statements count and apply the changes. On PostgreSQL with psycopg2 the
staging table is filled with COPY; elsewhere with executemany.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    and_,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from portal.regions import codes
from portal.regions.models import Region

SHIPPED_DATA_DIR = Path(__file__).resolve().parent / "data" / "3209"
"""The tree shipped with the portal: Jiangsu, Yancheng (盐城市, 3209) and everything under it."""

NAME_MAX_LENGTH = 100
STAGE_BATCH_ROWS = 10_000


class RegionSourceError(ValueError):
    """The region source cannot be loaded; the message is for the user (Chinese)."""

    def __init__(self, message: str, file_name: str | None = None, line: int | None = None):
        super().__init__(message)
        self.file_name = file_name
        self.line = line


@dataclass(frozen=True)
class SourceFile:
    """One CSV file of the source: its level and the columns naming its ancestors."""

    level: int
    file_name: str
    ancestor_columns: dict[str, int]  # column → the level whose code it holds

    @property
    def columns(self) -> tuple[str, ...]:
        return ("code", "name", *self.ancestor_columns)


SOURCE_FILES = (
    SourceFile(1, "provinces.csv", {}),
    SourceFile(2, "cities.csv", {"provinceCode": 1}),
    SourceFile(3, "areas.csv", {"cityCode": 2, "provinceCode": 1}),
    SourceFile(4, "streets.csv", {"areaCode": 3, "provinceCode": 1, "cityCode": 2}),
    SourceFile(
        5, "villages.csv", {"streetCode": 4, "provinceCode": 1, "cityCode": 2, "areaCode": 3}
    ),
)


@dataclass
class LevelCounts:
    """What happened to the source rows of one level."""

    read: int = 0  # rows of the source at this level (within `under`, when given)
    folded: int = 0  # placeholder rows whose padded code is their parent's: not stored
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass
class LoadReport:
    """Counts per level and in total, and how long the load took."""

    source: Path
    under: str | None = None
    levels: dict[int, LevelCounts] = field(
        default_factory=lambda: {level: LevelCounts() for level in codes.LEVELS}
    )
    elapsed_seconds: float = 0.0

    def _total(self, name: str) -> int:
        return sum(getattr(counts, name) for counts in self.levels.values())

    @property
    def read(self) -> int:
        return self._total("read")

    @property
    def folded(self) -> int:
        return self._total("folded")

    @property
    def inserted(self) -> int:
        return self._total("inserted")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")


def check_prefix(under: str | None) -> str | None:
    """Normalise the `under` argument: None, or the short code of one region (2/4/6/9/12 digits)."""
    if under is None or not under.strip():
        return None
    under = under.strip()
    if not under.isdigit() or len(under) not in codes.PREFIX_LENGTH.values():
        raise RegionSourceError(
            f"区划前缀“{under}”无效：应为 2、4、6、9 或 12 位数字的区划代码（如 32、3209、320923）"
        )
    return under


def load_regions(connection: Connection, source_dir: Path, under: str | None = None) -> LoadReport:
    """Merge the region tree in `source_dir` into the `region` table; the caller commits.

    `connection` must already be inside a transaction. With `under` (a short code such as "3209"),
    only that region, its descendants and its ancestors are loaded, so the tree stays connected.
    Existing regions absent from the source are kept: region adjustments are a later feature.
    Raises RegionSourceError, before `region` is written, when the source is invalid.
    """
    started = time.perf_counter()
    source_dir = Path(source_dir)
    under = check_prefix(under)
    report = LoadReport(source=source_dir, under=under)
    paths = _source_paths(source_dir)
    dialect = connection.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"loading regions into {dialect} is not supported")

    _create_stage(connection)
    try:
        rows = _SourceRows(report, under)
        for spec in SOURCE_FILES:
            _fill_stage(connection, rows.read(paths[spec.level], spec))
        rows.check_under_found()
        if dialect == "postgresql":
            # Temporary tables are never auto-analysed; without statistics the joins below
            # may be planned as nested loops over 600k rows.
            connection.exec_driver_sql(f"ANALYZE {_stage.name}")
        _check_duplicates(connection)
    except RegionSourceError:
        _drop_stage(connection)
        raise
    _count_changes(connection, report)
    if report.inserted or report.updated:
        connection.execute(_upsert_statement(dialect))
    _drop_stage(connection)
    report.elapsed_seconds = time.perf_counter() - started
    return report


def _source_paths(source_dir: Path) -> dict[int, Path]:
    """All five files must be there before anything is read."""
    if not source_dir.is_dir():
        raise RegionSourceError(f"区划数据目录不存在：{source_dir}")
    paths = {spec.level: source_dir / spec.file_name for spec in SOURCE_FILES}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        raise RegionSourceError(
            f"区划数据目录 {source_dir} 缺少文件：{'、'.join(missing)}"
            f"（需要 {'、'.join(spec.file_name for spec in SOURCE_FILES)}）",
            file_name=missing[0],
        )
    return paths


class _SourceRows:
    """Streams and validates the rows of the five files, level by level.

    Keeps only the padded codes of the previous level (at most ~41k townships), to check that
    every row's parent is in the source.
    """

    def __init__(self, report: LoadReport, under: str | None):
        self.report = report
        self.under = under
        self.under_found = under is None
        self.previous_codes: set[str] = set()

    def read(self, path: Path, spec: SourceFile) -> Iterator[tuple]:
        """Yield (code, name, level, parent_code, line) for the rows to stage."""
        level = spec.level
        counts = self.report.levels[level]
        code_length = codes.PREFIX_LENGTH[level]
        parent_length = codes.PREFIX_LENGTH.get(level - 1, 0)
        under = self.under
        parents = self.previous_codes
        current: set[str] = set()
        keep_codes = level < codes.LEVELS[-1]
        file_name = path.name

        def fail(line: int, problem: str) -> RegionSourceError:
            return RegionSourceError(f"{file_name} 第 {line} 行：{problem}", file_name, line)

        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            line = 1
            try:
                header = next(reader, None)
                if header is None:
                    raise fail(1, f"文件为空，应有表头 {','.join(spec.columns)}")
                header = [column.strip() for column in header]
                absent = [column for column in spec.columns if column not in header]
                if absent:
                    raise fail(
                        1, f"表头缺少列 {'、'.join(absent)}（应为 {','.join(spec.columns)}）"
                    )
                code_at = header.index("code")
                name_at = header.index("name")
                ancestors_at = [
                    (header.index(column), column, codes.PREFIX_LENGTH[ancestor_level])
                    for column, ancestor_level in spec.ancestor_columns.items()
                ]
                width = len(header)
                for row in reader:
                    line = reader.line_num
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # blank line
                    if len(row) != width:
                        raise fail(line, f"应有 {width} 列，实有 {len(row)} 列")
                    code = row[code_at].strip()
                    if len(code) != code_length or not code.isdigit():
                        raise fail(
                            line,
                            f"区划代码“{code}”无效：{spec.file_name} 中的代码应为"
                            f" {code_length} 位数字",
                        )
                    for at, column, length in ancestors_at:
                        if row[at].strip() != code[:length]:
                            raise fail(
                                line,
                                f"{column}“{row[at].strip()}”与区划代码 {code} 不一致"
                                f"（应为 {code[:length]}）",
                            )
                    if under is not None:
                        if not (code.startswith(under) or under.startswith(code)):
                            continue
                        if code == under:
                            self.under_found = True
                    name = row[name_at].strip()
                    if not name:
                        raise fail(line, f"区划 {code} 的名称为空")
                    if len(name) > NAME_MAX_LENGTH:
                        raise fail(line, f"区划 {code} 的名称超过 {NAME_MAX_LENGTH} 个字")
                    padded = codes.pad(code)
                    parent = codes.pad(code[:parent_length]) if parent_length else None
                    if parent is not None and parent not in parents:
                        raise fail(
                            line,
                            f"区划 {code} 的上级 {code[:parent_length]} 不在"
                            f" {SOURCE_FILES[level - 2].file_name} 中",
                        )
                    counts.read += 1
                    if keep_codes:
                        current.add(padded)
                    if parent is not None and padded == parent:
                        # A placeholder for a missing level (e.g. county 东莞市 441900):
                        # folded into its ancestor, whose padded code it shares.
                        counts.folded += 1
                        continue
                    yield padded, name, level, parent, line
            except UnicodeDecodeError as exc:
                raise fail(line + 1, f"不是 UTF-8 编码的文本（{exc.reason}）") from exc
            except csv.Error as exc:
                raise fail(reader.line_num, f"CSV 格式错误（{exc}）") from exc
        self.previous_codes = current

    def check_under_found(self) -> None:
        if not self.under_found:
            raise RegionSourceError(f"区划数据中没有代码为 {self.under} 的区划")


_stage = Table(
    "region_stage",
    MetaData(),
    Column("code", String(12)),
    Column("name", String(NAME_MAX_LENGTH)),
    Column("level", SmallInteger),
    Column("parent_code", String(12)),
    Column("line", Integer),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_STAGE_COLUMNS = ("code", "name", "level", "parent_code", "line")


def _create_stage(connection: Connection) -> None:
    # A stage left behind by a load that failed on a database error (SQLite keeps temporary
    # tables per connection, and pooled connections live on).
    _drop_stage(connection)
    _stage.create(connection)


def _drop_stage(connection: Connection) -> None:
    _stage.drop(connection, checkfirst=True)


def _fill_stage(connection: Connection, rows: Iterator[tuple]) -> None:
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg2":
        _copy_into_stage(connection, rows)
    elif connection.dialect.name == "sqlite":
        # Plain tuples straight to sqlite3's executemany: twice as fast as Core with dicts.
        statement = (
            f"INSERT INTO {_stage.name} ({', '.join(_STAGE_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"
        )
        for batch in _batches(rows):
            connection.exec_driver_sql(statement, batch)
    else:
        for batch in _batches(rows):
            connection.execute(
                _stage.insert(), [dict(zip(_STAGE_COLUMNS, row, strict=True)) for row in batch]
            )


def _batches(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= STAGE_BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


class _CopyStream:
    """A file-like object for psycopg2's copy_expert: CSV text made from rows as COPY reads.

    A validation error must not escape from read(): psycopg2 would abort the COPY and with it
    the caller's transaction. The error is kept, the stream ends early, and it is raised after.
    """

    def __init__(self, rows: Iterable[tuple], rows_per_read: int = 2_000):
        self._rows = iter(rows)
        self._rows_per_read = rows_per_read
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self.error: RegionSourceError | None = None

    def read(self, size: int = -1) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        try:
            for _ in range(self._rows_per_read):
                row = next(self._rows, None)
                if row is None:
                    break
                self._writer.writerow(row)  # None → empty unquoted field → NULL
        except RegionSourceError as exc:
            self.error = exc
            return ""
        return self._buffer.getvalue()


def _copy_into_stage(connection: Connection, rows: Iterator[tuple]) -> None:
    stream = _CopyStream(rows)
    dbapi_connection = connection.connection.dbapi_connection
    with dbapi_connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {_stage.name} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
            stream,
        )
    if stream.error is not None:
        raise stream.error


def _check_duplicates(connection: Connection) -> None:
    """A code twice in the source (ON CONFLICT cannot apply one code twice in a statement)."""
    s = _stage.c
    first = func.min(s.line)
    duplicate = connection.execute(
        select(s.code, func.min(s.level), first, func.max(s.line))
        .group_by(s.code)
        .having(func.count() > 1)
        .order_by(first)
        .limit(1)
    ).first()
    if duplicate is not None:
        code, level, first_line, second_line = duplicate
        file_name = SOURCE_FILES[level - 1].file_name
        raise RegionSourceError(
            f"{file_name} 第 {second_line} 行：区划代码 {code} 重复（第 {first_line} 行已有）",
            file_name,
            second_line,
        )


def _differs(region, other) -> object:
    """True when the stored row differs from `other` in name, level or parent (NULL-safe)."""
    return or_(
        region.name.is_distinct_from(other.name),
        region.level.is_distinct_from(other.level),
        region.parent_code.is_distinct_from(other.parent_code),
    )


def _count_changes(connection: Connection, report: LoadReport) -> None:
    region, s = Region.__table__.c, _stage.c
    existing = func.count(region.code)
    changed = func.sum(case((and_(region.code.is_not(None), _differs(region, s)), 1), else_=0))
    rows = connection.execute(
        select(s.level, func.count(), existing, changed)
        .select_from(_stage.outerjoin(Region.__table__, region.code == s.code))
        .group_by(s.level)
    )
    for level, staged, already, updated in rows:
        counts = report.levels[level]
        counts.inserted = staged - already
        counts.updated = int(updated or 0)
        counts.unchanged = already - counts.updated


def _upsert_statement(dialect: str):
    """One INSERT … SELECT … ON CONFLICT of the new and changed rows only.

    Unchanged rows are not in the SELECT, so they are neither written nor locked. ORDER BY code
    puts every parent before its children (a padded parent code sorts before its children's) and
    feeds the primary key index in order; PostgreSQL and SQLite check the foreign key at the end
    of the statement anyway.
    """
    table = Region.__table__
    region, s = table.c, _stage.c
    source = (
        select(s.code, s.name, s.level, s.parent_code)
        .select_from(_stage.outerjoin(table, region.code == s.code))
        # The WHERE also keeps SQLite from reading ON CONFLICT as a join constraint.
        .where(or_(region.code.is_(None), _differs(region, s)))
        .order_by(s.code)
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).from_select(["code", "name", "level", "parent_code"], source)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[region.code],
        set_={"name": new.name, "level": new.level, "parent_code": new.parent_code},
        where=_differs(region, new),
    )
