"""The official report forms (报表) of a region for an insurance year: computed from the
maintained figures, checked against their balance rules, frozen into snapshots, compared, and
written as the workbooks offices exchange.

The forms are data (portal/reports/spec.py, definitions/*.toml, plus REPORT_FORMS_DIR). A form's
rows are the region's child regions (zeros included, code order; a 本级 row after them when a
duplicate case counts at the region's own level), its 合计 row their sum. Scope is NOT checked
here: the views (and the submission workflow) check `permissions` first.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask import current_app, has_app_context

from portal.extensions import db
from portal.regions.models import Region
from portal.reports import catalogue, spec
from portal.reports.spec import FormDefinition

TOTAL_NAME = "合计"
TOTAL_CODE = "total"  # the 合计 row's region_code
SNAPSHOT_VERSION = 1


class _Registry(Mapping):
    """FORMS: the built-in definitions, plus those of the configured directory
    (REPORT_FORMS_DIR, read again whenever its files change), by code, in form order. A file
    of that directory that cannot be used is left out and named in `errors` (the built-in
    forms stay usable whatever a province drops there)."""

    def __init__(self) -> None:
        self._built_in: dict[str, FormDefinition] | None = None
        self._extra: tuple[tuple, dict[str, FormDefinition], list[str]] = ((), {}, [])

    def _built_ins(self) -> dict[str, FormDefinition]:
        if self._built_in is None:
            self._built_in = spec.read_directory(spec.BUILT_IN_DIR, catalogue.NAMES)
        return self._built_in

    def _configured(self) -> dict[str, FormDefinition]:
        directory = current_app.config.get("REPORT_FORMS_DIR") if has_app_context() else None
        if not directory:
            self._extra = ((), {}, [])
            return {}
        path = Path(directory)
        files = sorted(path.glob("*")) if path.is_dir() else []
        key = (str(path), *((f.name, f.stat().st_mtime_ns) for f in files if f.is_file()))
        if self._extra[0] != key:
            errors: list[str] = []
            found = spec.read_directory(path, catalogue.NAMES, errors)
            for code, definition in list(found.items()):
                if code in self._built_ins():
                    del found[code]
                    errors.append(
                        f"报表定义 {definition.source_file}：报表代码 {code} 与内置报表重复"
                    )
            self._extra = (key, found, errors)
        return self._extra[1]

    @property
    def errors(self) -> list[str]:
        """The configured directory's files left out, each with why (Chinese)."""
        self._configured()
        return list(self._extra[2])

    def _all(self) -> dict[str, FormDefinition]:
        forms = self._built_ins() | self._configured()
        return dict(sorted(forms.items(), key=lambda item: (item[1].order, item[0])))

    def __getitem__(self, code: str) -> FormDefinition:
        return self._all()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


FORMS: Mapping[str, FormDefinition] = _Registry()


@dataclass
class FormRow:
    region_code: str
    name: str
    values: dict[str, int]  # column code → value (a column without a source: absent)


@dataclass
class FormTable:
    form_code: str
    region_code: str
    region_name: str
    year: int
    rows: list[FormRow]
    total: FormRow
    as_of: datetime | None
    # The definition the table was computed (or submitted) with; a snapshot carries its own.
    definition: FormDefinition | None = field(default=None, repr=False)
    frozen: bool = False  # rebuilt from a snapshot: no detail list to read

    @property
    def form(self) -> FormDefinition:
        return self.definition or FORMS[self.form_code]

    @property
    def title(self) -> str:
        """盐城市2027年度基本医疗保险参保情况清查工作汇总表"""
        return f"{self.region_name}{self.year}年度{self.form.title}"

    def to_snapshot(self) -> dict:
        """JSON-serialisable and complete enough to re-render the form as it was (the
        definition included: a later change of the definition leaves it as submitted)."""
        return {
            "version": SNAPSHOT_VERSION,
            "form_code": self.form_code,
            "region_code": self.region_code,
            "region_name": self.region_name,
            "year": self.year,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "rows": [_row_data(row) for row in self.rows],
            "total": _row_data(self.total),
            "definition": self.form.as_dict(),
        }

    @classmethod
    def from_snapshot(cls, data: dict) -> "FormTable":
        definition_data = data.get("definition")
        definition = (
            FormDefinition.from_dict(definition_data, definition_data.get("source_file", ""))
            if definition_data
            else FORMS[data["form_code"]]
        )
        as_of = data.get("as_of")
        return cls(
            form_code=data["form_code"],
            region_code=data["region_code"],
            region_name=data["region_name"],
            year=int(data["year"]),
            rows=[_row_from(row) for row in data["rows"]],
            total=_row_from(data["total"]),
            as_of=datetime.fromisoformat(as_of) if as_of else None,
            definition=definition,
            frozen=True,
        )


def _row_data(row: FormRow) -> dict:
    return {"region_code": row.region_code, "name": row.name, "values": dict(row.values)}


def _row_from(data: dict) -> FormRow:
    values = {str(k): int(v) for k, v in (data.get("values") or {}).items()}
    return FormRow(str(data["region_code"]), str(data["name"]), values)


