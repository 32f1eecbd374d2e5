"""Exporting the filtered person list to Excel in constant memory, masked unless allowed.

The rows come from the list's own scoped query, streamed (`yield_per`; a server-side cursor on
PostgreSQL) into the sheet of a workbook in a temporary file under instance/exports
(spreadsheets.write_plain_table: a string a row, openpyxl writing the rest), which the view sends
and then deletes. Every cell goes through spreadsheets.neutralize (formula injection), and
every export is audited: who, how many rows, which filters, masked or not.
"""

from datetime import date
from pathlib import Path

from permissions import can, scope_for
from portal import storage
from portal.audit import operations as audit
from portal.extensions import db
from portal.masking import mask_id_number, mask_phone
from portal.persons import codes, queries
from portal.persons.queries import PersonFilters
from portal.regions import codes as region_codes
from portal.spreadsheets import write_plain_table

YIELD_PER = 2000
SHEET_TITLE = "人员档案"
HEADERS = [
    "姓名",
    "公民身份号码",
    "性别",
    "出生日期",
    "年龄",
    "联系电话",
    "管理社区",
    "社区代码",
    "现住址",
    "参保状态",
    "参保类型",
    "重点人群",
    "政府资助人群",
    "医保电子凭证",
    "档案编号",
    "档案状态",
    "未参保原因",
]
WIDTHS = {1: 10, 2: 21, 4: 12, 6: 14, 7: 20, 8: 14, 9: 28, 12: 24, 15: 22}


def exports_dir() -> Path:
    """Outside the web root and the repository, owner-only (0700); files live only while being
    sent (portal/storage: this machine's scratch, never shared)."""
    return storage.scratch_dir("exports")


def new_export_path(prefix: str) -> Path:
    """A new empty workbook file in exports_dir(), created 0600."""
    return storage.private_temp_path(suffix=".xlsx", name="exports", prefix=f"{prefix}-")


def _audit_region(scope, filters: PersonFilters) -> str | None:
    """The region an export concerns: the filtered region, else the top of the scope."""
    if filters.region:
        return filters.region
    prefixes = scope.prefixes + scope.assigned_prefixes
    if not prefixes:
        return None
    common = prefixes[0]
    for p in prefixes[1:]:
        while not p.startswith(common):
            common = common[:-1]
    for length in sorted(region_codes.PREFIX_LENGTH.values(), reverse=True):
        if len(common) >= length:
            return region_codes.pad(common[:length])
    return None


def _row(record, today: date, unmask_scope) -> list:
    shown = unmask_scope is not None and unmask_scope.contains(
        record.region_code, record.assignee_id
    )
    groups = queries.key_populations(record.key_populations)
    return [
        record.name,
        record.id_number if shown else mask_id_number(record.id_number),
        queries.SEX_LABELS.get(record.sex, record.sex),
        record.birth_date.isoformat() if record.birth_date else None,
        queries.age(record.birth_date, today),
        (record.phone if shown else mask_phone(record.phone)) or None,
        record.region_name or record.region_code,
        record.region_code,
        record.address,
        codes.INSURED_STATUS_LABELS.get(record.insured_status, record.insured_status),
        codes.SCHEME_LABELS.get(record.insured_scheme, record.insured_scheme),
        "、".join(k.label for k in groups) or None,
        "是" if any(k.government_paid for k in groups) else None,
        "已激活" if record.e_credential else "未激活",
        record.file_number,
        codes.FILE_STATE_LABELS.get(record.file_state, record.file_state),
        codes.REASON_LABELS.get(record.reason_code, record.reason_code),
    ]


def export_persons(
    actor, filters: PersonFilters, *, full: bool = False, purpose: str = ""
) -> tuple[Path, int, bool]:
    """Write the filtered list to a new temporary workbook; returns (path, rows, masked).

    Full numbers only when asked for and the actor holds person.unmask, and then only for the
    rows within the actor's unmask scope. The caller sends the file and deletes it. The purpose
    the user stated (用途, required by the view for full numbers) goes into the audit record.
    """
    unmask_scope = (
        scope_for(actor, "person.unmask") if full and can(actor, "person.unmask") else None
    )
    query = queries.export_query(actor, filters).execution_options(
        stream_results=True, yield_per=YIELD_PER
    )
    path = new_export_path("persons")
    today = date.today()
    try:
        result = db.session.execute(query)
        try:
            rows = write_plain_table(
                path,
                SHEET_TITLE,
                HEADERS,
                (_row(record, today, unmask_scope) for record in result),
                WIDTHS,
            )
        finally:
            result.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    masked = unmask_scope is None
    audit.record(
        "export",
        actor=actor,
        target_type="person_list",
        target_label=SHEET_TITLE,
        region_code=_audit_region(scope_for(actor, "person.view"), filters),
        detail={
            "what": "persons",
            "rows": rows,
            "filters": _audited_filters(filters),
            "masked": masked,
            "purpose": purpose[:200],
        },
    )
    return path, rows, masked


def _audited_filters(filters: PersonFilters) -> dict:
    """The filters as the audit trail keeps them: a full ID number only masked."""
    active = filters.active()
    if len(active.get("id_number", "")) == 18:
        active["id_number"] = mask_id_number(active["id_number"])
    return active
