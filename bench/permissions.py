"""Benchmark: the cost of one permission decision and of building one scope filter.

    python bench/permissions.py [N]

Runs on a throw-away SQLite database with the demo accounts (no server needed). Prints
microseconds per call for Casbin's enforce, `can()` for users with one and with several grants,
and `scope_for()`; a decision must stay far below a millisecond to be called per object.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from permissions import can, scope_for  # noqa: E402
from permissions.enforcer import get_enforcer  # noqa: E402
from portal import create_app  # noqa: E402
from portal.accounts.models import Grant, User  # noqa: E402
from portal.demo import prepare  # noqa: E402
from portal.extensions import db  # noqa: E402


def per_call_us(fn, n: int) -> tuple[float, float]:
    """Median and p95 of n calls, in microseconds (timed in batches of 100)."""
    samples = []
    for _ in range(max(1, n // 100)):
        start = time.perf_counter()
        for _ in range(100):
            fn()
        samples.append((time.perf_counter() - start) / 100 * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                "PASSWORD_HASH_TIME_COST": 1,
                "PASSWORD_HASH_MEMORY_COST": 64,
            }
        )
        with app.test_request_context():
            prepare()
            supervisor = db.session.scalar(select(User).where(User.username == "fc_supervisor"))
            worker = db.session.scalar(select(User).where(User.username == "fc_grid1"))
            for i in range(2, 12):  # a grid worker covering eleven communities
                worker.grants.append(Grant(role="grid_worker", region_code=f"320923001{i:03d}"))
            db.session.flush()
            enforcer = get_enforcer()
            cases = {
                "Casbin enforce, uncached": lambda: enforcer.enforce_uncached(
                    "province_admin", "user.manage", "*", "320923001001", "32"
                ),
                "Casbin enforce, memoised": lambda: enforcer.enforce(
                    "province_admin", "user.manage", "*", "320923001001", "32"
                ),
                "can(): supervisor, 1 grant": lambda: can(
                    supervisor, "person.view", "320923001001"
                ),
                "can(): grid worker, 11 grants, denied": lambda: can(
                    worker, "user.manage", "320923001001"
                ),
                "scope_for(): grid worker, 11 grants": lambda: scope_for(worker, "person.view"),
            }
            print(f"policy rules: {len(enforcer._enforcer.get_policy())}, calls per case: {n}")
            for name, fn in cases.items():
                median, p95 = per_call_us(fn, n)
                print(f"{name:<42} median {median:8.1f} µs   p95 {p95:8.1f} µs")


if __name__ == "__main__":
    main()
