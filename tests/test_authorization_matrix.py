"""Every route × every role × an object inside and one outside the user's region.

The expected status of each cell is written here by hand, from the role matrix in domain.md,
not computed from permissions/ (that would test the code against itself). A route that is not
in MATRIX fails `test_every_route_is_in_the_matrix`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.audit import operations as audit
from portal.comparisons.models import ComparisonRun
from portal.extensions import db
from portal.imports.models import ImportBatch
from portal.persons.models import Person, PersonFile
from portal.regions.models import Region
from tests import world
from tests.factories import make_id

ROLES = list(world.ACTOR)
EVERYONE = set(ROLES)
IMPORTERS = {
    "province_admin",
    "province_staff",
    "city_admin",
    "city_staff",
    "county_admin",
    "county_staff",
}
USER_ADMINS = {
    "province_admin",
    "city_admin",
    "county_admin",
    "township_supervisor",
    "security_admin",
}
# Person files: everyone but the two officers views them (a grid worker: assigned ones only);
# editing and exporting is for township supervisors and above; full numbers for supervisors,
# assigned grid workers, and staff and admins only with the extra unmask grant (administrators
# inherit no personal data: permissions/roles.py PERSONAL_DATA_ACTIONS).
PERSON_VIEWERS = EVERYONE - {"security_admin", "auditor"}
PERSON_EDITORS = IMPORTERS | {"township_supervisor"}
EXPORTERS = IMPORTERS | {"township_supervisor"}
UNMASKERS = {"township_supervisor", "grid_worker"}
# The desk (工作台): township supervisors and every staff level above them see, assign, review.
DESK_USERS = IMPORTERS | {"township_supervisor"}
MOVES_YEAR = date.today().year  # a year the year picker offers
# Statistics (统计): staff of every level and township supervisors (admins inherit theirs);
# never a grid worker (their own progress is 我的任务) nor the two officers. Exporting the
# child table is the same people's report.export.
STATS_USERS = IMPORTERS | {"township_supervisor"}
# Targets (目标) of a region's children: the same staff and supervisors (target.set).
TARGET_SETTERS = IMPORTERS | {"township_supervisor"}
# Duplicate enrollment (重复参保): county staff and above (admins inherit their level's staff).
DUPLICATE_HANDLERS = IMPORTERS
# Ranking notices (月度通报): read like the statistics; issued on demand (notice.issue) by
# township supervisors and county staff and above; their Excel is the same people's export.
NOTICE_ISSUERS = IMPORTERS | {"township_supervisor"}


@dataclass
class Target:
    """The objects one role's cell is about."""

    region: str
    region_name: str
    user_id: int
    username: str
    display_name: str
    grant_id: int
    batch_id: int = 0
    run_id: int = 0
    period_id: int = 0  # a reporting period applying to the target's county, set by _report_*
    person_id: int = 0
    marker: str = ""
    visit_id: int = 0
    file_id: int = 0  # the person's file (the grid worker's pages), set by their prepare
    evidence_id: int = 0  # an evidence image of the person's file, set by _evidence
    case_id: int = 0  # a duplicate-enrollment case in the target's region, set by _duplicate
    enrollment_ids: tuple[int, ...] = ()  # its two records
    notice_id: int = 0  # a ranking notice of the target's region, set by _notice


@dataclass
class Route:
    method: str
    path: Callable[[Target], str]
    allowed: set[str]
    inside: int  # status for an allowed role, object inside its region
    outside: int  # status for an allowed role, object outside its region
    anonymous: int = 302
    data: Callable[[Target], dict] = lambda t: {}
    # For lists: the object's marker must appear inside and must not appear outside.
    shows_object: bool = False
    prepare: Callable[[Target, str], None] | None = None
    # Roles whose status differs from inside/outside (e.g. a redirect), both cells alike.
    role_status: dict[str, int] = field(default_factory=dict)
    # Roles whose status differs inside their region only (outside: still `outside`).
    inside_role_status: dict[str, int] = field(default_factory=dict)


