"""Submission and sign-off of the report forms, level by level (报送与审核).

Periods. A city or a province opens a reporting period (报送期) for its subtree and an insurance
year, with a deadline per submitting level (county / city / province). The periods that apply to
a region are those set by it or by one of its ancestors.

Submitting. A region that reports (a county, a city, a province) submits all forms of `FORMS` at
once: every form is computed and every balance rule checked; one failing rule refuses the whole
submission (nothing saved). The figures are frozen in the submission's snapshot and in its submit
event. A returned submission may be submitted again (a new snapshot; the old one stays in its
event); an accepted one may not. A city (a province) submits only once every region that reports
to it (its county-level children; a province's cities) has an accepted submission.

Who. Submitting is the region's own act: the actor holds report.submit on the region and is not
a reviewer from above (`permissions.can_below(report.review)`), so no office submits for the region
it then accepts. Returning and accepting is for a reviewer strictly above (`can_below`): a county
never accepts its own forms. The views check page access; the service checks these two rules.

Two reviewers at once. The page carries the submission's version; the step is one UPDATE … WHERE
version = shown AND state = 'submitted'. The loser's UPDATE matches no row (PostgreSQL re-reads
the row after the winner's commit): nothing is applied twice, and the loser is told what was
decided, by whom and when (`SubmissionConflict`).

Overdue. Today in China (`local_today`) after the level's deadline, and the region has not
submitted (nothing yet, or returned).
"""

from dataclasses import dataclass
from datetime import date

from flask import abort
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from permissions import can, can_below
from portal.accounts.models import User
from portal.audit import operations as audit
from portal.extensions import db
from portal.regions.models import Region
from portal.reports.models import (
    SUBMISSION_STATE_LABELS,
    ReportEvent,
    ReportPeriod,
    ReportSubmission,
)
from portal.timeutil import format_local, local_today, utcnow

SUBMIT = "report.submit"
REVIEW = "report.review"
COMMENT_MAX = 500
NAME_MAX = 60
CODE_MAX = 16
# The levels that submit forms, and the deadline each one keeps in a period.
DUE_FIELDS = {3: "county_due", 2: "city_due", 1: "province_due"}
DUE_LABELS = {3: "县级报送截止日期", 2: "市级报送截止日期", 1: "省级报送截止日期"}
NOT_SUBMITTED = "none"
STATE_LABELS = {NOT_SUBMITTED: "未报送", **SUBMISSION_STATE_LABELS}
DECISIONS = {"return": "returned", "accept": "accepted", "reopen": "returned"}
# The state each decision is taken from: reopening (撤销审核通过) sends accepted forms back.
DECIDED_FROM = {"return": "submitted", "accept": "submitted", "reopen": "accepted"}


class SubmissionRefused(Exception):
    """The step is not allowed or the input is incomplete: the message says why (Chinese)."""

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.details = details or []


class SubmissionConflict(Exception):
    """Another reviewer decided first: the message says what was decided (Chinese)."""


# --- the forms (portal/reports/forms.py, written beside this module) ---------------------------


def form_codes() -> list[str]:
    from portal.reports.forms import FORMS

    return list(FORMS)


def form_title(code: str) -> str:
    from portal.reports.forms import FORMS

    form = FORMS.get(code) if hasattr(FORMS, "get") else None
    return getattr(form, "title", None) or getattr(form, "name", None) or code


# --- periods ----------------------------------------------------------------------------------


def reports(region: Region) -> bool:
    """Does this region submit forms (a county, a city or a province)?"""
    return region.level in DUE_FIELDS


def applies_condition(region: Region):
    return ReportPeriod.region_code.in_([region.code, *region.ancestor_codes()])


def periods_for(region: Region) -> list[ReportPeriod]:
    """The periods set by the region or one of its ancestors, newest year first."""
    query = (
        select(ReportPeriod)
        .where(applies_condition(region))
        .order_by(ReportPeriod.year.desc(), ReportPeriod.created_at.desc(), ReportPeriod.id.desc())
    )
    return list(db.session.scalars(query))


def get_period_or_404(region: Region, period_id: int) -> ReportPeriod:
    """A period that applies to the region; any other is not found."""
    period = db.session.scalar(
        select(ReportPeriod).where(ReportPeriod.id == period_id, applies_condition(region))
    )
    if period is None:
        abort(404)
    return period


def due_date(period: ReportPeriod, level: int) -> date | None:
    field = DUE_FIELDS.get(level)
    return getattr(period, field) if field else None


def levels_below(region: Region) -> list[int]:
    """The submitting levels a period set by this region has deadlines for, its own first."""
    return [level for level in (1, 2, 3) if level >= region.level]


