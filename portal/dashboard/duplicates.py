"""The dashboard's 重复参保 section: a region's duplicate-enrollment figures
(portal/duplicates/figures.py), each linking to the duplicate worklist filtered alike.

The worklist (portal/duplicates/views.py, endpoint duplicates.index) takes `stage` (open: every
open case, pending: open without a proposal, awaiting: proposed, waiting for the second user,
resolved, not_duplicate), `kind` (employee, resident, cross), `region` (a region code) and
`year`; STATE_PARAM names the stage's parameter. A case counts once, where it belongs (the
person's community, else a record's insured place); the worklist of a region lists every case
holding one of its records, so a case shared with another county counts on one side and is
listed on both: the section says so, and shows the records (人次) insured in the region.
"""

from dataclasses import dataclass

from flask import current_app, url_for

from permissions import can
from portal.duplicates import figures as duplicate_figures

WORKLIST = "duplicates.index"
ACTION = "duplicate.handle"
STATE_PARAM = "stage"


@dataclass(frozen=True)
class Item:
    label: str
    value: int
    url: str | None = None
    key: str = ""


@dataclass(frozen=True)
class Section:
    figures: duplicate_figures.DuplicateFigures
    found: list[Item]  # by kind, then the total
    states: list[Item]  # 未办结 (待处理 and 待确认), 已处理, 非重复
    deductions: Item
    records: Item
    own_level: duplicate_figures.DuplicateFigures | None  # the 本级 entry (children + 本级)
    worklist: str | None  # the region's whole worklist for the year


class WorklistLinks:
    """Links into the duplicate worklist, when it exists and the actor may open it there."""

    def __init__(self, actor, region_code: str, year: int):
        self.enabled = WORKLIST in current_app.view_functions and can(actor, ACTION, region_code)
        self.region_code = region_code
        self.year = year

    def __call__(self, region_code: str | None = None, **filters) -> str | None:
        if not self.enabled:
            return None
        if "state" in filters:
            filters[STATE_PARAM] = filters.pop("state")
        return url_for(WORKLIST, region=region_code or self.region_code, year=self.year, **filters)


def section(actor, region_code: str, year: int) -> Section:
    figures = duplicate_figures.region_duplicates(region_code, year)
    children = duplicate_figures.child_duplicates(region_code, year)
    own = next((f for child, f in children if child is None), None)
    link = WorklistLinks(actor, region_code, year)
    found = [
        Item("职工医保制度内", figures.cases_employee, link(kind="employee"), "employee"),
        Item("居民医保制度内", figures.cases_resident, link(kind="resident"), "resident"),
        Item("跨制度", figures.cases_cross, link(kind="cross"), "cross"),
        Item("合计", figures.cases, link(), "cases"),
    ]
    states = [
        # Every open case: waiting for a proposal (待处理) or for its confirmation (待确认).
        Item("未办结", figures.open, link(state="open"), "open"),
        Item("已处理", figures.resolved, link(state="resolved"), "resolved"),
        Item("非重复", figures.not_duplicate, link(state="not_duplicate"), "not_duplicate"),
    ]
    return Section(
        figures=figures,
        found=found,
        states=states,
        deductions=Item("财政补助扣减", figures.subsidy_deductions, None, "subsidy_deductions"),
        records=Item("本区参保记录涉及", figures.records, link(), "records"),
        own_level=own,
        worklist=link(),
    )


def open_cases_by_child(region_code: str, year: int) -> dict[str, int]:
    """Child code → its open duplicate cases (未办结: 待处理 and 待确认): the children table's
    column."""
    return {
        child.code: figures.open
        for child, figures in duplicate_figures.child_duplicates(region_code, year)
        if child is not None
    }


def attach_open_cases(children, region_code: str, year: int, figures=None) -> None:
    """Give each child's Figures (and the region's own, `figures`) the open duplicate cases the
    children table shows (table.COLUMNS duplicates_open)."""
    by_child = open_cases_by_child(region_code, year)
    for child, child_figures in children:
        child_figures.duplicates_open = by_child.get(child.code, 0)
    if figures is not None:
        figures.duplicates_open = duplicate_figures.region_duplicates(region_code, year).open