def _audit_marker(target: Target, where: str) -> None:
    audit.record(
        "user.disable",
        target_type="user",
        target_id=target.user_id,
        target_label=target.marker,
        region_code=target.region,
        actor_username="matrix",
    )
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back


def _township(target: Target) -> str:
    """The township of the target's region (a county or higher region: not a desk, 404)."""
    return target.region[:9] + "000"


def _pending_visit(target: Target, where: str) -> None:
    """The target's file becomes a closure proposed by fc_grid1, waiting for review."""
    from portal.visits.models import Visit

    file = db.session.scalar(select(PersonFile).where(PersonFile.person_id == target.person_id))
    file.state = "pending_review"
    visit = Visit(
        file_id=file.id,
        person_id=target.person_id,
        region_code=target.region,
        user_id=file.assignee_id,
        method="phone",
        outcome="deceased",
        reason_code="deceased",
        idempotency_key=f"matrix-{file.id}",
        review_state="pending",
    )
    db.session.add(visit)
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back
    target.visit_id = visit.id


# ---- report submissions (报表报送): county staff and above; return/accept from above ----
# Reviewers strictly above the submitting region: city and province staff (and their admins).
REPORT_REVIEWERS = {"province_admin", "province_staff", "city_admin", "city_staff"}


def _county(target: Target) -> str:
    """The county of the target's region (outside: a province, a city or a county out of
    scope); the region whose forms are submitted."""
    return target.region[:6] + "000000"


def _city(target: Target) -> str:
    return target.region[:4] + "00000000"


def _report_period(target: Target, where: str) -> None:
    """A reporting period set by the province (it applies to every county of Jiangsu)."""
    from portal.reports.models import ReportPeriod

    period = ReportPeriod(
        region_code="320000000000", year=2026, code=target.marker[-16:], name="矩阵报送期"
    )
    db.session.add(period)
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back
    target.period_id = period.id


def _report_submitted(target: Target, where: str) -> None:
    """The county's forms submitted for the period, as the forms give them."""
    from portal.reports.forms import FORMS, compute
    from portal.reports.models import ReportSubmission

    _report_period(target, where)
    county = _county(target)
    snapshot = {}
    if db.session.get(Region, county) is not None:
        snapshot = {code: compute(code, county, 2026).to_snapshot() for code in FORMS}
    db.session.add(
        ReportSubmission(
            period_id=target.period_id, region_code=county, state="submitted", snapshot=snapshot
        )
    )
    db.session.commit()


def _period_data(target: Target) -> dict:
    return {
        "name": "矩阵报送期",
        "code": "M1",
        "year": str(MOVES_YEAR),
        "county_due": f"{MOVES_YEAR}-12-20",
        "city_due": f"{MOVES_YEAR}-12-25",
    }


def _moved_in(target: Target, where: str) -> None:
    """The person, named by the marker, moved into the target's region this insurance year
    (persons/moves.py): the township's list of files moved in shows them."""
    from portal.persons.models import FileMove

    db.session.get(Person, target.person_id).name = target.marker
    db.session.add(
        FileMove(
            file_id=0,
            person_id=target.person_id,
            year=MOVES_YEAR,
            from_region_code="320902001001",
            to_region_code=target.region,
            cause="import",
        )
    )
    db.session.commit()


def _person_marker(target: Target, where: str) -> None:
    """The person's name becomes the marker the list check looks for."""
    db.session.get(Person, target.person_id).name = target.marker
    db.session.commit()


# ---- the grid worker's phone (我的任务): set-ups ----
# Roles that record visits: grid workers (assigned files) and supervisors; no administrator.
VISITORS = {"township_supervisor", "grid_worker"}


def _task_file(target: Target, where: str) -> None:
    """The pages of one file take the file's id (the file is fc_grid1's, as _target made it)."""
    file = db.session.scalar(select(PersonFile).where(PersonFile.person_id == target.person_id))
    target.file_id = file.id