def may_open_period(actor, region: Region) -> bool:
    """A city or a province, by a reviewer of that region (its staff or a level above)."""
    return region.level in (1, 2) and can(actor, REVIEW, region.code)


@dataclass
class PeriodInput:
    year: int | None
    code: str
    name: str
    dues: dict[int, date | None]  # level → deadline


def open_period(actor, region: Region, data: PeriodInput) -> ReportPeriod:
    """Open a reporting period for the region's subtree; refused with every problem at once."""
    errors = []
    name, code = (data.name or "").strip(), (data.code or "").strip()
    if not name:
        errors.append("请填写报送期名称，例如“2027年度参保情况清查报送”。")
    elif len(name) > NAME_MAX:
        errors.append(f"报送期名称不能超过 {NAME_MAX} 个字。")
    if not code:
        errors.append("请填写报送期代码，例如“2027”或“2027-01”。")
    elif len(code) > CODE_MAX or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        errors.append(f"报送期代码只能由字母、数字和“-”组成，不超过 {CODE_MAX} 个字符。")
    if data.year is None:
        errors.append("请选择参保年度。")
    for level in levels_below(region):
        if level > region.level and data.dues.get(level) is None:
            errors.append(f"请填写{DUE_LABELS[level]}。")
    given = [(level, data.dues.get(level)) for level in (3, 2, 1) if data.dues.get(level)]
    for (lower, lower_due), (upper, upper_due) in zip(given, given[1:], strict=False):
        if lower_due > upper_due:
            errors.append(f"{DUE_LABELS[lower]}不能晚于{DUE_LABELS[upper]}。")
    if not errors and db.session.scalar(
        select(ReportPeriod.id).where(
            ReportPeriod.region_code == region.code,
            ReportPeriod.year == data.year,
            ReportPeriod.code == code,
        )
    ):
        errors.append(
            f"{region.name}已有 {data.year} 参保年度代码为“{code}”的报送期，请换一个代码。"
        )
    if errors:
        raise SubmissionRefused(errors[0], errors)
    period = ReportPeriod(
        region_code=region.code,
        year=data.year,
        code=code,
        name=name,
        created_by_id=actor.id,
        **{DUE_FIELDS[level]: data.dues.get(level) for level in levels_below(region)},
    )
    db.session.add(period)
    db.session.flush()
    audit.record(
        "report.period",
        actor=actor,
        target_type="report_period",
        target_id=period.id,
        target_label=period.name,
        region_code=region.code,
        detail={
            "year": period.year,
            "code": period.code,
            **{DUE_FIELDS[lv]: str(data.dues[lv]) for lv in levels_below(region) if data.dues[lv]},
        },
    )
    return period


# --- reading submissions ----------------------------------------------------------------------


def submission_of(period: ReportPeriod, region_code: str) -> ReportSubmission | None:
    return db.session.scalar(
        select(ReportSubmission).where(
            ReportSubmission.period_id == period.id, ReportSubmission.region_code == region_code
        )
    )


def reporting_children(region: Region) -> list[Region]:
    """The regions that report to this one: a city's county-level children, a province's cities
    (none below a county)."""
    if region.level >= 3:
        return []
    return list(
        db.session.scalars(
            select(Region)
            .where(Region.parent_code == region.code, Region.level <= 3)
            .order_by(Region.code)
        )
    )


def state_of(submission: ReportSubmission | None) -> str:
    return submission.state if submission is not None else NOT_SUBMITTED


def is_overdue(period: ReportPeriod, level: int, submission, today: date | None = None) -> bool:
    """After the level's deadline (China's today) and not submitted (nothing, or returned)."""
    due = due_date(period, level)
    if due is None:
        return False
    today = today or local_today()
    return today > due and state_of(submission) in (NOT_SUBMITTED, "returned")


@dataclass
class ChildRow:
    region: Region
    submission: ReportSubmission | None
    state: str
    overdue: bool
    due: date | None
    submitted_by: str = ""
    reviewed_by: str = ""


def child_rows(period: ReportPeriod, region: Region, today: date | None = None) -> list[ChildRow]:
    """Each reporting child of the region with its submission for the period (two queries)."""
    children = reporting_children(region)
    if not children:
        return []
    found = {
        s.region_code: s
        for s in db.session.scalars(
            select(ReportSubmission).where(
                ReportSubmission.period_id == period.id,
                ReportSubmission.region_code.in_([c.code for c in children]),
            )
        )
    }
    names = user_names(
        {s.submitted_by_id for s in found.values()} | {s.reviewed_by_id for s in found.values()}
    )
    rows = []
    for child in children:
        sub = found.get(child.code)
        rows.append(
            ChildRow(
                region=child,
                submission=sub,
                state=state_of(sub),
                overdue=is_overdue(period, child.level, sub, today),
                due=due_date(period, child.level),
                submitted_by=names.get(sub.submitted_by_id, "") if sub else "",
                reviewed_by=names.get(sub.reviewed_by_id, "") if sub else "",
            )
        )
    return rows


