"""Error pages in Chinese; htmx requests get a short fragment instead of a full page."""

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

from portal.htmx import is_partial

MESSAGES = {
    400: ("请求无效", "提交的内容无法处理，请返回重试。"),
    403: ("无权访问", "您没有执行此操作的权限。如需权限，请联系上级管理员。"),
    404: ("未找到", "您要找的内容不存在，或不在您的管辖范围内。"),
    405: ("请求方式不正确", "请通过页面上的按钮操作。"),
    413: ("文件过大", "上传的文件超过了允许的大小。"),
    500: ("系统错误", "系统出现错误，请稍后重试。如果问题持续，请联系管理员。"),
}


def _render(status: int, detail: str | None = None):
    title, message = MESSAGES.get(status, MESSAGES[500])
    template = "errors/_fragment.html" if is_partial() else "errors/error.html"
    return render_template(template, status=status, title=title, message=detail or message), status


def install(app: Flask) -> None:
    for status in MESSAGES:
        app.register_error_handler(status, lambda e, s=status: _render(s))

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return _render(400, "页面已过期或表单校验失败，请刷新页面后重新提交。")
