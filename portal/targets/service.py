"""Targets: reading them, measuring progress against them, and setting them.

Scope is NOT checked here: the views check `permissions` (target.set / stats.view) for the
region first. Business rules (what a valid target is) live here, not in views or templates.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from portal.audit import operations as audit
from portal.extensions import db
from portal.regions.models import Region
from portal.stats.figures import child_figures
from portal.targets.models import RATE_SCALE, RegionTarget
from portal.timeutil import utcnow

AUDIT_ACTION = "target.set"


def targets_of_children(parent_code: str, year: int) -> dict[str, RegionTarget]:
    """The targets of the child regions of `parent_code` for `year`, keyed by child code
    (children without a target are absent). One query."""
    children = select(Region.code).where(Region.parent_code == parent_code)
    rows = db.session.scalars(
        select(RegionTarget).where(
            RegionTarget.year == year, RegionTarget.region_code.in_(children)
        )
    )
    return {t.region_code: t for t in rows}


def target_of(region_code: str, year: int) -> RegionTarget | None:
    """The target the parent set for this region and year, if any."""
    return db.session.get(RegionTarget, (year, region_code))


def progress(target: RegionTarget | None, figures) -> float | None:
    """How far the region is towards its target, 1.0 = reached (may exceed 1).

    rate: coverage ÷ target rate; count: insured ÷ target count. None without a target, without
    figures, without a coverage (nobody to insure) or for a zero target (nothing to measure)."""
    if target is None or figures is None or target.value <= 0:
        return None
    if target.kind == "rate":
        coverage = figures.coverage
        if coverage is None:
            return None
        return coverage / (target.value / RATE_SCALE)
    return figures.insured / target.value


def format_rate_value(basis_points: int) -> str:
    """9650 → "96.5", 9500 → "95", 9655 → "96.55" (no trailing zeros)."""
    whole, part = divmod(basis_points, 100)
    return f"{whole}" if part == 0 else f"{whole}.{part:02d}".rstrip("0")


def target_label(target: RegionTarget | None) -> str:
    """ "96.5%" for a rate, "12,000 人" for a count, "—" without a target."""
    if target is None:
        return "—"
    if target.kind == "rate":
        return f"{format_rate_value(target.value)}%"
    return f"{target.value:,} 人"


# --- parsing what a user typed ----------------------------------------------------------------
#
# A rate is typed in percent: "95", "95%", "95.5", "96.25 %", full-width digits ("９５．５％")
# too. A number at or below 1 with a decimal point is NOT read as a fraction: "0.95" is 0.95 %,
# not 95 % (a page that guessed would read "1" and "1.0" differently). Two decimals at most (the
# target is kept in basis points). An Excel cell formatted as a percentage holds the fraction
# (0.95 for 95 %): the upload reader multiplies it by 100 before it gets here (excel.py).
# A count is a whole number of persons ("12000", "12,000", "12000人"; 12000.0 from a numeric
# Excel cell).


class TargetError(ValueError):
    """A value that is not a valid target; the message is Chinese, for the user."""


KIND_CODES = ("rate", "count")
_PERCENT_SIGNS = ("%", "％")


def _normal(text) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().replace(" ", "")


def parse_rate(text) -> int:
    """A typed rate in percent → basis points (0–10000). Raises TargetError."""
    raw = _normal(text)
    number = raw.rstrip("%").strip()
    try:
        value = Decimal(number)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not number:
        raise TargetError(f"目标参保率“{raw}”不是数字，请填写百分数，例如 95 或 96.5%")
    if value < 0 or value > 100:
        raise TargetError(f"目标参保率须在 0～100% 之间（填写的是 {raw}）")
    points = value * 100
    if points != points.to_integral_value():
        raise TargetError(f"目标参保率最多保留两位小数（填写的是 {raw}）")
    return int(points)


def parse_count(text) -> int:
    """A typed number of persons → int ≥ 0. Raises TargetError."""
    raw = _normal(text)
    number = raw.replace(",", "").removesuffix("人")
    try:
        value = Decimal(number)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not number:
        raise TargetError(f"目标参保人数“{raw}”不是数字，请填写整数人数，例如 12000")
    if value < 0:
        raise TargetError(f"目标参保人数不能为负数（填写的是 {raw}）")
    if value != value.to_integral_value():
        raise TargetError(f"目标参保人数须为整数（填写的是 {raw}）")
    return int(value)


def value_text(target: RegionTarget | None) -> str:
    """The value of a target as the form's input shows it ("96.5" / "12000"), "" without one."""
    if target is None:
        return ""
    return format_rate_value(target.value) if target.kind == "rate" else str(target.value)


