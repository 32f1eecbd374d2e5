"""Setting the targets of a region's children (设定下级目标): one editable table, an Excel
template, and an upload shown in the same table before anything is saved.

A region's children get their targets from the holders of target.set on that region: a city
sets its counties, a county its townships, a township supervisor its communities. A region
outside the actor's target.set scope is not found.
"""

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from permissions import requires, scope_for
from portal.accounts.models import User
from portal.downloads import send_written_file
from portal.extensions import db
from portal.persons.export import exports_dir
from portal.regions import queries as region_queries
from portal.regions.models import Region
from portal.request_cycle import current_actor
from portal.stats.figures import Figures, child_figures
from portal.targets import excel, service
from portal.targets.models import TARGET_KINDS, RegionTarget
from portal.timeutil import format_local, utcnow
from portal.years.selection import parse_year, selected_year

bp = Blueprint("targets", __name__, url_prefix="/targets")
ACTION = "target.set"


@dataclass
class FormRow:
    """One child in the table: its figures, its stored target, what the form shows."""

    region: Region
    figures: Figures
    target: RegionTarget | None
    kind: str
    text: str
    error: str | None = None
    changed_by: str | None = None
    changed_at: str | None = None
    from_file: bool = False  # the value shown comes from the uploaded file

    @property
    def coverage(self) -> str:
        c = self.figures.coverage
        return "—" if c is None else f"{c * 100:.1f}%"


def _region_or_404(code: str) -> Region:
    return region_queries.get_region_or_404(code, scope_for(current_actor(), ACTION))


def _rows(region: Region, year: int, typed=None, errors=None, from_file=()) -> list[FormRow]:
    """The children with their figures and targets; `typed` (code → Entry) overrides what the
    form shows, `errors` (code → message) goes beside the row."""
    typed, errors = typed or {}, errors or {}
    targets = service.targets_of_children(region.code, year)
    ids = {t.updated_by_id for t in targets.values() if t.updated_by_id}
    query = select(User.id, User.display_name).where(User.id.in_(ids))
    names = {i: name for i, name in db.session.execute(query)} if ids else {}
    rows = []
    for child, figures in child_figures(region.code, year):
        target = targets.get(child.code)
        entry = typed.get(child.code)
        rows.append(
            FormRow(
                region=child,
                figures=figures,
                target=target,
                kind=entry.kind if entry else (target.kind if target else "rate"),
                text=entry.text if entry else service.value_text(target),
                error=errors.get(child.code),
                changed_by=names.get(target.updated_by_id) if target else None,
                changed_at=format_local(target.updated_at) if target else None,
                from_file=child.code in from_file,
            )
        )
    return rows


def _render(region: Region, year: int, rows: list[FormRow], *, file_errors=(), uploaded=None):
    return render_template(
        "targets/edit.html",
        region=region,
        trail=region_queries.trail(region, scope_for(current_actor(), ACTION)),
        year=year,
        rows=rows,
        kinds=TARGET_KINDS,
        file_errors=list(file_errors),
        uploaded=uploaded,
        error_count=sum(1 for r in rows if r.error),
    )


def _form_entries(region: Region) -> list[service.Entry]:
    """The entries the form posted, for the children whose value field it holds."""
    entries = []
    for child in region_queries.children(region):
        text = request.form.get(f"value-{child.code}")
        if text is None:
            continue
        entries.append(service.Entry(child.code, request.form.get(f"kind-{child.code}", ""), text))
    return entries


@bp.route("/<region_code>")
@requires(ACTION)
def edit(region_code: str):
    region = _region_or_404(region_code)
    year = selected_year()
    return _render(region, year, _rows(region, year))


@bp.route("/<region_code>", methods=["POST"])
@requires(ACTION)
def save(region_code: str):
    region = _region_or_404(region_code)
    year = parse_year(request.form.get("year")) or selected_year()
    entries = _form_entries(region)
    result = service.set_targets(current_actor(), region.code, year, entries)
    if not result.ok:
        flash(
            f"有 {len(result.errors)} 行填写有误，所有目标均未保存。请修改标红的行后重新保存。",
            "error",
        )
        typed = {e.region_code: e for e in entries}
        return _render(region, year, _rows(region, year, typed, result.errors))
    if result.changed:
        flash(f"已保存 {year} 参保年度目标：{len(result.changed)} 个区划的目标有变化。", "success")
    else:
        flash("目标没有变化。", "info")
    return redirect(url_for("targets.edit", region_code=region.code, year=year))


@bp.route("/<region_code>/template.xlsx")
@requires(ACTION)
def template(region_code: str):
    region = _region_or_404(region_code)
    year = selected_year()
    targets = service.targets_of_children(region.code, year)
    rows = [(c, f, targets.get(c.code)) for c, f in child_figures(region.code, year)]
    path = exports_dir() / f"targets-{uuid.uuid4().hex}.xlsx"
    excel.write_template(path, rows)
    name = f"{region.name}{year}参保年度下级目标-{format_local(utcnow(), '%Y%m%d')}.xlsx"
    return send_written_file(path, name)


@bp.route("/<region_code>/upload", methods=["POST"])
@requires(ACTION)
def upload(region_code: str):
    region = _region_or_404(region_code)
    year = parse_year(request.form.get("year")) or selected_year()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        rows = _rows(region, year)
        return _render(region, year, rows, file_errors=["请选择要上传的 Excel 文件。"])
    children = region_queries.children(region)
    current = service.targets_of_children(region.code, year)
    handle, name = tempfile.mkstemp(suffix=".upload", dir=exports_dir())
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as f:
            upload.save(f)
        parsed = excel.read_targets(path, upload.filename, region, children, current)
    except excel.TemplateError as exc:
        return _render(region, year, _rows(region, year), file_errors=[str(exc)])
    finally:
        path.unlink(missing_ok=True)
    if parsed.errors:
        rows = _rows(region, year)
        return _render(region, year, rows, file_errors=parsed.errors)
    if not parsed.entries:
        return _render(region, year, _rows(region, year), file_errors=["文件中没有读到目标。"])
    checked = service.check_targets(region.code, year, parsed.entries.values())
    rows = _rows(region, year, parsed.entries, checked.errors, from_file=set(parsed.entries))
    return _render(region, year, rows, uploaded=(upload.filename, len(parsed.entries)))
