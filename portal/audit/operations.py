"""Writing to the audit trail. Personal data never goes into `detail`; ids and labels do."""

from flask import has_request_context, request
from flask_login import current_user

from portal.audit.models import AuditEvent
from portal.extensions import db

ACTION_LABELS = {
    "login": "登录",
    "logout": "退出登录",
    "session.expired": "会话超时",
    "password.change": "修改密码",
    "password.reset": "重置密码",
    "user.create": "新增用户",
    "user.disable": "停用用户",
    "user.enable": "启用用户",
    "role.grant": "授予角色",
    "role.revoke": "撤销角色",
    "data.import": "导入数据",
    "comparison.run": "运行比对",
    "export": "导出",
    "person.reveal": "查看完整号码",
    "person.edit": "修改人员信息",
    "file.assign": "分配档案",
}
RESULT_LABELS = {"success": "成功", "failure": "失败", "denied": "拒绝"}


def client_ip() -> str | None:
    if not has_request_context():
        return None
    return request.remote_addr


def record(
    action: str,
    result: str = "success",
    *,
    actor=None,
    target_type: str | None = None,
    target_id=None,
    target_label: str | None = None,
    region_code: str | None = None,
    detail: dict | None = None,
    actor_username: str | None = None,
) -> AuditEvent:
    """Add one audit event to the current transaction (committed with the request)."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_username=getattr(actor, "username", None) or actor_username,
        ip=client_ip(),
        action=action,
        result=result,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        target_label=target_label,
        region_code=region_code,
        detail=detail,
    )
    db.session.add(event)
    return event


def record_about_user(
    action: str, target, result: str = "success", *, actor=None, detail: dict | None = None
) -> AuditEvent:
    """An event about one account (sign-in, password, grants…), filed under its region."""
    return record(
        action,
        result,
        actor=actor,
        target_type="user",
        target_id=target.id,
        target_label=target.username,
        region_code=target.region_code,
        detail=detail,
    )