# --- setting the targets of a region's children -----------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One child's target as typed: kind 'rate' | 'count', text the value ("" clears it)."""

    region_code: str
    kind: str
    text: str


@dataclass
class Checked:
    """The outcome of checking entries: the values to store (None: clear) or, per child code,
    a Chinese message. Nothing is written while `errors` is not empty."""

    values: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)  # codes written by set_targets

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_one(entry: Entry, must_insure: int) -> tuple[str, int] | None:
    if not _normal(entry.text):
        return None
    if entry.kind == "rate":
        return "rate", parse_rate(entry.text)
    if entry.kind == "count":
        value = parse_count(entry.text)
        if value > must_insure:
            raise TargetError(
                f"目标参保人数 {value:,} 超过该地区应参保人数 {must_insure:,}"
                + ("（该年度尚无比对数据）" if must_insure == 0 else "")
            )
        return "count", value
    raise TargetError("请选择目标类型：参保率或参保人数")


def check_targets(parent_code: str, year: int, entries: Iterable[Entry]) -> Checked:
    """Check every entry against the rules (a child of `parent_code`, rate 0–100 %, count a
    whole number within the child's 应参保人数 of `year`); writes nothing."""
    checked = Checked()
    population = {r.code: f.must_insure for r, f in child_figures(parent_code, year)}
    for entry in entries:
        if entry.region_code not in population:
            checked.errors[entry.region_code] = f"{entry.region_code} 不是本区划的下级区划"
            continue
        try:
            checked.values[entry.region_code] = _check_one(entry, population[entry.region_code])
        except TargetError as exc:
            checked.errors[entry.region_code] = str(exc)
    return checked


def _label(kind_value: tuple[str, int] | None) -> str:
    if kind_value is None:
        return "未设定"
    kind, value = kind_value
    return target_label(RegionTarget(kind=kind, value=value))


def set_targets(actor, parent_code: str, year: int, entries: Iterable[Entry]) -> Checked:
    """Set the targets of children of `parent_code` for `year`, all or nothing (no commit).

    Any invalid entry refuses them all (`errors` per child code, nothing written). Each target
    that changes is written and audited (old → new); an unchanged one writes nothing; an empty
    value clears the target. The caller has checked target.set on `parent_code`."""
    entries = list(entries)
    checked = check_targets(parent_code, year, entries)
    if not checked.ok:
        checked.values = {}
        return checked
    codes = list(checked.values)
    if not codes:
        return checked
    # One writer at a time per parent: two officers saving at once would otherwise both insert
    # a child's first target (a primary-key conflict) or each audit an "old" the other replaced.
    db.session.execute(select(Region.code).where(Region.code == parent_code).with_for_update())
    existing = {
        t.region_code: t
        for t in db.session.scalars(
            select(RegionTarget)
            .where(RegionTarget.year == year, RegionTarget.region_code.in_(codes))
            .with_for_update()
        )
    }
    names = {
        code: name
        for code, name in db.session.execute(
            select(Region.code, Region.name).where(Region.code.in_(codes))
        )
    }
    now = utcnow()
    for code in codes:
        new = checked.values[code]
        current = existing.get(code)
        old = (current.kind, current.value) if current is not None else None
        if new == old:
            continue
        if new is None:
            db.session.delete(current)
        elif current is None:
            db.session.add(
                RegionTarget(
                    year=year,
                    region_code=code,
                    kind=new[0],
                    value=new[1],
                    updated_by_id=actor.id,
                    updated_at=now,
                )
            )
        else:
            current.kind, current.value = new
            current.updated_by_id, current.updated_at = actor.id, now
        audit.record(
            AUDIT_ACTION,
            actor=actor,
            target_type="region_target",
            target_id=f"{year}:{code}",
            target_label=f"{names.get(code, code)} {year} 参保年度目标",
            region_code=code,
            detail={"参保年度": year, "原目标": _label(old), "新目标": _label(new)},
        )
        checked.changed.append(code)
    db.session.flush()
    return checked
