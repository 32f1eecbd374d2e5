"""The request wrapper's shared answers: OPTIONS, Vary, partial requests, one actor helper."""

import logging
import re
from pathlib import Path

import pytest

from portal.htmx import is_partial

PORTAL = Path(__file__).resolve().parent.parent / "portal"


def _sample_path(rule) -> str:
    """A concrete URL for a rule: numbers for int arguments, a region code for the others."""
    path = re.sub(r"<int:[^>]+>", "1", rule.rule)
    return re.sub(r"<[^>]+>", "320923000000", path)


def _routes(app):
    return sorted(
        {_sample_path(rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    )


@pytest.mark.parametrize("signed_in", [False, True])
def test_options_on_every_route_answers_without_a_500_or_an_alarm(
    app, client, login, caplog, signed_in
):
    if signed_in:
        client = login("fn_staff")
    caplog.set_level(logging.WARNING)
    for path in _routes(app):
        response = client.open(path, method="OPTIONS")
        assert response.status_code < 500, (path, response.status_code)
        assert "OPTIONS" in response.headers.get("Allow", ""), path
    alarms = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not alarms, [r.getMessage() for r in alarms]


def test_every_html_answer_varies_on_hx_request(login):
    client = login("fn_staff")
    for path in ("/", "/persons/", "/regions/search?q=阜宁"):
        response = client.get(path)
        assert response.status_code == 200
        assert "HX-Request" in response.headers.get("Vary", ""), path


@pytest.mark.parametrize(
    ("headers", "partial"),
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
    ],
)
def test_is_partial_excludes_history_restores(app, headers, partial):
    with app.test_request_context("/", headers=headers):
        assert is_partial() is partial


def test_error_pages_of_a_history_restore_are_whole_pages(login):
    client = login("fn_staff")
    restore = client.get(
        "/persons/999999999",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert restore.status_code == 404
    assert "<html" in restore.get_data(as_text=True)


def test_one_actor_helper_and_one_partial_test_in_the_views():
    """No view module defines its own actor or decides "partial" from the header itself."""
    for path in PORTAL.rglob("*.py"):
        text = path.read_text()
        assert "def _actor(" not in text, path
        if path.name != "htmx.py":
            assert 'headers.get("HX-Request")' not in text, path


def test_region_search_page_renders_its_results_inside_the_swapped_element(login):
    client = login("fn_staff")
    page = client.get("/regions/search?q=阜城").get_data(as_text=True)
    link = "/regions/320923001000"
    assert page.count(link) == 1
    start = page.index('id="region-results"')
    end = page.index("</div>", start)
    assert start < page.index(link) < end
    partial = client.get("/regions/search?q=阜城", headers={"HX-Request": "true"})
    assert link in partial.get_data(as_text=True)
    assert 'id="region-results"' not in partial.get_data(as_text=True)
