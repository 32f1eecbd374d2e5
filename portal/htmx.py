"""The one answer to "does this request want a fragment?" (views, error pages, the guard)."""

from flask import request


def is_partial() -> bool:
    """Does this request want a fragment (an htmx swap) rather than the whole page?

    A history restore (the browser's back button after htmx pushed a URL, the snapshot being
    gone) is sent by htmx with HX-Request too, but it replaces the whole body: it needs the page.
    """
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )
