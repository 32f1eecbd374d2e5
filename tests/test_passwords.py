"""The password rule, hashing, and changing one's own password through the form."""

import re
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.accounts import passwords
from portal.accounts.models import LoginSession, User
from portal.audit.models import AuditEvent
from portal.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from tests.helpers import account, fetch
from tests.world import EXTRA_ACCOUNTS

USERNAMES = [a.username for a in DEMO_ACCOUNTS + EXTRA_ACCOUNTS]
NEW_PASSWORD = "Fresh#Pass2026"

TOO_SHORT = "密码长度不足 10 位。"
TOO_FEW_CLASSES = "密码须包含小写字母、大写字母、数字、符号中的至少 3 类。"
HAS_USERNAME = "密码不能包含用户名。"

# Argon2 is not involved here, but a slow machine must not fail a pure check on time.
pure = settings(deadline=None)

ascii_printable = st.text(alphabet=string.printable, max_size=40)


def classes_of(password: str) -> int:
    """An independent statement of the four classes, for ASCII text."""
    return sum(
        [
            any(c in string.ascii_lowercase for c in password),
            any(c in string.ascii_uppercase for c in password),
            any(c in string.digits for c in password),
            any(c in string.punctuation for c in password),
        ]
    )


# --- the rule, by example --------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "Abcdefgh12",
        "abcdefgh1!",
        "ABCDEFGH1!",
        "Abcdefghi!",
        "Yibao@2026",
        "密码Abcdefg12",
        "aB3 " * 3,
    ],
)
def test_acceptable_passwords(password):
    assert passwords.password_problems(password) == []


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("", [TOO_SHORT, TOO_FEW_CLASSES]),
        ("Abcdefg1!", [TOO_SHORT]),  # 9 characters, 4 classes
        ("abcdefghij", [TOO_FEW_CLASSES]),
        ("abcdefgh12", [TOO_FEW_CLASSES]),  # lower + digits
        ("ABCDEFGH!!", [TOO_FEW_CLASSES]),  # upper + symbols
        ("abcd EFGH ", [TOO_FEW_CLASSES]),  # spaces are not symbols
        ("密码密码密码密码密码1a", [TOO_FEW_CLASSES]),  # Chinese characters are no class
        ("1234567890", [TOO_FEW_CLASSES]),
    ],
)
def test_refused_passwords_say_why(password, problems):
    assert passwords.password_problems(password) == problems


@pytest.mark.parametrize("password", ["Fc_grid1@2026", "xxFC_GRID1xx9", "9!Fc_Grid1"])
def test_password_containing_the_username_is_refused(password):
    assert passwords.password_problems(password, "fc_grid1") == [HAS_USERNAME]
    # Without the username the same password is fine: the username is the only problem.
    assert passwords.password_problems(password, "someone_else") == []


def test_rule_text_is_shown_on_the_change_form(login):
    page = login("fc_grid1").get("/password").get_data(as_text=True)
    assert passwords.RULE_TEXT in page


# --- the rule, as properties ------------------------------------------------------------------


@pure
@given(st.data())
def test_generated_passwords_always_pass(data):
    password = passwords.generate_password()
    assert len(password) == 12
    assert passwords.password_problems(password) == []
    username = data.draw(st.sampled_from(USERNAMES))
    assert passwords.password_problems(password, username) == []


def test_generated_passwords_differ():
    assert len({passwords.generate_password() for _ in range(50)}) == 50


def test_one_time_passwords_have_no_characters_confused_when_read_aloud():
    """I/l/1 and O/o/0: one-time passwords are read out on the phone or copied from a screen."""
    seen = set().union(*(passwords.generate_password() for _ in range(500)))
    assert not seen & set("Il1Oo0")
    # Still every class the rule counts (a thinned alphabet must not lose one).
    assert any(c.islower() for c in seen) and any(c.isupper() for c in seen)
    assert any(c.isdigit() for c in seen) and any(not c.isalnum() for c in seen)


@pure
@given(st.text(max_size=9))
def test_shorter_than_ten_always_fails(password):
    problems = passwords.password_problems(password)
    assert TOO_SHORT in problems


@pure
@given(st.text(max_size=9), st.sampled_from(USERNAMES))
def test_shorter_than_ten_fails_with_any_username(password, username):
    assert TOO_SHORT in passwords.password_problems(password, username)


@pure
@given(ascii_printable)
def test_rule_matches_its_statement_for_ascii(password):
    expected = []
    if len(password) < 10:
        expected.append(TOO_SHORT)
    if classes_of(password) < 3:
        expected.append(TOO_FEW_CLASSES)
    assert passwords.password_problems(password) == expected


@pure
@given(
    st.text(alphabet=string.ascii_lowercase, min_size=4, max_size=6),
    st.text(alphabet=string.printable, max_size=8),
    st.text(alphabet=string.printable, max_size=8),
)
def test_password_containing_username_in_any_case_fails(username, before, after):
    for variant in (username, username.upper(), username.title()):
        password = before + variant + after + "Aa1!"
        assert HAS_USERNAME in passwords.password_problems(password, username)


@pure
@given(
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8),
    st.text(alphabet=string.ascii_lowercase, min_size=4, max_size=8),
)
def test_password_without_the_username_is_judged_on_its_own(base, username):
    password = base + "Xyzw#2026"
    assume(username not in password.lower())
    assert passwords.password_problems(password, username) == []


@pure
@given(
    st.text(
        alphabet=string.ascii_letters + string.digits + string.punctuation, min_size=10, max_size=30
    )
)
def test_adding_characters_never_adds_length_or_class_problems(password):
    assume(not passwords.password_problems(password))
    assert passwords.password_problems(password + "x") == []
    assert passwords.password_problems("Z" + password) == []


