"""Static files: versioned URLs cached for a year, and htmx only on the pages that use it."""

import re
from pathlib import Path

from portal import static_files

TEMPLATES = Path(__file__).resolve().parents[1] / "portal" / "templates"
STATIC_REF = re.compile(r'(?:src|href)="(/static/[^"]+)"')
HX_ATTRIBUTE = re.compile(r"\shx-[a-z-]+=")
INCLUDE = re.compile(r'{%-?\s*include\s+"([^"]+)"')
LOADS_HTMX = "{% block htmx %}{{ htmx_script() }}{% endblock %}"
# A grid worker's first page: the page and its cached files were 63 KB with htmx (52 KB).
FIRST_PAGE_STATIC_BUDGET = 16 * 1024


def static_refs(html: str) -> list[str]:
    return STATIC_REF.findall(html)


def static_weight(client, html: str) -> int:
    total = 0
    for url in static_refs(html):
        response = client.get(url)
        assert response.status_code == 200, url
        total += len(response.data)
    return total


def test_the_grid_workers_first_page_loads_no_htmx(login):
    client = login("fc_grid1")
    first = client.get("/", follow_redirects=True)
    tasks = client.get("/tasks/")
    for page in (first, tasks):
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "htmx" not in html
        weight = static_weight(client, html)
        print(f"{page.request.path}: static files {weight} bytes: {static_refs(html)}")
        assert weight <= FIRST_PAGE_STATIC_BUDGET, f"{weight} bytes of static files"
        assert all("?v=" in url for url in static_refs(html))


def test_versioned_static_files_are_cached_for_a_year(app, login):
    html = login("fc_grid1").get("/tasks/").get_data(as_text=True)
    client = app.test_client()
    for url in static_refs(html):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
    with app.test_request_context():
        current = static_files.static_url("portal.css")
    assert re.fullmatch(r".*/static/portal\.css\?v=[0-9a-f]{12}", current)
    # Without the version, or with an outdated one, the browser revalidates.
    for url in ("/static/portal.css", "/static/portal.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-cache", url


def test_the_version_is_the_files_content_hash(app):
    import hashlib

    with app.test_request_context():
        url = static_files.static_url("portal.css")
    content = (Path(app.static_folder) / "portal.css").read_bytes()
    assert url.endswith("?v=" + hashlib.sha256(content).hexdigest()[:12])


def _templates() -> dict[str, str]:
    return {
        str(p.relative_to(TEMPLATES)): p.read_text(encoding="utf-8")
        for p in TEMPLATES.rglob("*.html")
    }


def _reaches(name: str, sources: dict[str, str], seen=None) -> set[str]:
    """The template and every template it includes, transitively."""
    seen = seen if seen is not None else set()
    if name in seen or name not in sources:
        return seen
    seen.add(name)
    for included in INCLUDE.findall(sources[name]):
        _reaches(included, sources, seen)
    return seen


def test_every_template_with_hx_attributes_is_on_a_page_that_loads_htmx():
    sources = _templates()
    pages = {n for n, s in sources.items() if '{% extends "base.html" %}' in s}
    with_hx = {n for n, s in sources.items() if n != "base.html" and HX_ATTRIBUTE.search(s)}
    assert with_hx, "no template uses htmx: the scan is broken"
    placed = set()
    for page in pages:
        parts = _reaches(page, sources)
        uses = parts & with_hx
        loads = LOADS_HTMX in sources[page]
        assert loads == bool(uses), (
            f"{page}: hx- attributes in {sorted(uses)} but no {LOADS_HTMX}"
            if uses
            else f"{page} loads htmx (52 KB) without any hx- attribute"
        )
        placed |= uses
    # A part only ever answered to an htmx request needs a page that includes it.
    assert with_hx <= placed, f"not included by any page: {sorted(with_hx - placed)}"


def test_a_page_using_hx_attributes_loads_htmx(login):
    html = login("fn_staff").get("/persons/").get_data(as_text=True)
    assert HX_ATTRIBUTE.search(html)
    (script,) = [u for u in static_refs(html) if "htmx" in u]
    assert "?v=" in script
    assert 'name="htmx-config"' in html
