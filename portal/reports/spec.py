"""The report forms as data: one definition file per form (TOML or JSON) in
portal/reports/definitions/, plus the files of the directory the configuration names
(REPORT_FORMS_DIR): a province adds its own form by dropping a file there, no code.

A definition holds the form's identity (code, title, 表号, 制表机关, 批准文号, 计量单位), its
columns (each with a code used by the rules, a label, an optional header group spanning two
header rows, and a source: a figure name or a sum/difference of figure names of
portal/reports/catalogue.py; no source means the data cannot support the column: it is left
blank and its note says why), and its balance rules ("c3 = c4 + c5", with the Chinese message).
Every name is checked when the file is read: a wrong definition is refused with the file named.
"""

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from portal.reports.expressions import Comparison, ExpressionError, Sum, parse_comparison, parse_sum

BUILT_IN_DIR = Path(__file__).resolve().parent / "definitions"
SUFFIXES = (".toml", ".json")


class DefinitionError(ValueError):
    """A definition file that cannot be used (the message names the file and the fault)."""


@dataclass(frozen=True)
class Column:
    code: str  # what the rules name, e.g. "c3"
    label: str  # the header cell (its lower row when the column is in a group)
    source: str | None  # figure expression; None: left blank (see note)
    group: str | None = None  # the upper header row's merged cell
    note: str | None = None  # 填表说明 for this column
    width: float | None = None

    @property
    def expression(self) -> Sum | None:
        return parse_sum(self.source) if self.source else None


@dataclass(frozen=True)
class Rule:
    check: str  # "c3 = c4 + c5"
    message: str  # "参保人数应等于职工医保与居民医保参保人数之和"

    @property
    def comparison(self) -> Comparison:
        return parse_comparison(self.check)


@dataclass(frozen=True)
class FormDefinition:
    code: str
    title: str  # 基本医疗保险参保情况清查工作汇总表
    table_number: str  # 表号
    authority: str  # 制表机关
    approval: str  # 批准文号
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = ()
    unit: str = "人"  # 计量单位
    order: int = 100
    name_header: str = "地区"  # column 甲
    code_header: str = "区划代码"  # column 乙
    detail: bool = False  # a second sheet listing the persons (not_enrolled)
    notes: tuple[str, ...] = ()  # 填表说明 under the table
    source_file: str = ""

    @property
    def column_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.columns)

    def column(self, code: str) -> Column:
        return next(c for c in self.columns if c.code == code)

    def number(self, code: str) -> int:
        """The column's number in the code row (甲, 乙, then 1, 2, 3 …)."""
        return self.column_codes.index(code) + 1

    def header_groups(self) -> list[tuple[str | None, list[Column]]]:
        """Consecutive columns sharing a group: (group label or None, columns)."""
        runs: list[tuple[str | None, list[Column]]] = []
        for column in self.columns:
            if runs and column.group is not None and runs[-1][0] == column.group:
                runs[-1][1].append(column)
            else:
                runs.append((column.group, [column]))
        return runs

    def as_dict(self) -> dict:
        data = asdict(self)
        data["columns"] = [asdict(c) for c in self.columns]
        data["rules"] = [asdict(r) for r in self.rules]
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict, source_file: str = "", figure_names=None) -> "FormDefinition":
        """Build and check a definition; `figure_names` (a set) also checks the sources."""
        where = source_file or data.get("code", "?")

        def fail(message: str):
            raise DefinitionError(f"报表定义 {where}：{message}")

        if not isinstance(data, dict):
            fail("内容应为键值表")
        for key in ("code", "title", "table_number", "authority", "approval", "columns"):
            if not data.get(key):
                fail(f"缺少 {key}")
        columns = []
        for index, raw in enumerate(data["columns"], 1):
            if not isinstance(raw, dict) or not raw.get("code") or not raw.get("label"):
                fail(f"第 {index} 栏缺少 code 或 label")
            try:
                column = Column(
                    code=str(raw["code"]),
                    label=str(raw["label"]),
                    source=str(raw["source"]) if raw.get("source") else None,
                    group=str(raw["group"]) if raw.get("group") else None,
                    note=str(raw["note"]) if raw.get("note") else None,
                    width=float(raw["width"]) if raw.get("width") else None,
                )
                expression = column.expression
            except (ExpressionError, ValueError) as error:
                fail(f"第 {index} 栏（{raw.get('label')}）的来源无法识别：{error}")
            if expression is None and not column.note:
                fail(f"第 {index} 栏（{column.label}）没有来源，须以 note 说明原因")
            if expression is not None and figure_names is not None:
                unknown = [n for n in expression.names if n not in figure_names]
                if unknown:
                    fail(f"第 {index} 栏（{column.label}）引用了未知的指标：{'、'.join(unknown)}")
            columns.append(column)
        codes = [c.code for c in columns]
        if len(set(codes)) != len(codes):
            fail("栏目代码重复")
        groups_seen: list[str] = []
        for column, previous in zip(columns, [None, *columns[:-1]], strict=False):
            if column.group and (previous is None or previous.group != column.group):
                if column.group in groups_seen:
                    fail(f"表头分组「{column.group}」的栏目不相邻")
                groups_seen.append(column.group)
        rules = []
        for index, raw in enumerate(data.get("rules") or (), 1):
            if not isinstance(raw, dict) or not raw.get("check") or not raw.get("message"):
                fail(f"第 {index} 条平衡关系缺少 check 或 message")
            rule = Rule(str(raw["check"]), str(raw["message"]))
            try:
                comparison = rule.comparison
            except ExpressionError as error:
                fail(f"第 {index} 条平衡关系无法识别：{error}")
            unknown = [n for n in comparison.names if n not in codes]
            if unknown:
                fail(f"第 {index} 条平衡关系引用了未知的栏目：{'、'.join(unknown)}")
            rules.append(rule)
        return cls(
            code=str(data["code"]),
            title=str(data["title"]),
            table_number=str(data["table_number"]),
            authority=str(data["authority"]),
            approval=str(data["approval"]),
            columns=tuple(columns),
            rules=tuple(rules),
            unit=str(data.get("unit") or "人"),
            order=int(data.get("order") or 100),
            name_header=str(data.get("name_header") or "地区"),
            code_header=str(data.get("code_header") or "区划代码"),
            detail=bool(data.get("detail", False)),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            source_file=source_file,
        )


def read_file(path: Path, figure_names=None) -> FormDefinition:
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DefinitionError(f"报表定义 {path.name} 无法读取：{error}") from None
    return FormDefinition.from_dict(data, path.name, figure_names)


def read_directory(
    directory: Path, figure_names=None, errors: list[str] | None = None
) -> dict[str, FormDefinition]:
    """Every definition file of a directory, by form code. A file that cannot be used (or
    repeats a code) raises DefinitionError, or with `errors` (a list) is left out and its
    message added there."""
    found: dict[str, FormDefinition] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        if path.suffix not in SUFFIXES or path.name.startswith((".", "_")):
            continue
        try:
            definition = read_file(path, figure_names)
            if definition.code in found:
                raise DefinitionError(f"报表定义 {path.name}：报表代码 {definition.code} 重复")
        except DefinitionError as error:
            if errors is None:
                raise
            errors.append(str(error))
            continue
        found[definition.code] = definition
    return found