def _task_phone(target: Target, where: str) -> None:
    """The call needs a phone number to reveal."""
    _task_file(target, where)
    db.session.get(Person, target.person_id).phone = "13800138000"
    db.session.commit()


def _task_of_the_actor(target: Target, where: str) -> None:
    """The file becomes the acting role's own task, named by the marker: the task list shows
    it inside the actor's region and never outside, even though it is assigned to them."""
    role = target.marker.split("-", 2)[2]  # the marker is matrix-<where>-<role>
    actor = db.session.scalar(select(User.id).where(User.username == world.ACTOR[role]))
    file = db.session.scalar(select(PersonFile).where(PersonFile.person_id == target.person_id))
    file.assignee_id = actor
    db.session.get(Person, target.person_id).name = target.marker
    db.session.commit()
    target.file_id = file.id


def _evidence(target: Target, where: str) -> None:
    """The target's file gets a visit (fc_grid1's 死亡 proposal) with one stored image."""
    from tests.evidence_helpers import attach_evidence

    _pending_visit(target, where)
    file = db.session.scalar(select(PersonFile).where(PersonFile.person_id == target.person_id))
    (target.evidence_id,) = attach_evidence(
        db.session,
        visit_id=target.visit_id,
        file_id=file.id,
        region=target.region,
        user_id=file.assignee_id,
    )
    db.session.commit()


def _duplicate(target: Target, where: str, proposed: bool = False) -> None:
    """A duplicate case of two records insured in the target's region (a person's extract
    name is the marker, which the worklist shows to the records' own region)."""
    from portal.duplicates.models import DuplicateCase, DuplicateMember
    from portal.persons.models import Enrollment
    from portal.years.selection import current_year

    number = make_id(len(target.marker) % 1000, birth=f"{19700101 + (where == 'inside')}")
    records = [
        Enrollment(
            id_number=number,
            scheme=scheme,
            region_code=target.region,
            start_date=date(2020, 1, 1),
            status="normal",
            name=target.marker,
        )
        for scheme in ("employee", "resident")
    ]
    db.session.add_all(records)
    db.session.flush()
    case = DuplicateCase(
        year=current_year(),
        id_number=number,
        region_code=target.region,
        kind="cross",
        state="open",
        recommended_id=records[0].id,
    )
    if proposed:  # proposed by a user who is none of the actors
        case.proposed_by_id = target.user_id
        case.proposer_region_code = target.region
        case.proposal_reason = "矩阵测试"
    db.session.add(case)
    db.session.flush()
    for record, action in zip(records, ("keep", "terminate"), strict=True):
        db.session.add(
            DuplicateMember(
                case_id=case.id,
                enrollment_id=record.id,
                region_code=target.region,
                scheme=record.scheme,
                proposed_action=action if proposed else None,
            )
        )
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back
    target.case_id = case.id
    target.enrollment_ids = tuple(r.id for r in records)


def _duplicate_proposed(target: Target, where: str) -> None:
    _duplicate(target, where, proposed=True)


def _notice(target: Target, where: str) -> None:
    """A ranking notice of the target's region (one child ranked)."""
    from portal.notices.models import RankingNotice

    row = {"code": target.region, "name": target.marker, "rank": 1, "coverage": 0.5, "gap": 0}
    row |= {"must_insure": 2, "insured": 1, "uninsured": 1, "visits": 0, "conversions": 0}
    row |= {"government_paid": 0, "government_paid_insured": 0}
    totals = {k: v for k, v in row.items() if k not in ("code", "name", "rank")}
    notice = RankingNotice(
        region_code=target.region,
        year=2027,
        month=date(2026, 11, 1),
        final=True,
        rows=[row],
        summary={
            "region_name": target.region_name,
            "year": 2027,
            "children": 1,
            "totals": totals,
            "source": "live",
            "as_of": "2026-11-30T16:05:00",
            "activity_until": "2026-11-30",
        },
    )
    db.session.add(notice)
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back
    target.notice_id = notice.id


