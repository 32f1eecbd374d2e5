"""Loads the Casbin enforcer from model.conf and policy.csv, shared by all threads.

A plain casbin.Enforcer is not thread-safe, so every call into it goes through one lock.

Decisions are memoised. The matcher is a conjunction in which the two regions appear only as
region_within(region, scope), so a decision depends on (role, action, object kind, whether the
region lies within the scope) and nothing else: Casbin decides the first request with each such
key (with the real regions), and the answer is reused until the policy reloads. One uncached
enforce costs about 200 µs in pycasbin (it evaluates the matcher against every rule); a cached
one costs about a microsecond (bench/permissions.py prints both).

Policy changes reach every worker process like this: the policy is a file shipped with the code,
and each process re-reads it when the file's modification time changes (checked at most once per
POLICY_CHECK_SECONDS). Grants (user → role, region) are rows in the database, read on every
request, so a grant or revoke takes effect on the user's next request in every process at once.
"""

import threading
import time
from pathlib import Path

import casbin

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "model.conf"
POLICY_PATH = HERE / "policy.csv"
POLICY_CHECK_SECONDS = 5.0


def region_within(target: str, scope_prefix: str) -> bool:
    """Casbin matcher function: the target region equals or lies under the grant's region."""
    return bool(target) and bool(scope_prefix) and target.startswith(scope_prefix)


class PolicyEnforcer:
    """A thread-safe wrapper that reloads the policy file when it changes."""

    def __init__(self, model_path: Path = MODEL_PATH, policy_path: Path = POLICY_PATH):
        self._model_path = model_path
        self._policy_path = policy_path
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._mtime = None
        self._enforcer = None
        self.generation = 0
        self._load()

    def _load(self) -> None:
        enforcer = casbin.Enforcer(str(self._model_path), str(self._policy_path))
        enforcer.add_function("region_within", region_within)
        self._enforcer = enforcer
        self._decisions: dict[tuple, bool] = {}
        self._mtime = self._policy_path.stat().st_mtime_ns
        self.generation += 1

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < POLICY_CHECK_SECONDS:
            return
        self._checked_at = now
        if self._policy_path.stat().st_mtime_ns != self._mtime:
            self._load()

    def enforce(self, role: str, action: str, obj: str, region: str, scope: str) -> bool:
        key = (role, action, obj, region_within(region, scope))
        with self._lock:
            self._maybe_reload()
            decision = self._decisions.get(key)
            if decision is None:
                decision = bool(self._enforcer.enforce(role, action, obj, region, scope))
                self._decisions[key] = decision
            return decision

    def enforce_uncached(self, role: str, action: str, obj: str, region: str, scope: str) -> bool:
        """Casbin itself, every time (for tests and the benchmark)."""
        with self._lock:
            return bool(self._enforcer.enforce(role, action, obj, region, scope))

    def implied_roles(self, role: str) -> set[str]:
        """The role itself and every role it inherits through the hierarchy."""
        with self._lock:
            return {role, *self._enforcer.get_implicit_roles_for_user(role)}

    def permissions_of(self, role: str) -> set[tuple[str, str]]:
        """(action, object kind) pairs a role holds, inherited ones included."""
        with self._lock:
            rules = self._enforcer.get_implicit_permissions_for_user(role)
        return {(rule[1], rule[2]) for rule in rules}

    def reload(self) -> None:
        with self._lock:
            self._load()


_shared: PolicyEnforcer | None = None
_shared_lock = threading.Lock()


def get_enforcer() -> PolicyEnforcer:
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = PolicyEnforcer()
    return _shared