def awaited(period: ReportPeriod, region: Region) -> list[Region]:
    """The reporting children without an accepted submission: what the region still waits for."""
    return [row.region for row in child_rows(period, region) if row.state != "accepted"]


def events_of(submission: ReportSubmission) -> list[ReportEvent]:
    return list(
        db.session.scalars(
            select(ReportEvent)
            .where(ReportEvent.submission_id == submission.id)
            .order_by(ReportEvent.at, ReportEvent.id)
        )
    )


def user_names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(
        db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    )


# --- who may do what --------------------------------------------------------------------------


def submit_refusal(actor, region: Region, period: ReportPeriod) -> str | None:
    """Why the actor may not submit this region's forms now (None: they may)."""
    if not reports(region):
        return "只有县（区）、市、省报送报表。"
    if not can(actor, SUBMIT, region.code) or may_review_region(actor, region):
        return f"报表由{region.name}自行报送，上级只能审核。"
    sub = submission_of(period, region.code)
    if sub is not None and sub.state == "submitted":
        return "报表已报送，正在等待上级审核；如需修改，请联系上级退回。"
    if sub is not None and sub.state == "accepted":
        return "报表已审核通过，不能再次报送。"
    waiting = awaited(period, region)
    if waiting:
        names = "、".join(r.name for r in waiting)
        return f"下级尚未全部审核通过，暂不能报送本级报表。仍在等待：{names}。"
    return None


def may_review_region(actor, region: Region) -> bool:
    """A reviewer strictly above the region (a county never accepts its own forms)."""
    return can_below(actor, REVIEW, region.code)


def may_review(actor, submission: ReportSubmission) -> bool:
    return can_below(actor, REVIEW, submission.region_code)


# --- the steps --------------------------------------------------------------------------------


def freeze(region: Region, year: int) -> tuple[dict, list[str]]:
    """Every form computed for the region and year: the snapshot and the failing rules."""
    from portal.reports.forms import check, compute

    snapshot, failures = {}, []
    for code in form_codes():
        table = compute(code, region.code, year)
        failures += [f"{form_title(code)}：{message}" for message in check(table)]
        snapshot[code] = table.to_snapshot()
    return snapshot, failures


