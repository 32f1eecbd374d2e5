"""Password hashing (argon2id) and the password rule."""

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 10
CLASSES = (
    ("小写字母", str.islower),
    ("大写字母", str.isupper),
    ("数字", str.isdigit),
    ("符号", lambda c: not c.isalnum() and not c.isspace()),
)
RULE_TEXT = "密码至少 10 位，且包含小写字母、大写字母、数字、符号中的至少 3 类。"


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["PASSWORD_HASH_TIME_COST"],
        memory_cost=config["PASSWORD_HASH_MEMORY_COST"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


# A hash of a random password, verified against when the username is unknown, so that a wrong
# username takes as long as a wrong password.
_dummy_hash: dict[tuple, str] = {}


def burn_time(password: str) -> None:
    config = current_app.config
    key = (config["PASSWORD_HASH_TIME_COST"], config["PASSWORD_HASH_MEMORY_COST"])
    if key not in _dummy_hash:
        _dummy_hash[key] = hash_password(secrets.token_hex(16))
    verify_password(_dummy_hash[key], password)


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Chinese reasons why the password is not acceptable (empty list: acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"密码长度不足 {MIN_LENGTH} 位。")
    present = [name for name, test in CLASSES if any(test(c) for c in password)]
    if len(present) < 3:
        problems.append("密码须包含小写字母、大写字母、数字、符号中的至少 3 类。")
    if username and username.lower() in password.lower():
        problems.append("密码不能包含用户名。")
    return problems


# One-time passwords are read aloud or copied by hand from a screen: no characters that are
# mistaken for each other there (I, l and 1; O, o and 0).
CONFUSABLE = frozenset("Il1Oo0")
ONE_TIME_ALPHABET = "".join(
    c for c in string.ascii_letters + string.digits + "#%+=@" if c not in CONFUSABLE
)


def generate_password() -> str:
    """A random temporary password that satisfies the rule (given once to an administrator)."""
    alphabet = ONE_TIME_ALPHABET
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(12))
        if not password_problems(candidate):
            return candidate
