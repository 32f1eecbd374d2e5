"""A tiny, safe evaluator for the forms' data: sums and differences of names, and balance rules
comparing two such sums. Never eval(): a definition file is data a province writes.

    "insured_employee + insured_resident"      a column's source over figure names
    "c3 = c4 + c5"  "c9 <= c8"                 a balance rule over column codes
"""

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TERM = re.compile(rf"\s*([+-])?\s*({_NAME}|\d+)\s*")
OPERATORS = ("<=", ">=", "=")


class ExpressionError(ValueError):
    """A source or rule that cannot be read (the message says why, in Chinese)."""


@dataclass(frozen=True)
class Sum:
    """Signed terms: ((+1, "insured_employee"), (+1, "insured_resident")); a term may be an
    integer constant."""

    terms: tuple[tuple[int, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.terms if not name.isdigit())

    def value(self, values: dict[str, int]) -> int | None:
        """The sum over `values`; None when a name has no value (a column left blank)."""
        total = 0
        for sign, name in self.terms:
            if name.isdigit():
                total += sign * int(name)
                continue
            value = values.get(name)
            if value is None:
                return None
            total += sign * value
        return total

    def __str__(self) -> str:
        parts = []
        for index, (sign, name) in enumerate(self.terms):
            if index == 0:
                parts.append(name if sign > 0 else f"-{name}")
            else:
                parts.append(f"{'+' if sign > 0 else '-'} {name}")
        return " ".join(parts)


def parse_sum(text: str) -> Sum:
    """'a + b - c' → Sum; refuses anything else (calls, attributes, operators other than ±)."""
    source = (text or "").strip()
    if not source:
        raise ExpressionError("表达式为空")
    terms, position = [], 0
    while position < len(source):
        match = _TERM.match(source, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"无法识别的表达式：{source!r}（第 {position + 1} 个字符起）")
        sign, name = match.groups()
        if sign is None and terms:
            raise ExpressionError(f"表达式中两个名称之间缺少 + 或 -：{source!r}")
        terms.append((-1 if sign == "-" else 1, name))
        position = match.end()
    return Sum(tuple(terms))


@dataclass(frozen=True)
class Comparison:
    """left OP right, OP one of = <= >=."""

    left: Sum
    operator: str
    right: Sum

    @property
    def names(self) -> tuple[str, ...]:
        return self.left.names + self.right.names

    def holds(self, values: dict[str, int]) -> bool | None:
        """Whether it holds; None when a side has a blank column (nothing to check)."""
        left, right = self.left.value(values), self.right.value(values)
        if left is None or right is None:
            return None
        if self.operator == "=":
            return left == right
        if self.operator == "<=":
            return left <= right
        return left >= right

    def __str__(self) -> str:
        return f"{self.left} {self.operator} {self.right}"


def parse_comparison(text: str) -> Comparison:
    source = (text or "").strip()
    for operator in OPERATORS:  # "<=" and ">=" before "="
        if operator in source:
            left, _, right = source.partition(operator)
            if any(op in right for op in ("=", "<", ">")):
                raise ExpressionError(f"规则只能有一个比较符：{source!r}")
            return Comparison(parse_sum(left), operator, parse_sum(right))
    raise ExpressionError(f"规则缺少比较符（=、<=、>=）：{source!r}")
