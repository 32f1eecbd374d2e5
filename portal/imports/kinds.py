"""The lists the portal applies, as data: how each one validates, stages and applies its rows.

A kind is offered for upload only once its import is built end to end.
"""

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter

from permissions import Scope
from portal.duplicates import detect  # also registers the job kind 'duplicate_detection'
from portal.imports import (
    apply,
    columns,
    e_credentials,
    enrollments,
    key_populations,
    lapsed,
    plain,
)
from portal.imports.validation import (
    RegionResolver,
    Rejection,
    e_credential_row,
    household_row,
    insured_row,
    key_population_row,
    lapsed_row,
)

TICK_ROWS = 5_000  # progress is reported every so many rows read


@dataclass(frozen=True)
class Context:
    """What validating one row needs, built once per batch."""

    scope: Scope
    region_code: str
    today: date
    resolver: RegionResolver | None = None
    fixed_category: str | None = None  # a key-population list of one category, chosen at upload
    # The prefix of the batch's region (Region.prefix): the voucher of records insured outside
    # the scope, and the population whose persons a list of records is counted against. Looked
    # up from region_code when not given.
    region_prefix: str | None = None
    # Region names already looked up (就业地/学籍地 given as a name): name → code or None.
    place_codes: dict = field(default_factory=dict, compare=False, repr=False)

    def place_code(self, name: str) -> str | None:
        """The code of the one loaded region named `name` (any level), else None."""
        if name not in self.place_codes:
            from sqlalchemy import select

            from portal.extensions import db
            from portal.regions.models import Region

            codes = db.session.scalars(select(Region.code).where(Region.name == name).limit(2))
            found = list(codes)
            self.place_codes[name] = found[0] if len(found) == 1 else None
        return self.place_codes[name]

    @property
    def prefix(self) -> str:
        if self.region_prefix:
            return self.region_prefix
        from portal.extensions import db
        from portal.regions.models import Region

        return db.session.get(Region, self.region_code).prefix


@dataclass(frozen=True)
class ParallelStage:
    table: str
    fields: tuple[str, ...]
    line: Callable[[int, dict], str]  # (row number, validated row) → one line, with its newline
    # (column map, context, seen) → a function taking (row number, row as read) to the line of
    # a plainly valid row, or None to take the row the general way (see plain.py).
    plain: Callable[[dict, "Context", dict], Callable[[int, list], str | None]] | None = None


@dataclass(frozen=True)
class Importer:
    list_kind: columns.ListKind
    validate: Callable[[dict, Context], dict | str]
    key: Callable[[dict], Hashable]  # two rows with the same key in one file: the second is refused
    duplicate: str  # the refusal, with {first} for the first row's number
    create_stage: Callable
    stage_rows: Callable
    apply: Callable  # apply(connection, context, batch_id, user_id) -> ApplyResult
    needs_resolver: bool = False
    # When forked readers may stage a big file (see parallel.py): the staging table, its fields
    # and the function writing a row as a line of COPY's text format. Lists keyed by the ID
    # number alone, whose staging table has it as `id_number`.
    parallel_stage: ParallelStage | None = None

    def validated(
        self,
        rows: Iterable,
        context: Context,
        rejections: list,
        tick: Callable[[int], None],
        seen: dict | None = None,
    ) -> Iterator[tuple[int, dict]]:
        """(row number, clean row) for each valid source row, in order. Refused rows (invalid,
        or a second row with the same key) go to `rejections`; `tick(rows read so far)` is
        called every TICK_ROWS rows and once at the end. `seen` (key → row number of the
        valid rows) is the caller's when given."""
        seen = {} if seen is None else seen
        read = 0
        for source in rows:
            read += 1
            if read % TICK_ROWS == 0:
                tick(read)
            result = self.checked(source, context, rejections, seen)
            if result is not None:
                yield source.row_number, result
        tick(read)

    def checked(self, source, context: Context, rejections: list, seen: dict) -> dict | None:
        """The clean row of one source row, its key recorded in `seen`; or None, the refusal
        added to `rejections`."""
        result = self.validate(source.values, context)
        if isinstance(result, str):
            rejections.append(Rejection(source.row_number, source.raw, result))
            return None
        key = self.key(result)
        if key in seen:
            reason = self.duplicate.format(first=seen[key])
            rejections.append(Rejection(source.row_number, source.raw, reason))
            return None
        seen[key] = source.row_number
        return result

    def lines(
        self, table, band, context: Context, rejections: list, tick: Callable[[int], None],
        seen: dict,
    ) -> Iterator[str]:  # fmt: skip
        """The COPY lines (parallel_stage) of the valid rows of `band` of `table`, as validated
        would give them; plainly valid rows take the short way (plain.py) when there is one."""
        line = self.parallel_stage.line
        plain_way = self.parallel_stage.plain
        if plain_way is None or table.merges_data:
            for number, row in self.validated(table.rows(*band), context, rejections, tick, seen):
                yield line(number, row)
            return
        quick = plain_way(table.column_map.fields, context, seen)
        shape = table.shaper()
        read = 0
        for number, row in table.numbered(*band):
            text = quick(number, row)
            if text is None:
                source = shape(number, row)
                if source is None:  # not data
                    continue
                result = self.checked(source, context, rejections, seen)
                if result is not None:
                    text = line(number, result)
            read += 1
            if read % TICK_ROWS == 0:
                tick(read)
            if text is not None:
                yield text
        tick(read)


