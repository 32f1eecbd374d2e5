"""Exporting a report form: compute it, write the workbook to a private temporary file, audit
the export (the form, the year, whether the detail list was unmasked and how many persons it
listed, and for full numbers the purpose stated). The caller (the view) checks report.export on
the region first, person.unmask too for full numbers, and sends the file."""

from pathlib import Path

from portal.audit import operations as audit
from portal.persons.export import new_export_path
from portal.regions.models import Region
from portal.reports import forms, workbook


def export_form(
    actor, form_code: str, region: Region, year: int, *, full: bool = False, purpose: str = ""
) -> tuple[Path, str]:
    """(path of the new workbook, its download name); the caller deletes the file."""
    table = forms.compute(form_code, region.code, year)
    path = new_export_path("report")
    try:
        with path.open("wb") as stream:
            written = workbook.write(table, stream, actor=actor, full=full)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    detail = {"what": "report_form", "form": form_code, "year": year, "rows": len(table.rows)}
    if written.detail_rows is not None:
        detail |= {"detail_rows": written.detail_rows, "masked": written.masked}
        if not written.masked:
            detail["purpose"] = purpose[:200]
    audit.record(
        "export",
        actor=actor,
        target_type="report_form",
        target_id=form_code,
        target_label=table.title + ("" if written.masked else "（含完整号码）"),
        region_code=region.code,
        detail=detail,
    )
    suffix = "" if written.masked else "（完整号码）"
    return path, f"{table.title}{suffix}.xlsx"
