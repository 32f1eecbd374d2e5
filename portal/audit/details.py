"""An audit event's details in Chinese, for the audit page and its export.

`detail` is stored as written (codes and ids: stable, searchable); this module says it in
words: each key by its label, codes by their labels, users and regions by their names (looked up
in bulk for a page: `Lookups.for_events`). A key or code not listed here is shown as it is.
"""

from dataclasses import dataclass, field

from permissions.roles import label as role_label
from portal.duplicates import models as duplicate_models
from portal.persons import codes as person_codes
from portal.visits import codes as visit_codes

KEY_LABELS = {
    "kind": "方式",
    "assigned": "分配",
    "returned": "收回",
    "worker_id": "网格员",
    "from_worker_id": "交出网格员",
    "reason": "原因",
    "role": "角色",
    "region": "区划",
    "via": "途径",
    "year": "参保年度",
    "forced": "确认异常后运行",
    "confirms_run": "确认的比对",
    "checks": "检查项",
    "bytes": "文件大小（字节）",
    "sha256": "文件摘要",
    "what": "内容",
    "fields": "列对应",
    "rows": "行数",
    "filters": "筛选条件",
    "masked": "号码脱敏",
    "sort": "排序",
    "outcome": "走访结果",
    "method": "走访方式",
    "decision": "审核结果",
    "comment": "意见",
    "file_id": "档案",
    "visit_id": "走访记录",
    "evidence": "证明材料（张）",
    "waiver": "证明材料豁免原因",
    "object": "对象",
    "object_id": "对象编号",
    "status": "响应",
    "path": "地址",
    "username": "用户名",
    "query": "查询内容",
    "cover_reason": "代管原因",
    # duplicate enrollment (portal/duplicates/service.py): the records by their ids
    "proposal": "意见类型",
    "duplicate_kind": "重复类型",
    "keep": "保留的参保记录",
    "terminate": "终止的参保记录",
    "suspend": "暂停的参保记录",
    "conflict": "他人已先处理",
    # report forms, their submission and the ranking notices (portal/reports, portal/notices)
    "form": "报表",
    "detail_rows": "明细人数",
    "purpose": "用途",
    "period": "报送期",
    "code": "期次代码",
    "version": "版本号",
    "which": "报表版本",
    "month": "月份",
    "county_due": "县级报送截止日期",
    "city_due": "市级报送截止日期",
    "province_due": "省级报送截止日期",
}
FILTER_LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "phone_tail": "电话末4位",
    "region": "区划",
    "insured_status": "参保状态",
    "scheme": "险种",
    "key_population": "重点人群",
    "file_state": "档案状态",
    "reason": "未参保原因",
    "e_credential": "电子凭证",
    "community": "社区",
    "state": "档案状态",
    "action": "操作",
    "result": "结果",
    "date_from": "起始日期",
    "date_to": "截止日期",
}
VALUE_LABELS = {
    "e_credential": {"yes": "已激活", "no": "未激活"},  # the persons list's filter
    "kind": {
        "assign": "勾选或按筛选分配",
        "auto_assign": "按包片自动分配",
        "handover": "交接",
        "cover": "代管",
        "register": "户籍人口",
        "resident": "常住人口",
        "insured": "参保人员",
        "lapsed": "断缴人员",
        "e_credential": "医保电子凭证激活名单",
    },
    "reason": {
        "unknown_user": "用户不存在",
        "bad_password": "密码错误",
        "locked": "账户已锁定",
        "disabled": "账户已停用",
        "bad_current": "当前密码错误",
        "idle": "长时间未操作",
        "absolute": "超过最长登录时间",
        "logout": "退出登录",
        **person_codes.REASON_LABELS,
    },
    "what": {
        "persons": "人员名单",
        "dashboard": "统计表",
        "import_errors": "导入错误行",
        "column_mapping": "列对应关系",
        "audit": "审计日志",
        "report_form": "报表",
        "notice": "月度通报",
    },
    "via": {"cli": "命令行", "call": "拨打电话", "page": "页面"},
    "outcome": visit_codes.OUTCOME_LABELS,
    "method": visit_codes.METHOD_LABELS,
    "decision": {"approve": "通过", "return": "退回", **visit_codes.REVIEW_STATE_LABELS},
    "object": {
        "file": "档案",
        "task": "任务档案",
        "visit": "走访记录",
        "review": "待审核申请",
        "person": "人员",
        "user": "用户",
        "batch": "导入批次",
        "comparison_run": "比对",
        "duplicate_case": "重复参保案件",
    },
    "state": person_codes.FILE_STATE_LABELS,
    "file_state": person_codes.FILE_STATE_LABELS,
    "insured_status": person_codes.INSURED_STATUS_LABELS,
    "scheme": person_codes.SCHEME_LABELS,
    "proposal": {"decide": "处理意见", "not_duplicate": "非重复参保"},
    "duplicate_kind": duplicate_models.KIND_LABELS,
}
USER_KEYS = {"worker_id", "from_worker_id"}
REGION_KEYS = {"region", "community"}


@dataclass
class Lookups:
    """Names of the users and regions a page of events mentions (one query each)."""

    users: dict[int, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_events(cls, events) -> "Lookups":
        from portal.persons.queries import region_names, user_names

        user_ids, region_codes = set(), set()
        for event in events:
            region_codes.add(event.region_code)
            _collect(event.detail or {}, user_ids, region_codes)
        return cls(users=user_names(user_ids), regions=region_names(region_codes))


def _collect(detail: dict, user_ids: set, region_codes: set) -> None:
    for key, value in detail.items():
        if key in USER_KEYS and isinstance(value, int):
            user_ids.add(value)
        elif key in REGION_KEYS and isinstance(value, str):
            region_codes.add(value)
        elif isinstance(value, dict):
            _collect(value, user_ids, region_codes)


def _value(key: str, value, lookups: Lookups) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None or value == "":
        return "—"
    if key in USER_KEYS:
        return lookups.users.get(value, f"用户 #{value}")
    if key in REGION_KEYS:
        return lookups.regions.get(value, str(value))
    if key == "role":
        return role_label(value)
    if key == "form":
        from portal.reports.forms import FORMS

        return FORMS[value].title if value in FORMS else str(value)
    if isinstance(value, dict):
        return (
            "，".join(
                f"{FILTER_LABELS.get(k, KEY_LABELS.get(k, k))}：{_value(k, v, lookups)}"
                for k, v in value.items()
            )
            or "无"
        )
    if isinstance(value, list | tuple):
        return "、".join(_value(key, v, lookups) for v in value) or "无"
    return VALUE_LABELS.get(key, {}).get(value, str(value))


def describe(detail: dict | None, lookups: Lookups) -> list[tuple[str, str]]:
    """The event's details as (Chinese label, Chinese value) pairs, in the stored order."""
    return [(KEY_LABELS.get(k, k), _value(k, v, lookups)) for k, v in (detail or {}).items()]


def describe_text(detail: dict | None, lookups: Lookups) -> str:
    return "；".join(f"{label}：{value}" for label, value in describe(detail, lookups))
