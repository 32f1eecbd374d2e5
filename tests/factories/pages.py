"""Reading forms off a page and switching CSRF protection on for a test (the test app runs with
WTF_CSRF_ENABLED=False; it is read per request)."""

import json
from contextlib import contextmanager
from html.parser import HTMLParser


@contextmanager
def csrf_on(app):
    saved = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = saved


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.body_attrs: dict | None = None
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body_attrs = attrs
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs.get("name")] = attrs.get("value")


def parse(response) -> _Page:
    page = _Page()
    page.feed(response.get_data(as_text=True))
    return page


def form_token(response) -> str:
    token = parse(response).hidden.get("csrf_token")
    assert token, "the form has no csrf_token field"
    return token


def header_token(response) -> str:
    attrs = parse(response).body_attrs
    assert attrs is not None and "hx-headers" in attrs, "<body> has no hx-headers"
    return json.loads(attrs["hx-headers"])["X-CSRFToken"]
