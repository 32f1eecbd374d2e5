"""The request wrapper: refuse unchecked views, then commit once or roll back."""

import logging

from flask import Flask, Response, request

from permissions import was_consulted
from portal.extensions import db

log = logging.getLogger(__name__)


def install(app: Flask) -> None:
    @app.after_request
    def finish(response: Response) -> Response:
        endpoint = request.endpoint
        if response.status_code >= 400 or endpoint is None or endpoint == "static":
            db.session.rollback()
            return response
        if app.config["PERMISSIONS_REQUIRE_CONSULT"] and not was_consulted():
            db.session.rollback()
            log.error("view %s returned without consulting permissions/", endpoint)
            return Response("权限检查缺失，请求已拒绝。", status=500, mimetype="text/plain")
        db.session.commit()
        if request.headers.get("HX-Request"):
            response.vary.add("HX-Request")
        return response
