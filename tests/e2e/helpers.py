"""Helpers for the end-to-end tests: sign in as a user would, save screenshots, measure layout.

Import them in test modules: `from tests.e2e.helpers import login, shot`.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

from portal.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"

# A forced password change (must_change_password) is answered with this password; the user's
# current password is remembered here for the rest of the session (one live server per session).
CHANGED_PASSWORD = "Yibao@2026-e2e"
_passwords: dict[str, str] = {}

# An unmasked mainland ID number: 17 digits and a check character, not inside a longer number.
ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9Xx])")


def login(page, username: str, password: str | None = None) -> None:
    """Sign in through the login form and land on the page after it.

    If the portal forces a password change first, choose a new password the way a user would
    (and use it for this user's later sign-ins)."""
    password = password or _passwords.get(username, DEMO_PASSWORD)
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    path = _path(page)
    if path == "/login":
        alert = page.get_by_role("alert")
        message = alert.first.inner_text() if alert.count() else page.inner_text("main")
        raise AssertionError(f"sign-in as {username} failed: {message}")
    if path == "/password":
        page.get_by_label("当前密码").fill(password)
        page.get_by_label("新密码", exact=True).fill(CHANGED_PASSWORD)
        page.get_by_label("确认新密码").fill(CHANGED_PASSWORD)
        page.get_by_role("button", name="保存新密码").click()
        page.wait_for_load_state()
        assert _path(page) != "/password", f"{username}: the new password was refused"
        _passwords[username] = CHANGED_PASSWORD


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/e2e/<name>.png; returns its path."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"screenshot name {name!r}: use letters, digits, '_', '-', '.'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def scroll_width(page) -> int:
    """The document's scrollable width in CSS pixels (more than the viewport: it scrolls)."""
    return page.evaluate("document.scrollingElement.scrollWidth")


def unmasked_id_numbers(page) -> list[str]:
    """Full 18-character ID numbers in the page's visible text."""
    return ID_NUMBER.findall(page.inner_text("body"))


def _path(page) -> str:
    return urlsplit(page.url).path