def submit(actor, region: Region, period: ReportPeriod, *, version=None) -> ReportSubmission:
    """Submit all forms of the region for the period (a first submission or after a return)."""
    refusal = submit_refusal(actor, region, period)
    if refusal:
        raise SubmissionRefused(refusal)
    snapshot, failures = freeze(region, period.year)
    if failures:
        raise SubmissionRefused("报表未通过平衡校验，未报送。请核实数据后重新报送。", failures)
    now = utcnow()
    sub = submission_of(period, region.code)
    if sub is None:
        sub = ReportSubmission(
            period_id=period.id,
            region_code=region.code,
            state="submitted",
            snapshot=snapshot,
            submitted_at=now,
            submitted_by_id=actor.id,
            version=1,
        )
        try:
            with db.session.begin_nested():
                db.session.add(sub)
        except IntegrityError:  # a colleague's first submission came first
            sub = submission_of(period, region.code)
            raise SubmissionConflict(_what_happened(sub)) from None
    else:  # returned: submitted again, if nobody changed it since the page was shown
        shown = _version(version, sub)
        changed = db.session.execute(
            update(ReportSubmission)
            .where(
                ReportSubmission.id == sub.id,
                ReportSubmission.version == shown,
                ReportSubmission.state == "returned",
            )
            .values(
                state="submitted",
                snapshot=snapshot,
                submitted_at=now,
                submitted_by_id=actor.id,
                reviewed_at=None,
                reviewed_by_id=None,
                comment=None,
                version=ReportSubmission.version + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.refresh(sub)
        if not changed:
            raise SubmissionConflict(_what_happened(sub))
    db.session.add(
        ReportEvent(
            submission_id=sub.id, action="submit", user_id=actor.id, at=now, snapshot=snapshot
        )
    )
    _audit("report.submit", actor, sub, period, region)
    return sub


def review(
    actor, submission: ReportSubmission, decision: str, comment: str = "", *, version=None
) -> ReportSubmission:
    """Return (退回, with a comment) or accept (审核通过) a submitted region's forms, or reopen
    (撤销审核通过, with a comment) accepted ones so that the region reports again: only while
    the level above has not submitted its own forms, which were built on them."""
    if decision not in DECISIONS:
        raise SubmissionRefused("请选择退回或审核通过。")
    if not may_review(actor, submission):
        raise SubmissionRefused("只有上级可以审核报表，不能审核本级报送的报表。")
    comment = (comment or "").strip()
    if decision in ("return", "reopen") and not comment:
        raise SubmissionRefused("退回时请填写退回意见，说明需要核实或修改的内容。")
    if decision == "reopen":
        refusal = reopen_refusal(submission)
        if refusal:
            raise SubmissionRefused(refusal)
    if len(comment) > COMMENT_MAX:
        raise SubmissionRefused(f"意见不能超过 {COMMENT_MAX} 个字。")
    shown = _version(version, submission)
    if shown == submission.version and submission.state != DECIDED_FROM[decision]:
        raise SubmissionRefused(f"报表当前状态为“{STATE_LABELS[submission.state]}”，无需审核。")
    now = utcnow()
    changed = db.session.execute(
        update(ReportSubmission)
        .where(
            ReportSubmission.id == submission.id,
            ReportSubmission.version == shown,
            ReportSubmission.state == DECIDED_FROM[decision],
        )
        .values(
            state=DECISIONS[decision],
            reviewed_at=now,
            reviewed_by_id=actor.id,
            comment=comment or None,
            version=ReportSubmission.version + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(submission)
    if not changed:
        raise SubmissionConflict(_what_happened(submission))
    db.session.add(
        ReportEvent(
            submission_id=submission.id,
            action=decision,
            user_id=actor.id,
            at=now,
            comment=comment or None,
        )
    )
    period = db.session.get(ReportPeriod, submission.period_id)
    region = db.session.get(Region, submission.region_code)
    _audit(f"report.{decision}", actor, submission, period, region, comment=comment)
    return submission


def reopen_refusal(submission: ReportSubmission) -> str | None:
    """Why accepted forms may not be sent back now (None: they may)."""
    if submission.state != "accepted":
        return "只有已审核通过的报表可以撤销审核。"
    region = db.session.get(Region, submission.region_code)
    parent_code = region.parent_code if region is not None else None
    if parent_code:
        above = db.session.scalar(
            select(ReportSubmission).where(
                ReportSubmission.period_id == submission.period_id,
                ReportSubmission.region_code == parent_code,
                ReportSubmission.state.in_(("submitted", "accepted")),
            )
        )
        if above is not None:
            parent = db.session.get(Region, parent_code)
            return (
                f"{parent.name}已据此报送本级报表，须先由其上级退回{parent.name}的报表，"
                "才能撤销下级的审核。"
            )
    return None


def record_conflict(actor, action: str, submission: ReportSubmission) -> None:
    """The loser of two steps at once: its attempt is audited (what it met), nothing applied."""
    period = db.session.get(ReportPeriod, submission.period_id)
    region = db.session.get(Region, submission.region_code)
    _audit(action, actor, submission, period, region, result="failure")


def _version(version, submission: ReportSubmission) -> int:
    if version in (None, ""):
        return submission.version
    try:
        return int(version)
    except (TypeError, ValueError):
        raise SubmissionRefused("请求无效，请刷新页面后重试。") from None


def _what_happened(submission: ReportSubmission) -> str:
    """What the other user did, in Chinese, for the one who came second."""
    names = user_names({submission.reviewed_by_id, submission.submitted_by_id})
    if submission.state in ("returned", "accepted"):
        who = names.get(submission.reviewed_by_id, "其他用户")
        when = format_local(submission.reviewed_at)
        what = STATE_LABELS[submission.state]
        text = f"该报送已由{who}于 {when} 处理为“{what}”"
        if submission.comment:
            text += f"（意见：{submission.comment}）"
        return text + "，您的操作未执行。"
    who = names.get(submission.submitted_by_id, "其他用户")
    when = format_local(submission.submitted_at)
    return f"该报表已由{who}于 {when} 报送，您的操作未执行，请查看最新报送内容。"


def _audit(action, actor, submission, period, region, *, comment="", result="success") -> None:
    detail = {
        "period": period.name if period else submission.period_id,
        "year": period.year if period else None,
        "state": STATE_LABELS[submission.state],
        "version": submission.version,
    }
    if comment:
        detail["comment"] = comment
    audit.record(
        action,
        result,
        actor=actor,
        target_type="report_submission",
        target_id=submission.id,
        target_label=f"{region.name if region else submission.region_code} · "
        f"{period.name if period else ''}",
        region_code=submission.region_code,
        detail=detail,
    )