def _apply_household(connection, context: Context, batch_id: int, user_id: int):
    return apply.apply_household(connection, context.scope, batch_id=batch_id, user_id=user_id)


def _apply_resident(connection, context: Context, batch_id: int, user_id: int):
    """The resident list upserts persons like the register, marking them as residents: the
    community given is where they live, so it becomes the region that manages them."""
    return apply.apply_household(
        connection,
        context.scope,
        batch_id=batch_id,
        user_id=user_id,
        list_flag="in_resident_list",
    )


def _apply_insured(connection, context: Context, batch_id: int, user_id: int):
    result = enrollments.apply_enrollments(
        connection, batch_id=batch_id, region_prefix=context.prefix
    )
    # Duplicate enrollment of the ID numbers the list touched, in the batch's transaction.
    detect.after_import(connection, stage=enrollments.STAGE, today=context.today)
    return result


def _validate_insured(values: dict, ctx: Context) -> dict | str:
    return insured_row(values, ctx.scope, ctx.region_code, ctx.today, ctx.prefix, ctx.place_code)


def _validate_lapsed(values: dict, ctx: Context) -> dict | str:
    return lapsed_row(values, ctx.scope, ctx.region_code, ctx.today, ctx.prefix)


def _apply_lapsed(connection, context: Context, batch_id: int, user_id: int):
    return lapsed.apply_lapsed(
        connection,
        context.scope,
        batch_id=batch_id,
        user_id=user_id,
        region_prefix=context.prefix,
    )


HOUSEHOLD_STAGE = ParallelStage(apply.STAGE, apply.FIELDS, apply.stage_line, plain.household_lines)
SAME_PERSON = "与本文件第{first}行是同一人（身份证号相同），同一人只能出现一次"


def _validate_household(values: dict, ctx: Context) -> dict | str:
    return household_row(values, ctx.resolver, ctx.today)


IMPORTERS: dict[str, Importer] = {
    "household": Importer(
        columns.HOUSEHOLD,
        _validate_household,
        itemgetter("id_number"),
        SAME_PERSON,
        apply.create_stage,
        apply.stage_rows,
        _apply_household,
        needs_resolver=True,
        parallel_stage=HOUSEHOLD_STAGE,
    ),
    "resident": Importer(
        columns.RESIDENT,
        _validate_household,
        itemgetter("id_number"),
        SAME_PERSON,
        apply.create_stage,
        apply.stage_rows,
        _apply_resident,
        needs_resolver=True,
        parallel_stage=HOUSEHOLD_STAGE,
    ),
    "insured": Importer(
        columns.INSURED,
        _validate_insured,
        lambda row: tuple(row[k] for k in enrollments.KEY),
        "与本文件第{first}行是同一条参保记录（身份证号、险种、参保地、开始日期相同）",
        enrollments.create_stage,
        enrollments.stage_rows,
        _apply_insured,
    ),
}
IMPORTERS["key_population"] = Importer(
    columns.KEY_POPULATION,
    lambda values, ctx: key_population_row(values, ctx.fixed_category, ctx.today),
    itemgetter("id_number"),
    "与本文件第{first}行是同一人；同一人有多个类别时请写在一行，用“、”分隔",
    key_populations.create_stage,
    key_populations.stage_rows,
    lambda connection, ctx, batch_id, user_id: key_populations.apply_key_populations(
        connection, ctx.scope, batch_id=batch_id, user_id=user_id
    ),
)
IMPORTERS["lapsed"] = Importer(
    columns.LAPSED,
    _validate_lapsed,
    itemgetter("id_number"),
    SAME_PERSON,
    lapsed.create_stage,
    lapsed.stage_rows,
    _apply_lapsed,
)
IMPORTERS["e_credential"] = Importer(
    columns.E_CREDENTIAL,
    lambda values, ctx: e_credential_row(values, ctx.today),
    itemgetter("id_number"),
    SAME_PERSON,
    e_credentials.create_stage,
    e_credentials.stage_rows,
    lambda connection, ctx, batch_id, user_id: e_credentials.apply_e_credentials(
        connection, ctx.scope, batch_id=batch_id, user_id=user_id
    ),
)
# The staging table of each list kind (its persons by id_number): the communities whose figures
# an import changes (stats/maintain.refresh_import).
STAGE_TABLES = {
    "household": apply.STAGE,
    "resident": apply.STAGE,
    "insured": enrollments.STAGE,
    "key_population": key_populations.STAGE,
    "lapsed": lapsed.STAGE,
    "e_credential": e_credentials.STAGE,
}
assert set(STAGE_TABLES) == set(IMPORTERS)
KIND_CHOICES = [(code, importer.list_kind.label) for code, importer in IMPORTERS.items()]