def _values(definition: FormDefinition, figures: dict[str, int]) -> dict[str, int]:
    values = {}
    for column in definition.columns:
        expression = column.expression
        if expression is not None:
            values[column.code] = expression.value(figures)
    return values


def total_of(definition: FormDefinition, rows: list[FormRow]) -> FormRow:
    """The 合计 row: the sum of the rows, column by column."""
    values = {}
    for column in definition.columns:
        if column.source:
            values[column.code] = sum(row.values.get(column.code, 0) for row in rows)
    return FormRow(TOTAL_CODE, TOTAL_NAME, values)


def compute(form_code: str, region_code: str, year: int) -> FormTable:
    """The form of `region_code` for insurance year `year`, from the maintained figures: one
    row per child region (zeros included), the 合计 row their sum. No scope check."""
    definition = FORMS[form_code]
    region = db.session.get(Region, region_code)
    if region is None:
        raise LookupError(f"no region {region_code!r}")
    names = {n for column in definition.columns if column.source for n in column.expression.names}
    found = catalogue.catalogue(region.code, year, names)
    rows = [FormRow(e.code, e.name, _values(definition, e.values)) for e in found.entries]
    return FormTable(
        form_code=definition.code,
        region_code=region.code,
        region_name=region.name,
        year=int(year),
        rows=rows,
        total=total_of(definition, rows),
        as_of=found.as_of,
        definition=definition,
    )


def _column_words(definition: FormDefinition, code: str) -> str:
    column = definition.column(code)
    label = f"{column.group}{column.label}" if column.group else column.label
    return f"第{definition.number(code)}栏（{label}）"


def _side_words(definition: FormDefinition, side, values: dict[str, int]) -> str:
    words = []
    for index, (sign, name) in enumerate(side.terms):
        term = name if name.isdigit() else _column_words(definition, name)
        if index:
            words.append("+" if sign > 0 else "−")
        elif sign < 0:
            words.append("−")
        words.append(term)
    return f"{''.join(words)} = {side.value(values)}"


_OPERATOR_WORDS = {"=": "≠", "<=": ">", ">=": "<"}


def check(table: FormTable) -> list[str]:
    """The balance rules that fail, each a Chinese message naming the row and the columns;
    also a 合计 row that is not the sum of the rows. [] when all hold."""
    definition = table.form
    failures = []
    for row in [*table.rows, table.total]:
        for rule in definition.rules:
            comparison = rule.comparison
            if comparison.holds(row.values) is False:
                left = _side_words(definition, comparison.left, row.values)
                right = _side_words(definition, comparison.right, row.values)
                failures.append(
                    f"「{row.name}」行：{rule.message}（{left}，"
                    f"{_OPERATOR_WORDS[comparison.operator]} {right}）。"
                )
    expected = total_of(definition, table.rows)
    for column in definition.columns:
        have, want = table.total.values.get(column.code), expected.values.get(column.code)
        if column.source and have != want:
            failures.append(
                f"「{TOTAL_NAME}」行：{_column_words(definition, column.code)}为 {have}，"
                f"不等于各行之和 {want}。"
            )
    return failures


@dataclass(frozen=True)
class Difference:
    """A figure that changed since the form was submitted (报送后变动)."""

    region_code: str
    region_name: str
    column_code: str
    column_label: str
    submitted: int | None
    current: int | None


def differences(submitted: FormTable, current: FormTable) -> list[Difference]:
    """Every (row, column) whose value differs between the submitted and the current table,
    the 合计 row included (last), rows matched by region code, in the submitted order (rows only
    one side has come after, with None on the other side)."""
    definition = submitted.form
    labels = {
        c.code: (f"{c.group}·{c.label}" if c.group else c.label)
        for c in (*current.form.columns, *definition.columns)
    }
    codes = list(definition.column_codes)
    codes += [c for c in current.form.column_codes if c not in codes]
    before = {row.region_code: row for row in submitted.rows}
    after = {row.region_code: row for row in current.rows}
    order = [r.region_code for r in submitted.rows]
    order += [r.region_code for r in current.rows if r.region_code not in before]
    result = []
    pairs = [(before.get(code), after.get(code)) for code in order]
    pairs.append((submitted.total, current.total))
    for old, new in pairs:
        row = old or new
        for code in codes:
            a = old.values.get(code) if old else None
            b = new.values.get(code) if new else None
            if a != b:
                result.append(Difference(row.region_code, row.name, code, labels[code], a, b))
    return result


def write_workbook(
    table: FormTable, stream, *, actor=None, detail: bool = True, full: bool = False
) -> None:
    """The form as an .xlsx written to `stream` (a binary file or a path): the form sheet, and
    for a form with a detail list the second sheet (masked unless `full` and the actor holds
    person.unmask; omitted for a table rebuilt from a snapshot). See portal/reports/workbook.py."""
    from portal.reports import workbook

    workbook.write(table, stream, actor=actor, detail=detail, full=full)


__all__ = [
    "FORMS",
    "TOTAL_CODE",
    "TOTAL_NAME",
    "Difference",
    "FormDefinition",
    "FormRow",
    "FormTable",
    "check",
    "compute",
    "differences",
    "total_of",
    "write_workbook",
]