def _proposal_data(target: Target) -> dict:
    keep, end = target.enrollment_ids or (0, 0)
    return {
        f"action-{keep}": "keep",
        f"action-{end}": "terminate",
        "reason": "矩阵测试",
        "version": "1",
        "proposal": "decide",
    }


def _visit_data(target: Target) -> dict:
    return {
        "method": "in_person",
        "outcome": "will_pay",
        "idempotency_key": "0b6f4c1e-8d2a-4f3b-9c5e-7a1d2e3f4a5b",
        "version": "1",
    }


MATRIX: dict[str, Route] = {
    "auth.login": Route("GET", lambda t: "/login", EVERYONE, 302, 302, anonymous=200),
    "auth.logout": Route("POST", lambda t: "/logout", EVERYONE, 302, 302),
    "auth.change_password": Route("GET", lambda t: "/password", EVERYONE, 200, 200),
    "home.index": Route("GET", lambda t: "/", EVERYONE, 200, 200),
    "home.health": Route("GET", lambda t: "/healthz", EVERYONE, 200, 200, anonymous=200),
    "regions.index": Route("GET", lambda t: "/regions/", EVERYONE, 302, 302),
    "years.choose": Route(
        "POST", lambda t: "/year", EVERYONE, 302, 302, data=lambda t: {"year": "2026", "next": "/"}
    ),
    "regions.detail": Route("GET", lambda t: f"/regions/{t.region}", EVERYONE, 200, 404),
    "regions.search": Route(
        "GET", lambda t: f"/regions/search?q={t.region_name}", EVERYONE, 200, 200, shows_object=True
    ),
    "users.index": Route(
        "GET", lambda t: f"/users/?q={t.username}", USER_ADMINS, 200, 200, shows_object=True
    ),
    "users.new": Route("GET", lambda t: f"/users/new?region={t.region}", USER_ADMINS, 200, 404),
    "users.detail": Route("GET", lambda t: f"/users/{t.user_id}", USER_ADMINS, 200, 404),
    "users.add_grant": Route(
        "POST",
        lambda t: f"/users/{t.user_id}/grants",
        USER_ADMINS,
        302,
        404,
        data=lambda t: {"role": "grid_worker", "region": t.region},
    ),
    "users.revoke_grant": Route(
        "POST", lambda t: f"/users/{t.user_id}/grants/{t.grant_id}/revoke", USER_ADMINS, 302, 404
    ),
    "users.disable": Route("POST", lambda t: f"/users/{t.user_id}/disable", USER_ADMINS, 302, 404),
    "users.enable": Route("POST", lambda t: f"/users/{t.user_id}/enable", USER_ADMINS, 302, 404),
    "users.reset_password": Route(
        "POST", lambda t: f"/users/{t.user_id}/reset-password", USER_ADMINS, 200, 404
    ),
    "imports.index": Route("GET", lambda t: "/imports/", IMPORTERS, 200, 200, shows_object=True),
    "imports.detail": Route("GET", lambda t: f"/imports/{t.batch_id}", IMPORTERS, 200, 404),
    "imports.progress": Route(
        "GET", lambda t: f"/imports/{t.batch_id}/progress", IMPORTERS, 200, 404
    ),
    "imports.errors": Route(
        "GET", lambda t: f"/imports/{t.batch_id}/errors.xlsx", IMPORTERS, 302, 404
    ),
    "imports.retry": Route("POST", lambda t: f"/imports/{t.batch_id}/retry", IMPORTERS, 302, 404),
    # The mapping step of a batch (not refused for its columns: back to its page).
    "imports.columns": Route(
        "GET", lambda t: f"/imports/{t.batch_id}/columns", IMPORTERS, 302, 404
    ),
    "imports.template": Route(
        "GET", lambda t: "/imports/templates/household.xlsx", IMPORTERS, 200, 200
    ),
    "comparisons.index": Route(
        "GET", lambda t: "/comparisons/", IMPORTERS, 200, 200, shows_object=True
    ),
    "comparisons.detail": Route("GET", lambda t: f"/comparisons/{t.run_id}", IMPORTERS, 200, 404),
    "persons.index": Route(
        "GET",
        lambda t: "/persons/",
        PERSON_VIEWERS,
        200,
        200,
        shows_object=True,
        prepare=_person_marker,
    ),
    "persons.detail": Route("GET", lambda t: f"/persons/{t.person_id}", PERSON_VIEWERS, 200, 404),
    "persons.reveal": Route(
        "POST", lambda t: f"/persons/{t.person_id}/reveal", UNMASKERS, 200, 404
    ),
    "persons.edit": Route(
        "GET", lambda t: f"/persons/{t.person_id}/edit", PERSON_EDITORS, 200, 404
    ),
    # A POST (CSRF token; a link cannot trigger it); full numbers would need a stated purpose.
    "persons.export": Route("POST", lambda t: "/persons/export.xlsx", EXPORTERS, 200, 200),
    "audit.index": Route(
        "GET",
        lambda t: "/audit/?username=matrix",
        {"auditor"},
        200,
        200,
        shows_object=True,
        prepare=_audit_marker,
    ),
    "audit.export": Route("GET", lambda t: "/audit/export?username=matrix", {"auditor"}, 200, 200),
    # ---- the desk (工作台) ----
    "desk.index": Route(
        "GET", lambda t: "/desk/", DESK_USERS, 200, 200, role_status={"township_supervisor": 302}
    ),
    "desk.township": Route("GET", lambda t: f"/desk/{_township(t)}", DESK_USERS, 200, 404),
    "desk.assign": Route(
        "POST",
        lambda t: f"/desk/{_township(t)}/assign",
        DESK_USERS,
        302,
        404,
        data=lambda t: {"worker": t.user_id, "selection": "filter", "state": "open"},
    ),
    "desk.auto_assign": Route(
        "POST", lambda t: f"/desk/{_township(t)}/auto-assign", DESK_USERS, 302, 404
    ),
    "desk.handover": Route(
        "POST",
        lambda t: f"/desk/{_township(t)}/handover",
        DESK_USERS,
        302,
        404,
        data=lambda t: {"from_worker": t.user_id, "to_worker": "none"},
    ),
    # 代管: the same people who assign; nothing ticked, the page answers with the reason (200).
    "desk.cover": Route(
        "POST",
        lambda t: f"/desk/{_township(t)}/cover",
        DESK_USERS,
        200,
        404,
        data=lambda t: {"worker": t.user_id, "cover_reason": "矩阵测试", "state": "open"},
    ),
    "desk.end_cover": Route(
        "POST",
        lambda t: f"/desk/{_township(t)}/cover/end",
        DESK_USERS,
        302,
        404,
        data=lambda t: {"grant": "0"},
    ),
    "desk.reviews": Route("GET", lambda t: f"/desk/{_township(t)}/reviews", DESK_USERS, 200, 404),
    "desk.moves": Route(
        "GET",
        lambda t: f"/desk/{_township(t)}/moves?direction=in&year={MOVES_YEAR}",
        DESK_USERS,
        200,
        404,
        shows_object=True,
        prepare=_moved_in,
    ),
    "desk.decide": Route(
        "POST",
        lambda t: f"/desk/reviews/{t.visit_id}",
        DESK_USERS,
        302,
        404,
        # The proposal has no evidence: approving it takes a waiver reason.
        data=lambda t: {"decision": "approve", "waiver": "矩阵测试"},
        prepare=_pending_visit,
    ),
    # ---- statistics (统计) ----
    "dashboard.index": Route("GET", lambda t: "/dashboard/", STATS_USERS, 302, 302),
    "dashboard.region": Route("GET", lambda t: f"/dashboard/{t.region}", STATS_USERS, 200, 404),
    "dashboard.export": Route(
        "GET", lambda t: f"/dashboard/{t.region}/export.xlsx", STATS_USERS, 200, 404
    ),
    "dashboard.chart_svg": Route(
        "GET", lambda t: f"/dashboard/{t.region}/chart/trend.svg", STATS_USERS, 200, 404
    ),
    "dashboard.chart_png": Route(
        "GET", lambda t: f"/dashboard/{t.region}/chart/funnel.png", STATS_USERS, 200, 404
    ),
    # ---- targets (目标): the same people set their region's children's targets ----
    "targets.edit": Route("GET", lambda t: f"/targets/{t.region}", TARGET_SETTERS, 200, 404),
    "targets.save": Route(
        "POST",
        lambda t: f"/targets/{t.region}",
        TARGET_SETTERS,
        302,
        404,
        data=lambda t: {"year": str(MOVES_YEAR)},
    ),
    "targets.template": Route(
        "GET", lambda t: f"/targets/{t.region}/template.xlsx", TARGET_SETTERS, 200, 404
    ),
    # Without a file: the page again, with the message.
    "targets.upload": Route(
        "POST", lambda t: f"/targets/{t.region}/upload", TARGET_SETTERS, 200, 404
    ),
    # ---- report submissions (报表报送) of the target's county ----
    "reports.submissions": Route(
        "GET", lambda t: f"/reports/{_county(t)}/submissions", IMPORTERS, 200, 404
    ),
    # Opening a period: a city or province reviewer, for its own region (here the city); the
    # city is outside a county's scope.
    "reports.open_period": Route(
        "POST",
        lambda t: f"/reports/{_city(t)}/submissions",
        IMPORTERS,
        303,
        404,
        data=_period_data,
        role_status={"county_admin": 404, "county_staff": 404},
    ),
    "reports.submission": Route(
        "GET",
        lambda t: f"/reports/{_county(t)}/submissions/{t.period_id}",
        IMPORTERS,
        200,
        404,
        prepare=_report_period,
    ),
    # The county submits its own; a reviewer above never submits for it (403 inside).
    "reports.submit": Route(
        "POST",
        lambda t: f"/reports/{_county(t)}/submissions/{t.period_id}/submit",
        IMPORTERS,
        303,
        404,
        prepare=_report_period,
        inside_role_status={role: 403 for role in REPORT_REVIEWERS},
    ),
    "reports.review": Route(
        "POST",
        lambda t: f"/reports/{_county(t)}/submissions/{t.period_id}/review",
        REPORT_REVIEWERS,
        303,
        404,
        data=lambda t: {"decision": "accept", "version": "1"},
        prepare=_report_submitted,
    ),
    "reports.workbook": Route(
        "GET",
        lambda t: f"/reports/{_county(t)}/submissions/{t.period_id}/cleanup_summary-submitted.xlsx",
        IMPORTERS,
        200,
        404,
        prepare=_report_submitted,
    ),
    # ---- report forms (报表) of the target's region: whoever may export figures ----
    "reports.region_forms": Route("GET", lambda t: f"/reports/{t.region}", EXPORTERS, 200, 404),
    "reports.download": Route(
        "GET", lambda t: f"/reports/{t.region}/not_enrolled.xlsx", EXPORTERS, 200, 404
    ),
    # Full numbers in the detail list: a POST with a purpose, by a holder of person.unmask on
    # the region (of the exporters only the township supervisor; staff need the unmask grant).
    "reports.download_full": Route(
        "POST",
        lambda t: f"/reports/{t.region}/not_enrolled.xlsx",
        EXPORTERS,
        200,
        404,
        data=lambda t: {"purpose": "医保经办核对"},
        inside_role_status={role: 403 for role in EXPORTERS - UNMASKERS},
    ),
    # ---- the grid worker's phone (我的任务) ----
    "tasks.index": Route(
        "GET",
        lambda t: "/tasks/",
        VISITORS,
        200,
        200,
        shows_object=True,
        prepare=_task_of_the_actor,
    ),
    "tasks.detail": Route(
        "GET", lambda t: f"/tasks/{t.file_id}", VISITORS, 200, 404, prepare=_task_file
    ),
    "tasks.visit": Route(
        "POST",
        lambda t: f"/tasks/{t.file_id}/visit",
        VISITORS,
        302,
        404,
        data=_visit_data,
        prepare=_task_file,
    ),
    "tasks.call": Route(
        "POST", lambda t: f"/tasks/{t.file_id}/call", VISITORS, 200, 404, prepare=_task_phone
    ),
    # ---- evidence images (证明材料): whoever sees the person file (person.view) ----
    "evidence.image": Route(
        "GET", lambda t: f"/evidence/{t.evidence_id}", PERSON_VIEWERS, 200, 404, prepare=_evidence
    ),
    "evidence.thumb": Route(
        "GET",
        lambda t: f"/evidence/{t.evidence_id}/thumb",
        PERSON_VIEWERS,
        200,
        404,
        prepare=_evidence,
    ),
    # ---- duplicate enrollment (重复参保): the cases holding a record in the actor's region ----
    "duplicates.index": Route(
        "GET",
        lambda t: "/duplicates/",
        DUPLICATE_HANDLERS,
        200,
        200,
        shows_object=True,
        prepare=_duplicate,
    ),
    "duplicates.detail": Route(
        "GET",
        lambda t: f"/duplicates/{t.case_id}",
        DUPLICATE_HANDLERS,
        200,
        404,
        prepare=_duplicate,
    ),
    "duplicates.propose": Route(
        "POST",
        lambda t: f"/duplicates/{t.case_id}/propose",
        DUPLICATE_HANDLERS,
        303,
        404,
        data=_proposal_data,
        prepare=_duplicate,
    ),
    # The proposal is another user's; the actor holds both records (a level above both).
    "duplicates.decide": Route(
        "POST",
        lambda t: f"/duplicates/{t.case_id}/decide",
        DUPLICATE_HANDLERS,
        303,
        404,
        data=lambda t: {"version": "1", "decision": "confirm"},
        prepare=_duplicate_proposed,
    ),
    # Only the proposer may withdraw: anyone else in scope is told so on the page.
    "duplicates.withdraw": Route(
        "POST",
        lambda t: f"/duplicates/{t.case_id}/withdraw",
        DUPLICATE_HANDLERS,
        200,
        404,
        data=lambda t: {"version": "1"},
        prepare=_duplicate_proposed,
    ),
    # 重新检测: a job for the whole deployment, no object of a region.
    "duplicates.detect": Route(
        "POST",
        lambda t: "/duplicates/detect",
        DUPLICATE_HANDLERS,
        303,
        303,
        data=lambda t: {"year": str(MOVES_YEAR)},
    ),
    # ---- ranking notices (月度通报) ----
    "notices.index": Route("GET", lambda t: "/notices/", STATS_USERS, 302, 302),
    "notices.region": Route(
        "GET", lambda t: f"/notices/{t.region}", STATS_USERS, 200, 404, prepare=_notice
    ),
    # Issued, or (a community: no children) refused with the reason: back to the page.
    "notices.issue": Route(
        "POST", lambda t: f"/notices/{t.region}/issue", NOTICE_ISSUERS, 303, 404
    ),
    "notices.export": Route(
        "GET", lambda t: f"/notices/{t.notice_id}.xlsx", EXPORTERS, 200, 404, prepare=_notice
    ),
    "notices.picture": Route(
        "GET", lambda t: f"/notices/{t.notice_id}.png", STATS_USERS, 200, 404, prepare=_notice
    ),
}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"}
    missing = endpoints - set(MATRIX)
    assert not missing, f"routes without an authorization-matrix entry: {sorted(missing)}"
    assert not set(MATRIX) - endpoints, "matrix entries for routes that no longer exist"


