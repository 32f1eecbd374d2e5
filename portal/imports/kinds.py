"""The lists the portal applies, as data: how each one validates, stages and applies its rows.

A kind is offered for upload only once its import is built end to end.
"""

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from operator import itemgetter

from permissions import Scope
from portal.imports import apply, columns, enrollments, key_populations, lapsed
from portal.imports.validation import (
    RegionResolver,
    Rejection,
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


@dataclass(frozen=True)
class ParallelStage:
    table: str
    fields: tuple[str, ...]
    line: Callable[[int, dict], str]  # (row number, validated row) → one line, with its newline


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
            result = self.validate(source.values, context)
            if isinstance(result, str):
                rejections.append(Rejection(source.row_number, source.raw, result))
                continue
            key = self.key(result)
            if key in seen:
                reason = self.duplicate.format(first=seen[key])
                rejections.append(Rejection(source.row_number, source.raw, reason))
                continue
            seen[key] = source.row_number
            yield source.row_number, result
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
    return enrollments.apply_enrollments(connection, batch_id=batch_id)


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
        parallel_stage=ParallelStage(apply.STAGE, apply.FIELDS, apply.stage_line),
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
        parallel_stage=ParallelStage(apply.STAGE, apply.FIELDS, apply.stage_line),
    ),
    "insured": Importer(
        columns.INSURED,
        lambda values, ctx: insured_row(values, ctx.scope, ctx.region_code, ctx.today),
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
    lambda values, ctx: lapsed_row(values, ctx.scope, ctx.region_code, ctx.today),
    itemgetter("id_number"),
    SAME_PERSON,
    lapsed.create_stage,
    lapsed.stage_rows,
    lambda connection, ctx, batch_id, user_id: lapsed.apply_lapsed(
        connection, ctx.scope, batch_id=batch_id, user_id=user_id
    ),
)
KIND_CHOICES = [(code, importer.list_kind.label) for code, importer in IMPORTERS.items()]
