"""Writing to the audit trail. Personal data never goes into `detail`; ids and labels do."""

import logging

from flask import g, has_request_context, request
from flask_login import current_user

from portal.audit import limits
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.masking import mask_free_text

log = logging.getLogger(__name__)

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
    "evidence.view": "查看证明材料",
    "person.edit": "修改人员信息",
    "file.assign": "分配档案",
    "visit.record": "记录走访",
    "file.review": "审核核销",
    "access.denied": "越权访问被拒绝",
    "audit.export": "导出审计日志",
    "target.set": "设定目标",
    "duplicate.propose": "提出重复参保处理意见",
    "duplicate.confirm": "确认重复参保处理",
    "duplicate.return": "退回重复参保处理意见",
    "duplicate.withdraw": "撤回重复参保处理意见",
    "duplicate.detect": "发起重复参保检测",
    "report.period": "开启报表报送期",
    "report.submit": "报送报表",
    "report.return": "退回报表",
    "report.accept": "审核通过报表",
    "report.reopen": "撤销审核通过报表",
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
    # Free text typed by someone (a search term, a username) may hold an ID or mobile number.
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_username=getattr(actor, "username", None) or mask_free_text(actor_username),
        ip=client_ip(),
        action=action,
        result=result,
        target_type=target_type,
        target_id=None if target_id is None else mask_free_text(str(target_id)),
        target_label=mask_free_text(target_label),
        region_code=region_code,
        detail=_masked(detail),
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


def _masked(value):
    """`detail` with every string in it passed through mask_free_text."""
    if isinstance(value, str):
        return mask_free_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


# Refused access to an object (a foreign id: 403/404): at most this many events per user (or
# address) and object kind in a window, so that a probe cannot flood the log.
DENIED_PER_WINDOW = 5
DENIED_WINDOW_SECONDS = 60


def denied(object_type: str, object_id, *, actor=None, status: int = 404) -> AuditEvent | None:
    """Record a refused access to one object, rate-limited; the event, or None when limited."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    who = f"user:{actor.id}" if getattr(actor, "id", None) else f"ip:{client_ip()}"
    if not limits.allow(
        f"audit.denied:{who}:{object_type}", DENIED_PER_WINDOW, DENIED_WINDOW_SECONDS
    ):
        return None
    detail = {"object": object_type, "status": status}
    if has_request_context():
        detail["path"] = request.path
    event = record(
        "access.denied",
        "denied",
        actor=actor,
        target_type=object_type,
        target_id=object_id,
        region_code=getattr(actor, "region_code", None),  # the auditors of the user's region
        detail=detail,
    )
    if has_request_context():
        # The refused request rolls back (portal/request_cycle.py): the event is written again
        # after it, in its own commit (write_deferred, at the request's teardown).
        db.session.expunge(event)
        g.setdefault(DEFERRED, []).append(event)
    return event


DEFERRED = "audit_deferred"


def write_deferred(_exc=None) -> None:
    """At the end of a request: commit the events that must survive its rollback."""
    events = g.pop(DEFERRED, None)
    if not events:
        return
    try:
        db.session.rollback()  # whatever the request left: not ours to commit
        db.session.add_all(events)
        db.session.commit()
    except Exception:  # noqa: BLE001 - an audit write failing must not turn an answer into a 500
        db.session.rollback()
        log.exception("refused-access audit events not written")
