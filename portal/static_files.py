"""Static files under versioned URLs, cached for a year; htmx only on the pages that use it.

`static_url("portal.css")` → ``/static/portal.css?v=<first 12 hex of the file's SHA-256>``: the
hash is computed once per process (the files change only with a deployment, which restarts the
processes; in debug mode it is computed again on every call). A request carrying the current
hash is answered ``Cache-Control: public, max-age=31536000, immutable``: a browser keeps the file
a year and never asks again, not even on reload; a new deployment changes the hash, hence the
URL. A request without it (or with an outdated one) is answered ``no-cache``: revalidated
(ETag / Last-Modified, a 304 on a slow network) rather than served stale.

htmx (52 KB) is loaded only by pages that use it: base.html leaves ``{% block htmx %}`` empty and
a page whose markup (or an included part) carries hx- attributes fills it with
``{{ htmx_script() }}`` (tests/test_static_files.py checks every template).
"""

import hashlib
from pathlib import Path

from flask import Flask, Response, current_app, request, url_for
from markupsafe import Markup

YEAR = 31536000
VERSIONED = f"public, max-age={YEAR}, immutable"
HTMX = "vendor/htmx-2.0.11/htmx.min.js"
# htmx settings: our CSS styles its indicators; no copies of pages (with personal data) are
# kept in localStorage for history restores.
HTMX_CONFIG = '{"includeIndicatorStyles": false, "historyCacheSize": 0}'

_hashes: dict[str, str] = {}


def file_hash(filename: str) -> str:
    """The first 12 hex digits of the static file's SHA-256 (computed once per process)."""
    app = current_app
    if filename in _hashes and not app.debug:
        return _hashes[filename]
    path = Path(app.static_folder) / filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    _hashes[filename] = digest
    return digest


def static_url(filename: str) -> str:
    """The versioned URL of a static file."""
    return url_for("static", filename=filename, v=file_hash(filename))


def htmx_script() -> Markup:
    """What a page that uses htmx puts in its {% block htmx %}."""
    return Markup(
        '<meta name="htmx-config" content=\'{}\'>\n  <script src="{}" defer></script>'
    ).format(Markup(HTMX_CONFIG), static_url(HTMX))


def _cache_headers(response: Response) -> Response:
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    filename = (request.view_args or {}).get("filename", "")
    version = request.args.get("v")
    try:
        current = version is not None and version == file_hash(filename)
    except OSError:
        current = False
    if current:
        response.headers["Cache-Control"] = VERSIONED
    else:
        response.headers["Cache-Control"] = "no-cache"
        response.expires = None
    return response


def install(app: Flask) -> None:
    app.jinja_env.globals["static_url"] = static_url
    app.jinja_env.globals["htmx_script"] = htmx_script
    app.after_request(_cache_headers)
