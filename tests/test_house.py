"""The test suite's own order: what several test modules share lives in tests/factories (or
another helper module, fixtures in tests/conftest.py), never in a test module another imports;
one `make_id` builds every test's ID numbers."""

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_db

TESTS = Path(__file__).parent
FACTORIES = TESTS / "factories"
# An import of a test module, also inside a string a child process runs.
TEST_MODULE_IMPORT = re.compile(
    r"^\s*(from\s+tests\.test_\w*\s+import|import\s+tests\.test_)", re.M
)


def _sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _outside_factories(path: Path) -> bool:
    return FACTORIES not in path.parents


def test_no_test_module_imports_another():
    found = [
        f"{path.relative_to(TESTS)}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0).strip()}"
        for path in _sources()
        for text in [path.read_text(encoding="utf-8")]
        for m in TEST_MODULE_IMPORT.finditer(text)
    ]
    assert found == [], "import it from tests/factories instead:\n" + "\n".join(found)


def test_make_id_is_defined_once_in_the_factories():
    defined = [
        f"{path.relative_to(TESTS)}:{node.lineno}"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        and getattr(node, "name", None) == "make_id"
    ]
    assert len(defined) == 1 and defined[0].startswith("factories/ids.py:"), defined


def test_id_numbers_are_made_by_make_id_only():
    """Computing a check character by hand is how the four copies came about: only the factory
    and the tests of the check character itself call it."""
    allowed = {FACTORIES / "ids.py", TESTS / "test_idnumbers.py", Path(__file__)}
    callers = [
        str(path.relative_to(TESTS))
        for path in _sources()
        if path not in allowed and "check_character" in path.read_text(encoding="utf-8")
    ]
    assert callers == []


def test_the_guard_catches_what_it_guards():
    """The pattern finds the imports it is for, and not the factories' own."""
    assert TEST_MODULE_IMPORT.search("from tests.test_imports import run_jobs\n")
    assert TEST_MODULE_IMPORT.search("    import tests.test_persons as persons\n")
    assert TEST_MODULE_IMPORT.search('CHILD = """\nfrom tests.test_jobs import x\n"""')
    assert not TEST_MODULE_IMPORT.search("from tests.factories import make_id\n")
    assert not TEST_MODULE_IMPORT.search("from tests.helpers import fetch\n")


def test_make_id_makes_valid_numbers_and_refuses_what_it_cannot_make():
    from portal.persons.idnumbers import normalize_id_number
    from tests.factories import BAD_DATE, make_id

    number = make_id(7, birth="19800101", region="320902")
    assert number[:17] == "32090219800101007" and len(number) == 18
    assert normalize_id_number(number).value == number
    assert not normalize_id_number(BAD_DATE).ok  # 31 February: the check character is right
    assert make_id(11) == make_id(11, birth="19700101", region="320923")
    for seq in (-1, 1000):
        with pytest.raises(ValueError):
            make_id(seq)
    with pytest.raises(ValueError):
        make_id(1, birth="1980")
