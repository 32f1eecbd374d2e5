"""The request wrapper: refuse unchecked views, then commit once or roll back."""

import logging
import time

from flask import Flask, Response, g, request
from flask_login import current_user

from permissions import was_consulted
from portal.extensions import db

log = logging.getLogger(__name__)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
REQUEST_STATE = ("permissions_consulted", "_login_user", "session_end_reason")
STARTED = "request_started"


def current_actor():
    """The signed-in user as the model object (not the proxy): for services and audit records."""
    return current_user._get_current_object()


def _automatic_options() -> bool:
    rule = request.url_rule
    return request.method == "OPTIONS" and bool(getattr(rule, "provide_automatic_options", False))


def install(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        # Flask reuses an already pushed application context (and its `g`) for a request;
        # per-request state must never carry over from an earlier request.
        for name in REQUEST_STATE:
            g.pop(name, None)
        setattr(g, STARTED, time.perf_counter())

    @app.after_request
    def headers(response: Response) -> Response:
        # Runs last (after_request functions run in reverse order), for every response.
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static" and "no-store" not in response.headers.get(
            "Cache-Control", ""
        ):
            # Pages carry personal data: never kept in a shared or browser cache (a view that
            # already said no-store, e.g. "private, no-store" for evidence images, keeps its own).
            response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            # The same URL answers a fragment or the whole page depending on HX-Request: every
            # HTML answer says so, the full page too (else a cache could serve one for the other).
            response.vary.add("HX-Request")
        started = g.get(STARTED)
        if started is not None:
            # Server time of the request (bench/ load scripts read it; browsers show it).
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
        return response

    @app.after_request
    def finish(response: Response) -> Response:
        endpoint = request.endpoint
        if response.status_code >= 400 or endpoint is None or endpoint == "static":
            db.session.rollback()
            return response
        if _automatic_options():
            # Flask answered OPTIONS itself (the Allow header) without running the view: nothing
            # was read, so nothing was checked, and there is nothing to refuse or to commit.
            db.session.rollback()
            return response
        if app.config["PERMISSIONS_REQUIRE_CONSULT"] and not was_consulted():
            db.session.rollback()
            log.error("view %s returned without consulting permissions/", endpoint)
            return Response("权限检查缺失，请求已拒绝。", status=500, mimetype="text/plain")
        db.session.commit()
        return response