def _target(role: str, where: str) -> Target:
    region_code = (world.INSIDE_REGION if where == "inside" else world.OUTSIDE_REGION)[role]
    username = (world.INSIDE_USER if where == "inside" else world.OUTSIDE_USER)[role]
    region = db.session.get(Region, region_code)
    user = db.session.scalar(select(User).where(User.username == username))
    marker = f"matrix-{where}-{role}"
    batch = ImportBatch(
        kind="household",
        filename=f"{marker}.xlsx",
        stored_path="",
        sha256="0" * 64,
        size_bytes=1,
        region_code=region_code,
        state="succeeded",
    )
    run = ComparisonRun(region_code=region_code, year=2026, state="succeeded")
    # A person whose current file is assigned to the grid worker of the matrix (fc_grid1).
    person = Person(
        id_number=make_id(len(role), birth=f"{19800101 + (where == 'inside')}"),
        name="矩阵人员",
        sex="1",
        birth_date=date(1980, 1, 1),
        region_code=region_code,
    )
    grid_worker = db.session.scalar(
        select(User.id).where(User.username == world.ACTOR["grid_worker"])
    )
    person.files.append(
        PersonFile(
            region_code=region_code,
            year=date.today().year,
            file_number=f"M-{where}-{role}"[:32],
            state="assigned",
            assignee_id=grid_worker,
        )
    )
    db.session.add_all([batch, run, person])
    db.session.commit()  # releases a savepoint; the test's outer transaction still rolls back
    return Target(
        region=region_code,
        batch_id=batch.id,
        run_id=run.id,
        person_id=person.id,
        region_name=region.name,
        user_id=user.id,
        username=username,
        display_name=user.display_name,
        grant_id=user.grants[0].id,
        marker=marker,
    )