# --- hashing ---------------------------------------------------------------------------------


def test_hash_is_argon2id_with_configured_cost(ctx):
    hashed = passwords.hash_password(DEMO_PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert "m=64,t=1" in hashed  # the test configuration's cost
    assert DEMO_PASSWORD not in hashed
    assert passwords.verify_password(hashed, DEMO_PASSWORD)
    assert not passwords.verify_password(hashed, DEMO_PASSWORD.lower())


def test_same_password_hashes_differently(ctx):
    assert passwords.hash_password(DEMO_PASSWORD) != passwords.hash_password(DEMO_PASSWORD)


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=64,t=1,p=1$broken"])
def test_verify_against_garbage_is_false_not_an_error(ctx, stored):
    assert passwords.verify_password(stored, DEMO_PASSWORD) is False


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_hash_round_trip(app, password, other):
    assume(password != other)
    with app.app_context():
        hashed = passwords.hash_password(password)
        assert passwords.verify_password(hashed, password)
        assert not passwords.verify_password(hashed, other)


def test_unknown_username_still_costs_a_hash(ctx, monkeypatch):
    calls = []
    real = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda h, p: calls.append(p) or real(h, p))
    passwords.burn_time("whatever")
    assert calls == ["whatever"]


# --- changing one's own password -------------------------------------------------------------


def change(client, current=DEMO_PASSWORD, new=NEW_PASSWORD, confirm=None):
    confirm = new if confirm is None else confirm
    return client.post("/password", data={"current": current, "new": new, "confirm": confirm})


def page_errors(response) -> list[str]:
    """The messages shown on the change-password page (problem list and field errors)."""
    html = response.get_data(as_text=True)
    alert = re.findall(r'role="alert">(.*?)</div>', html, re.S)
    listed = re.findall(r"<p>(.*?)</p>", alert[0]) if alert else []
    return listed + re.findall(r'<small class="error">(.*?)</small>', html)


def can_log_in(app, password, username="fc_grid1") -> bool:
    response = app.test_client().post("/login", data={"username": username, "password": password})
    return response.status_code == 302


def assert_nothing_changed(app, before: User):
    after = account(app, before.username)
    assert after.password_hash == before.password_hash
    assert after.password_changed_at == before.password_changed_at
    assert can_log_in(app, DEMO_PASSWORD)
    assert not can_log_in(app, NEW_PASSWORD)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "expected"),
    [
        ("Wrong@Pass2026", NEW_PASSWORD, NEW_PASSWORD, ["当前密码不正确。"]),
        (DEMO_PASSWORD, NEW_PASSWORD, "Fresh#Pass2027", ["两次输入的新密码不一致。"]),
        (DEMO_PASSWORD, "short", "short", [TOO_SHORT, TOO_FEW_CLASSES]),
        (DEMO_PASSWORD, "abcdefghijkl", "abcdefghijkl", [TOO_FEW_CLASSES]),
        (DEMO_PASSWORD, "Fc_Grid1@2026x", "Fc_Grid1@2026x", [HAS_USERNAME]),
        (DEMO_PASSWORD, DEMO_PASSWORD, DEMO_PASSWORD, ["新密码不能与当前密码相同。"]),
        ("", NEW_PASSWORD, NEW_PASSWORD, ["请输入当前密码。"]),
        (DEMO_PASSWORD, "", "", ["请输入新密码。", "请再次输入新密码。"]),
    ],
)
def test_refused_change_explains_in_chinese_and_changes_nothing(
    app, login, current, new, confirm, expected
):
    before = account(app)
    client = login("fc_grid1")
    response = change(client, current, new, confirm)
    assert response.status_code == 200
    assert page_errors(response) == expected
    assert "密码已修改" not in response.get_data(as_text=True)
    assert_nothing_changed(app, before)
    # The user is still signed in and may try again.
    assert client.get("/").status_code == 200


def test_wrong_current_password_is_audited(app, login):
    me = account(app)
    client = login("fc_grid1")
    change(client, current="Wrong@Pass2026")
    rows = fetch(
        app,
        select(AuditEvent).where(
            AuditEvent.action == "password.change", AuditEvent.actor_id == me.id
        ),
    )
    assert [(r.result, r.detail) for r in rows] == [("failure", {"reason": "bad_current"})]


def test_successful_change(app, login):
    before = account(app)
    client = login("fc_grid1")
    response = change(client)
    assert response.status_code == 302
    assert client.get(response.location).status_code == 200
    after = account(app)
    assert after.password_hash != before.password_hash
    assert after.password_changed_at is not None
    assert can_log_in(app, NEW_PASSWORD)
    assert not can_log_in(app, DEMO_PASSWORD)
    rows = fetch(
        app,
        select(AuditEvent).where(
            AuditEvent.action == "password.change", AuditEvent.actor_id == before.id
        ),
    )
    assert [r.result for r in rows] == ["success"]


def test_success_message_is_shown(login):
    client = login("fc_grid1")
    response = change(client)
    assert "密码已修改。" in client.get(response.location).get_data(as_text=True)


def test_change_password_needs_sign_in(client):
    response = client.post(
        "/password", data={"current": DEMO_PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_refused_change_keeps_other_sessions(app, login):
    me = account(app)
    here = login("fc_grid1")
    elsewhere = login("fc_grid1")
    change(here, new="weak")
    assert elsewhere.get("/").status_code == 200
    open_rows = fetch(
        app,
        select(LoginSession).where(LoginSession.user_id == me.id, LoginSession.ended_at.is_(None)),
    )
    assert len(open_rows) == 2
