"""The ranking notice pages (月度通报): a region's notice of a month, its past months, issuing
one on demand, and each notice as an Excel sheet and as one PNG for a work group chat.

Seeing a notice is seeing figures (stats.view, like the dashboard); a region outside the
actor's scope — and a notice of such a region — is not found. The Excel download is an export
(report.export), audited; issuing one takes notice.issue on the region.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from permissions import can, requires, scope_for
from portal.audit import operations as audit
from portal.dashboard import regions
from portal.downloads import send_bytes
from portal.notices import excel, image, present, service
from portal.notices.models import RankingNotice
from portal.regions import queries as region_queries
from portal.request_cycle import current_actor
from portal.timeutil import format_local, local_today

bp = Blueprint("notices", __name__, url_prefix="/notices")
ISSUE_ACTION = "notice.issue"


def _notice_or_404(notice_id: int) -> tuple[RankingNotice, object]:
    """A notice of a region in the actor's stats.view scope (any other is not found)."""
    notice = service.get_notice(notice_id)
    if notice is None:
        abort(404)
    return notice, regions.get_region_or_404(notice.region_code, current_actor())


@bp.route("/")
@requires(regions.ACTION)
def index():
    """The notices of the user's own top region."""
    region = regions.home_region(current_actor())
    if region is None:
        abort(404)
    return redirect(url_for("notices.region", region_code=region.code))


@bp.route("/<region_code>")
@requires(regions.ACTION)
def region(region_code: str):
    actor = current_actor()
    place = regions.get_region_or_404(region_code, actor)
    months = service.months_of(place.code)
    asked = request.args.get("month")
    month = service.parse_month(asked)
    if asked and month is None:
        flash("月份格式不正确，请从列表中选择（如 2026-11）。", "error")
    notice = service.latest(place.code, month) if month else service.latest(place.code)
    if month is not None and notice is None:
        flash(f"{place.name}没有 {service.month_label(month)} 的通报，显示最近一期。", "warning")
        notice = service.latest(place.code)
    previous = None
    if notice is not None and notice.summary.get("previous_id"):
        previous = service.get_notice(notice.summary["previous_id"])
    return render_template(
        "notices/region.html",
        region=place,
        trail=regions.trail(place, actor),
        notice=notice,
        view=present.view_of(notice) if notice is not None else None,
        previous=previous,
        months=months,
        has_children=place.level in service.PARENT_LEVELS,
        may_issue=place.level in service.PARENT_LEVELS and can(actor, ISSUE_ACTION, place.code),
        may_export=regions.may_export(actor, place),
        current_month=service.first_of(local_today()),
        month_label=service.month_label,
        movers_text=present.movers_text,
        format_local=format_local,
    )


@bp.route("/<region_code>/issue", methods=["POST"])
@requires(ISSUE_ACTION)
def issue(region_code: str):
    actor = current_actor()
    place = region_queries.get_region_or_404(region_code, scope_for(actor, ISSUE_ACTION))
    regions.get_region_or_404(place.code, actor)  # and its figures may be seen
    try:
        notice = service.issue_now(place, actor)
    except service.NoticeError as exc:
        flash(str(exc), "error")
        return redirect(url_for("notices.region", region_code=place.code), 303)
    audit.record(
        ISSUE_ACTION,
        actor=actor,
        target_type="ranking_notice",
        target_id=notice.id,
        target_label=f"{place.name}{service.month_label(notice.month)}通报（临时）",
        region_code=place.code,
        detail={"月份": notice.month.isoformat(), "下级区划": len(notice.rows)},
    )
    flash(f"已生成{place.name}{service.month_label(notice.month)}的临时通报。", "success")
    month = notice.month.strftime("%Y-%m")
    return redirect(url_for("notices.region", region_code=place.code, month=month), 303)


@bp.route("/<int:notice_id>.xlsx")
@requires(regions.EXPORT_ACTION)
def export(notice_id: int):
    actor = current_actor()
    notice, place = _notice_or_404(notice_id)
    if not regions.may_export(actor, place):
        abort(404)
    data, title = excel.workbook(notice)
    audit.record(
        "export",
        actor=actor,
        target_type="ranking_notice",
        target_id=notice.id,
        target_label=title,
        region_code=place.code,
        detail={"what": "notice", "month": notice.month.isoformat(), "rows": len(notice.rows)},
    )
    return send_bytes(data, f"{title}.xlsx")


@bp.route("/<int:notice_id>.png")
@requires(regions.ACTION)
def picture(notice_id: int):
    """The notice as one picture for a work group chat: figures of regions, as the page shows
    them (stats.view), no personal data: not audited like the Excel export."""
    notice, place = _notice_or_404(notice_id)
    return send_bytes(image.png(notice), f"{present.title_of(notice)}.png")
