"""A small fixed-window rate limit: Redis when REDIS_URL is configured (every process shares the
count), else a per-process dictionary (the demo, the tests). Used to keep refused-access events
from flooding the audit log; a limit that cannot be checked (Redis down) allows."""

import threading
import time

from flask import current_app, has_app_context

_lock = threading.Lock()
_windows: dict[str, tuple[int, int]] = {}  # key -> (window number, count)
_clients: dict[str, object] = {}


def _redis():
    url = current_app.config.get("REDIS_URL") if has_app_context() else None
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=0.2)
    return client


def allow(key: str, limit: int, window_seconds: int) -> bool:
    """Count one event under `key`; True while at most `limit` fell in the current window."""
    window = int(time.time() // window_seconds)
    client = _redis()
    if client is not None:
        name = f"portal:limit:{key}:{window}"
        try:
            pipe = client.pipeline()
            pipe.incr(name)
            pipe.expire(name, window_seconds + 1)
            count = pipe.execute()[0]
        except Exception:  # noqa: BLE001 - a limiter that cannot count must not break a page
            return True
        return int(count) <= limit
    with _lock:
        seen, count = _windows.get(key, (window, 0))
        count = count + 1 if seen == window else 1
        _windows[key] = (window, count)
        if len(_windows) > 10_000:  # forget old windows
            for k in [k for k, (w, _) in _windows.items() if w != window]:
                del _windows[k]
        return count <= limit


def reset() -> None:
    """Forget every in-process count (tests)."""
    with _lock:
        _windows.clear()