CELLS = [
    (endpoint, role, where)
    for endpoint in MATRIX
    for role in ROLES
    for where in ("inside", "outside")
]


@pytest.mark.parametrize(("endpoint", "role", "where"), CELLS)
def test_cell(app, login, endpoint, role, where):
    route = MATRIX[endpoint]
    with app.app_context():
        target = _target(role, where)
        if route.prepare:
            route.prepare(target, where)
    client = login(world.ACTOR[role])
    call = client.get if route.method == "GET" else client.post
    response = call(route.path(target), data=route.data(target))
    if role in route.allowed:
        expected = route.inside if where == "inside" else route.outside
        expected = route.role_status.get(role, expected)
        if where == "inside":
            expected = route.inside_role_status.get(role, expected)
    else:
        expected = 403
    assert response.status_code == expected, (
        f"{endpoint} as {role} ({where}): {response.status_code}, expected {expected}"
    )
    if route.shows_object and response.status_code == 200:
        body = response.get_data(as_text=True)
        # Look for something the page shows of the object, never the echoed search text.
        if route.prepare or endpoint == "imports.index":
            shown = target.marker in body
        elif endpoint == "comparisons.index":
            shown = f"/comparisons/{target.run_id}" in body
        elif endpoint == "regions.search":
            shown = target.region in body
        else:
            shown = target.display_name in body
        assert shown == (where == "inside"), (
            f"{endpoint} as {role}: the object {where} the region is "
            f"{'missing' if where == 'inside' else 'shown'}"
        )


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_anonymous(app, client, endpoint):
    route = MATRIX[endpoint]
    with app.app_context():
        target = _target("province_admin", "inside")
    call = client.get if route.method == "GET" else client.post
    response = call(route.path(target), data=route.data(target))
    assert response.status_code == route.anonymous
    if response.status_code == 302 and endpoint != "auth.logout":
        assert "/login" in response.headers["Location"]
