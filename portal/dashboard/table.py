"""Turning Figures into what the dashboard shows: headline cards, child rows, sorting, ranking,
and where each count links.

The columns are a table (COLUMNS): the page, its sort links and the Excel export all read it.
Rank is by coverage among siblings, 1 the best; equal coverage shares a rank (1, 1, 3); a region
without anyone to insure has no coverage and no rank. Beside the figures, each child row carries
the target its parent set (portal.targets) and the progress towards it (目标, 完成进度), and a
rank by progress (进度排名, in the export) ranked the same way.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import url_for

from permissions import scope_for
from portal.dashboard.duplicates import WorklistLinks
from portal.persons import codes
from portal.persons.queries import GOVERNMENT_PAID, region_choice, region_choices
from portal.regions.models import Region
from portal.targets import service as targets
from portal.timeutil import format_local, local_today, to_local

COMMUNITY = 5
NO_REASON_LABEL = "未填写原因"


# --- reading one figure set -------------------------------------------------------------------
# The one place that knows portal.stats' field names.


def files_in(figures, state: str) -> int:
    return int(figures.files.get(state, 0))


def open_files(figures) -> int:
    return figures.open_files


@dataclass(frozen=True)
class Column:
    """One column of the child table (and of the export)."""

    key: str
    label: str
    value: Callable[[object], int | float | None]
    rate: bool = False
    # The persons list filter that lists exactly this count, where one exists.
    persons_filter: dict | None = None
    alarm: bool = False  # a non-zero value is a problem to see at once
    # The duplicate worklist filter that lists this count's cases, where one does.
    worklist_filter: dict | None = None


# The persons-list filters that list exactly what the figures count (persons/queries.py
# POPULATION_CHOICES: the must-insure population, exclusions and not-yet-compared persons
# included as portal/stats/counts.py counts them).
MUST_INSURE = {"population": "must"}
INSURED = {"population": "must", "insured_status": "insured"}
UNINSURED = {"population": "must_uninsured"}
EXCLUDED = {"population": "excluded"}


COLUMNS: tuple[Column, ...] = (
    Column("must_insure", "应参保", lambda f: f.must_insure, persons_filter=MUST_INSURE),
    Column("insured", "已参保", lambda f: f.insured, persons_filter=INSURED),
    Column("coverage", "参保率", lambda f: f.coverage, rate=True),
    Column("uninsured", "未参保", lambda f: f.uninsured, persons_filter=UNINSURED),
    Column(
        "government_paid_gap",
        "重点人群缺口",
        lambda f: f.government_paid_gap,
        persons_filter={**UNINSURED, "key_population": GOVERNMENT_PAID},
        alarm=True,
    ),
    Column("open_files", "在办档案", open_files),
    Column(
        "unassigned",
        "待分配",
        lambda f: files_in(f, "unassigned"),
        persons_filter={"file_state": "unassigned"},
    ),
    Column(
        "e_credential",
        "电子凭证激活率",
        lambda f: f.e_credential_rate,
        rate=True,
    ),
    # Open duplicate-enrollment cases (portal/duplicates/figures.py), attached to the figures by
    # dashboard/duplicates.attach_open_cases ("—" where nobody attached them).
    Column(
        "duplicates_open",
        "重复参保未办结",
        lambda f: getattr(f, "duplicates_open", None),
        worklist_filter={"state": "open"},
    ),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
NAME, RANK = "name", "rank"
# The target the parent set for the child, and the progress towards it (not figures: Row).
TARGET, PROGRESS = "target", "progress"
TARGET_LABEL, PROGRESS_LABEL, PROGRESS_RANK_LABEL = "目标", "完成进度", "进度排名"
SORT_KEYS = {NAME, RANK, TARGET, PROGRESS, *COLUMN_BY_KEY}
# The sort form (the header links are hidden on a phone): every column, by its label.
SORT_CHOICES = (
    (NAME, "区划代码"),
    (RANK, "排名"),
    (TARGET, TARGET_LABEL),
    (PROGRESS, PROGRESS_LABEL),
    *((c.key, c.label) for c in COLUMNS),
)


def format_rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def display(column: Column, figures) -> str:
    value = column.value(figures)
    if column.rate:
        return format_rate(value)
    return "—" if value is None else str(value)


# --- sorting and ranking ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    """`?sort=<column>&dir=asc|desc`; anything else is code order."""

    key: str = NAME
    descending: bool = False

    @classmethod
    def parse(cls, key: str | None, direction: str | None) -> "Sort":
        if key not in SORT_KEYS:
            return cls()
        return cls(key, direction == "desc")

    def args(self, key: str) -> dict:
        """The query arguments of a header link: the same column again flips the direction;
        a new column starts with what a reader wants first (rank ascending, numbers highest)."""
        if key == self.key:
            return {"sort": key, "dir": "asc" if self.descending else "desc"}
        first = "asc" if key in (NAME, RANK) else "desc"
        return {"sort": key, "dir": first}

    def marker(self, key: str) -> str:
        if key != self.key:
            return ""
        return "▼" if self.descending else "▲"

    def aria(self, key: str) -> str:
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"


@dataclass(frozen=True)
class Row:
    region: Region
    figures: object
    rank: int | None
    target: object | None = None  # the RegionTarget its parent set for the year
    progress: float | None = None  # towards the target (targets.progress), 1.0 = reached
    progress_rank: int | None = None

    def value(self, key: str):
        if key == RANK:
            return self.rank
        if key == NAME:
            return self.region.code
        if key == TARGET:  # rates before counts, each by its value
            return None if self.target is None else (self.target.kind != "rate", self.target.value)
        if key == PROGRESS:
            return self.progress
        return COLUMN_BY_KEY[key].value(self.figures)

    @property
    def target_text(self) -> str:
        return targets.target_label(self.target)

    @property
    def progress_text(self) -> str:
        return format_rate(self.progress)


def _competition(values: dict[str, float]) -> dict[str, int]:
    return {
        code: 1 + sum(1 for other in values.values() if other > v) for code, v in values.items()
    }


def ranks(children: list[tuple[Region, object]]) -> dict[str, int]:
    """Competition ranking by coverage, highest first; regions without coverage are unranked."""
    return _competition({r.code: f.coverage for r, f in children if f.coverage is not None})


def progress_ranks(progress: dict[str, float | None]) -> dict[str, int]:
    """The same by progress towards the target; regions without a target are unranked."""
    return _competition({code: p for code, p in progress.items() if p is not None})


def child_rows(
    children: list[tuple[Region, object]], sort: Sort, child_targets: dict | None = None
) -> list[Row]:
    """One row per child, ranked, in the requested order (empty values last either way).

    `child_targets`: child code → RegionTarget (targets.targets_of_children, one query)."""
    child_targets = child_targets or {}
    ranked = ranks(children)
    progress = {
        region.code: targets.progress(child_targets.get(region.code), figures)
        for region, figures in children
    }
    by_progress = progress_ranks(progress)
    rows = [
        Row(
            region,
            figures,
            ranked.get(region.code),
            child_targets.get(region.code),
            progress[region.code],
            by_progress.get(region.code),
        )
        for region, figures in children
    ]
    rows.sort(key=lambda r: r.region.code)
    present = [r for r in rows if r.value(sort.key) is not None]
    missing = [r for r in rows if r.value(sort.key) is None]
    present.sort(key=lambda r: r.value(sort.key), reverse=sort.descending)  # stable: code order
    return present + missing


# --- the headline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """One figure with its label and the persons-list filter that lists it, if any."""

    label: str
    value: int
    persons_filter: dict | None = None


@dataclass(frozen=True)
class Headline:
    """The headline figures of one region, named as the page shows them."""

    register: int
    resident_only: int
    excluded: int  # 死亡, 出国(境)定居, 参加其他保障 together (the figures give one number)
    must_insure: int
    insured: int
    coverage: float | None
    uninsured: int
    schemes: list[Count]
    insured_local: int
    insured_elsewhere: int
    government_paid_must_insure: int
    government_paid_insured: int
    government_paid_gap: int
    government_paid_coverage: float | None
    e_credential: int
    e_credential_rate: float | None
    mismatches: int
    reasons: list[Count]
    states: list[Count]
    open_files: int
    as_of: str
    # The persons-list filter of each headline count that one lists exactly (else None).
    filters: dict[str, dict | None]
    # The contact funnel of the year's files: 档案 → 已走访 → 同意参保 → 已参保 (funnel_steps).
    funnel: list["Step"] = field(default_factory=list)
    # Visits and conversions 本周 / 本月 / 本年度 (stats/activity.py), when the page asked for them.
    activity: list["PeriodActivity"] = field(default_factory=list)
    e_credential_missing: int = 0  # insured persons whose e-credential is not activated


@dataclass(frozen=True)
class Step:
    """One step of the contact funnel: its count and the share of the step before it."""

    label: str
    value: int
    rate: float | None = None  # None for the first step, or when the step before is zero


@dataclass(frozen=True)
class PeriodActivity:
    label: str  # 本周, 本月, 本年度
    since: object  # date, China time
    until: object
    visits: int
    conversions: int


def funnel_steps(figures) -> list[Step]:
    """档案 (the year's files) → 已走访 (visited at least once) → 同意参保 (visited, and paid or
    reported paid: waiting for the comparison, or confirmed enrolled) → 已参保 (visited and
    confirmed enrolled: the agreed less those waiting, since only a visit reports a payment —
    a file awaiting confirmation has always been visited; bounded by the enrolled files)."""
    files = figures.total_files
    visited = int(figures.funnel.get("visited", 0))
    agreed = int(figures.funnel.get("agreed", 0))
    enrolled = min(
        files_in(figures, "enrolled"), max(0, agreed - files_in(figures, "pending_confirmation"))
    )
    steps, before = [], None
    for label, value in (
        ("档案", files),
        ("已走访", visited),
        ("同意参保", agreed),
        ("已参保", enrolled),
    ):
        rate = None if before is None or not before else value / before
        steps.append(Step(label, value, rate))
        before = value
    return steps


def period_activity(region_code: str, year: int) -> list[PeriodActivity]:
    """Visits and conversions of the region this week, this month and in insurance year
    `year` (stats/activity.periods says from when)."""
    from portal.stats.activity import region_activity

    return [
        PeriodActivity(p.label, p.since, p.until, a.visits, a.conversions)
        for p, a in region_activity(region_code, year)
    ]


def as_of_label(moment) -> str:
    """HH:MM for figures of today (China time), the date as well for older ones."""
    if moment is None:
        return "—"
    if to_local(moment).date() == local_today():
        return format_local(moment, "%H:%M")
    return format_local(moment)


def headline(figures, region_code: str | None = None, year: int | None = None) -> Headline:
    """The headline of `figures`; with `region_code` and `year`, also the region's visits and
    conversions this week, month and insurance year."""
    return Headline(
        register=figures.register,
        resident_only=figures.resident_only,
        excluded=figures.excluded,
        must_insure=figures.must_insure,
        insured=figures.insured,
        coverage=figures.coverage,
        uninsured=figures.uninsured,
        schemes=[
            Count("职工医保", figures.insured_employee, {**INSURED, "scheme": "employee"}),
            Count("居民医保", figures.insured_resident, {**INSURED, "scheme": "resident"}),
        ],
        insured_local=figures.insured_local,
        insured_elsewhere=figures.insured_elsewhere,
        government_paid_must_insure=figures.government_paid,
        government_paid_insured=figures.government_paid_insured,
        government_paid_gap=figures.government_paid_gap,
        government_paid_coverage=figures.government_paid_coverage,
        e_credential=figures.e_credential,
        e_credential_rate=figures.e_credential_rate,
        mismatches=figures.mismatched,
        # The list's reason filter reads closed files too: these counts of open files stay plain.
        reasons=[
            Count(label, int(figures.open_reasons.get(code, 0))) for code, label in codes.REASONS
        ]
        + [Count(NO_REASON_LABEL, int(figures.open_reasons.get("none", 0)))],
        states=[
            Count(label, files_in(figures, code), {"file_state": code})
            for code, label in codes.FILE_STATES
        ],
        open_files=open_files(figures),
        as_of=as_of_label(figures.as_of),
        filters={
            "must_insure": MUST_INSURE,
            "excluded": EXCLUDED,
            "insured": INSURED,
            "uninsured": UNINSURED,
            "government_paid_gap": COLUMN_BY_KEY["government_paid_gap"].persons_filter,
            # Insured, e-credential not activated: the persons to help activate theirs.
            "e_credential_missing": {**INSURED, "e_credential": "no"},
        },
        funnel=funnel_steps(figures),
        activity=(
            period_activity(region_code, year)
            if region_code is not None and year is not None
            else []
        ),
        e_credential_missing=figures.insured - figures.e_credential,
    )


# --- links ------------------------------------------------------------------------------------


class Links:
    """Where a count links: the persons list with exactly that filter for a community the
    actor's list can filter on (and only for the current insurance year: the list shows each
    person's current file), else the region's own dashboard."""

    def __init__(self, actor, year: int, *, linked_to_lists: bool):
        self.year = year
        self.linked_to_lists = linked_to_lists
        self._listable: set[str] | None = None
        self._actor = actor

    def listable(self, region: Region) -> bool:
        if not self.linked_to_lists:
            return False
        if self._listable is None:
            _, choices = region_choices(scope_for(self._actor, "person.view"))
            self._listable = {code for code, _ in choices}
        if region.code not in self._listable:
            # The list also takes a whole township, county or city of the scope (a link's region).
            if region_choice(scope_for(self._actor, "person.view"), region.code) is None:
                return False
            self._listable.add(region.code)
        return True

    def dashboard(self, region: Region) -> str:
        return url_for("dashboard.region", region_code=region.code, year=self.year)

    def persons(self, region: Region, persons_filter: dict) -> str:
        return url_for("persons.index", region=region.code, **persons_filter)

    def worklist(self, region: Region, worklist_filter: dict) -> str | None:
        """The duplicate worklist of the region so filtered, when the actor may open it."""
        return WorklistLinks(self._actor, region.code, self.year)(**worklist_filter)

    def cell(self, region: Region, column: Column, figures) -> str | None:
        """The link of one count of a child row (None: the count stays plain text)."""
        if column.worklist_filter is not None:
            return self.worklist(region, column.worklist_filter)
        if region.level != COMMUNITY:
            return self.dashboard(region)
        if column.persons_filter is None:
            return None
        return self.headline_count(region, column.persons_filter)

    def gap(self, region: Region, h: "Headline") -> str | None:
        """Where the gap warning leads: a community's uninsured government-paid persons, else
        the children with the largest gap first."""
        if region.level == COMMUNITY:
            return self.headline_count(region, h.filters["government_paid_gap"])
        return (
            url_for(
                "dashboard.region",
                region_code=region.code,
                year=self.year,
                sort="government_paid_gap",
                dir="desc",
            )
            + "#children"
        )

    def headline_count(self, region: Region, persons_filter: dict | None) -> str | None:
        """A figure links to the list that holds exactly it, where one does and the persons list
        offers the region (persons/queries.region_choices: a coarser level past 500 regions)."""
        if persons_filter is not None and self.listable(region):
            return self.persons(region, persons_filter)
        return None
