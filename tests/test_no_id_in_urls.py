"""No full ID number in a URL: searches by ID number are POSTed, and no URL the portal generates
afterwards (links, form actions, htmx attributes, pushed addresses, redirects) holds it.

A URL ends up in the address bar, the access log, the browser history and the Referer header;
the number of a person the user searched for must reach none of them.
"""

from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from tests.factories import XINGFU, YEAR, create_person

HTMX = {"HX-Request": "true"}
URL_ATTRIBUTES = {"href", "src", "action", "hx-get", "hx-post", "hx-push-url", "hx-replace-url"}


class _Urls(HTMLParser):
    """Every URL of a page, and the values a GET form would put into its URL."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.get_form_values: list[str] = []
        self._in_get_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [value for name, value in attrs.items() if name in URL_ATTRIBUTES and value]
        if tag == "form":
            self._in_get_form = (attrs.get("method") or "get").lower() == "get" and not (
                attrs.get("hx-post")
            )
        elif tag in ("input", "select", "textarea", "option") and self._in_get_form:
            self.get_form_values.append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_get_form = False


def _assert_nothing_carries(response, number: str):
    for header in ("Location", "HX-Push-Url", "HX-Replace-Url", "HX-Redirect"):
        assert number not in unquote(response.headers.get(header, "")), header
    page = _Urls()
    page.feed(response.get_data(as_text=True))
    for url in page.urls:
        assert number not in unquote(url), url
    for value in page.get_form_values:
        assert number not in value, "a GET form would send the number in its URL"
    return page


@pytest.fixture
def person(app):
    return create_person(app, 7, "查号人", XINGFU, files=[(YEAR, "assigned", "fc_grid1", None)])


@pytest.mark.parametrize("username", ["fn_staff", "fc_supervisor", "fc_grid1", "js_admin"])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_person_search_by_full_id_number_puts_it_in_no_url(login, person, username, headers):
    client = login(username)
    for number in (person.id_number, person.id_number.lower()):
        response = client.post("/persons/", data={"id_number": number}, headers=headers)
        assert response.status_code == 200  # answered here, not redirected to a URL holding it
        _assert_nothing_carries(response, person.id_number)
        _assert_nothing_carries(response, person.id_number.lower())
        assert "共 1 人" in response.get_data(as_text=True)
        if headers:
            assert response.headers["HX-Push-Url"] == "false"


def test_the_search_form_and_the_export_form_are_posted(login, person):
    response = login("fc_supervisor").post("/persons/", data={"id_number": person.id_number})
    page = _assert_nothing_carries(response, person.id_number)
    html = response.get_data(as_text=True)
    assert 'hx-post="/persons/"' in html and 'action="/persons/export.xlsx"' in html
    assert not page.get_form_values or person.id_number not in page.get_form_values


def test_a_full_id_number_in_a_url_is_refused(login, person):
    response = login("fn_staff").get("/persons/", query_string={"id_number": person.id_number})
    html = response.get_data(as_text=True)
    assert "完整的身份证号不能放在网址中查询" in html
    assert "查号人" not in html


def test_a_search_without_a_full_number_goes_to_its_own_address(login, person):
    client = login("fn_staff")
    response = client.post("/persons/", data={"name": "查号", "id_number": person.id_number[-4:]})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(
        f"/persons/?name=%E6%9F%A5%E5%8F%B7&id_number={person.id_number[-4:]}"
    )
    partial = client.post("/persons/", data={"name": "查号"}, headers=HTMX)
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    assert partial.headers["HX-Push-Url"].startswith("/persons/?name=")


def test_a_task_search_with_a_full_id_number_puts_it_in_no_url(login, person):
    client = login("fc_grid1")
    response = client.post("/tasks/", data={"q": person.id_number})
    assert response.status_code == 200
    assert "请输入姓名，或身份证号的末 4 至 6 位。" in response.get_data(as_text=True)
    _assert_nothing_carries(response, person.id_number)
    tail = client.post("/tasks/", data={"q": person.id_number[-4:]})
    assert tail.status_code == 303 and tail.headers["Location"].endswith(
        f"/tasks/?q={person.id_number[-4:]}"
    )
    assert "查号人" in client.get(tail.headers["Location"]).get_data(as_text=True)


def test_no_page_offers_a_get_form_for_an_id_number(login):
    """Every search form that takes an ID number (or a phone) is POSTed."""
    pages = {"fn_staff": ["/persons/", "/users/", "/desk/320923001000"], "fc_grid1": ["/tasks/"]}
    for username, paths in pages.items():
        client = login(username)
        for path in paths:
            html = client.get(path).get_data(as_text=True)
            for form in html.split("<form")[1:]:
                head = form.split(">", 1)[0]
                fields = form.split("</form>", 1)[0]
                if 'method="post"' in head:
                    continue
                assert 'name="id_number"' not in fields, path
                assert 'name="phone' not in fields, path
                if path == "/tasks/":
                    assert 'name="q"' not in fields, path


def test_the_posted_searches_are_guarded_like_the_lists(client, login, person):
    """The authorization matrix checks these lists by GET; their POST is the same view."""
    assert login("js_auditor").post("/persons/", data={"name": "查"}).status_code == 403
    assert login("fn_staff").post("/tasks/", data={"q": "查"}).status_code == 403
    assert login("fn_admin").post("/tasks/", data={"q": "查"}).status_code == 403
    anonymous = client.post("/persons/", data={"id_number": person.id_number})
    assert anonymous.status_code == 302 and person.id_number not in anonymous.headers["Location"]
