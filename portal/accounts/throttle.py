"""Failed sign-ins counted per client address (the per-account count is User.failed_logins).

An address that failed LOGIN_ADDRESS_MAX_FAILURES times within LOGIN_ADDRESS_WINDOW is refused
until the window ends, whatever username it tries: guessing across many accounts (one or two
passwords each, below every account's lockout) is held back too.

Where several processes serve (gunicorn workers, several machines), the counts live in Redis
(RATELIMIT_STORAGE, e.g. redis://127.0.0.1:6379/0; else REDIS_URL), so that every process sees
every failure. Without it (the demo, plain tests) they live in this process. If Redis cannot be
reached the process counts on its own, so the throttle weakens (per process) but never opens.

The client address is request.remote_addr: the socket's peer, or, when PROXY_HOPS is configured
(werkzeug's ProxyFix, portal/__init__.py), the address that many trusted proxies report. Without
PROXY_HOPS an X-Forwarded-For header is ignored: a client could otherwise name any address.
"""

import logging
import threading
import time

from flask import current_app, request

log = logging.getLogger(__name__)

_lock = threading.Lock()
_local: dict[str, tuple[int, int]] = {}  # key -> (window number, failures)
_clients: dict[str, object] = {}


def client_address() -> str:
    return request.remote_addr or "unknown"


def _window_seconds() -> int:
    return max(1, int(current_app.config["LOGIN_ADDRESS_WINDOW"].total_seconds()))


def _storage_url() -> str | None:
    config = current_app.config
    return config.get("RATELIMIT_STORAGE") or config.get("REDIS_URL") or None


def _redis():
    url = _storage_url()
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return client


def _key(address: str, window: int) -> str:
    return f"portal:login-failures:{address}:{window}"


def _current(address: str) -> tuple[int, int]:
    seconds = _window_seconds()
    window = int(time.time() // seconds)
    client = _redis()
    if client is not None:
        try:
            return window, int(client.get(_key(address, window)) or 0)
        except Exception as exc:  # noqa: BLE001 - fall back to this process's own count
            log.warning("login throttle: Redis unreachable (%s), counting in this process", exc)
    with _lock:
        seen, failures = _local.get(address, (window, 0))
        return window, failures if seen == window else 0


def blocked(address: str | None = None) -> bool:
    """Has this address used up its failures for the current window?"""
    address = address or client_address()
    _, failures = _current(address)
    return failures >= current_app.config["LOGIN_ADDRESS_MAX_FAILURES"]


def record_failure(address: str | None = None) -> None:
    address = address or client_address()
    seconds = _window_seconds()
    window = int(time.time() // seconds)
    client = _redis()
    if client is not None:
        try:
            pipe = client.pipeline()
            pipe.incr(_key(address, window))
            pipe.expire(_key(address, window), seconds + 1)
            pipe.execute()
            return
        except Exception as exc:  # noqa: BLE001 - fall back to this process's own count
            log.warning("login throttle: Redis unreachable (%s), counting in this process", exc)
    with _lock:
        seen, failures = _local.get(address, (window, 0))
        _local[address] = (window, failures + 1 if seen == window else 1)
        if len(_local) > 100_000:  # forget finished windows
            for key in [k for k, (w, _) in _local.items() if w != window]:
                del _local[key]


def reset() -> None:
    """Forget this process's counts (tests; Redis keys expire by themselves)."""
    with _lock:
        _local.clear()
