"""Configuration read from the environment, with safe zero-setup defaults."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _instance_dir() -> Path:
    """The instance directory holds the SQLite database, the secret key and files of persons:
    owner-only (0700), like everything in it."""
    path = Path(os.environ.get("PORTAL_INSTANCE_DIR", PROJECT_ROOT / "instance"))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str) -> str:
    """PostgreSQL goes through psycopg2 (SQLAlchemy 2.1 would pick psycopg 3 by default)."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def from_environment() -> dict:
    """Build the configuration mapping the application factory applies."""
    instance = _instance_dir()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'portal.db'}"
    return {
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Reverse proxies in front of the portal (nginx: 1): trust that many X-Forwarded-* hops,
        # so that audit records carry the client's address, not the proxy's.
        "PROXY_HOPS": int(os.environ.get("PROXY_HOPS", 0)),
        # Cookies: HttpOnly always, SameSite=Lax, Secure when served over HTTPS.
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        "SESSION_IDLE_TIMEOUT": timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", 30))),
        "SESSION_ABSOLUTE_LIFETIME": timedelta(
            hours=int(os.environ.get("SESSION_ABSOLUTE_HOURS", 12))
        ),
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCKOUT": timedelta(minutes=15),
        # Failed sign-ins (and wrong current passwords) per client address, whatever the
        # username: past this many within the window the address is refused until it ends.
        "LOGIN_ADDRESS_MAX_FAILURES": int(os.environ.get("LOGIN_ADDRESS_MAX_FAILURES", 20)),
        "LOGIN_ADDRESS_WINDOW": timedelta(
            minutes=int(os.environ.get("LOGIN_ADDRESS_WINDOW_MINUTES", 15))
        ),
        # Where those counts live when several processes serve: a Redis URL
        # (redis://127.0.0.1:6379/0); RATELIMIT_STORAGE, else REDIS_URL, else this process.
        "RATELIMIT_STORAGE": os.environ.get("RATELIMIT_STORAGE") or None,
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_I18N_ENABLED": False,  # WTForms' own Chinese messages, without Babel
        # Uploads: a 1 M-row household workbook is about 40 MB; the CLI has no size limit.
        "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,
        "IMPORT_MAX_BYTES": 200 * 1024 * 1024,
        # Where uploads, error workbooks and evidence live (portal/storage): "local" (the
        # instance directory, one machine), "database" (every machine reaches it), or "auto"
        # (database with PostgreSQL, local with SQLite).
        "FILE_STORAGE": os.environ.get("FILE_STORAGE", "auto"),
        # `portal files purge` (a daily job) deletes uploads and generated files older than this.
        "FILE_RETENTION_DAYS": int(os.environ.get("FILE_RETENTION_DAYS", 30)),
        # Evidence for closures (portal/visits/evidence.py): images per proposal, the size of
        # one image as sent (before it is shrunk), its pixels (decompression-bomb guard), the
        # long side and JPEG quality it is stored at, the thumbnail's long side, and how long
        # an image uploaded on a form that was never saved is kept.
        "EVIDENCE_MAX_FILES": int(os.environ.get("EVIDENCE_MAX_FILES", 6)),
        "EVIDENCE_MAX_BYTES": int(os.environ.get("EVIDENCE_MAX_MB", 10)) * 1024 * 1024,
        "EVIDENCE_MAX_PIXELS": int(os.environ.get("EVIDENCE_MAX_PIXELS", 50_000_000)),
        "EVIDENCE_MAX_SIDE": int(os.environ.get("EVIDENCE_MAX_SIDE", 1600)),
        "EVIDENCE_JPEG_QUALITY": int(os.environ.get("EVIDENCE_JPEG_QUALITY", 80)),
        "EVIDENCE_THUMB_SIDE": 320,
        "EVIDENCE_PENDING_HOURS": int(os.environ.get("EVIDENCE_PENDING_HOURS", 48)),
        # Workbooks with room for this many rows are opened by a loader process and read by one
        # forked reader per core (imports/loader.py, parallel.py).
        "IMPORT_PARALLEL_MIN_ROWS": int(os.environ.get("IMPORT_PARALLEL_MIN_ROWS", 200_000)),
        # argon2id cost; tests lower it to keep the suite fast.
        "PASSWORD_HASH_TIME_COST": 3,
        "PASSWORD_HASH_MEMORY_COST": 65536,
        # A response from a view that never consulted permissions/ is refused.
        "PERMISSIONS_REQUIRE_CONSULT": True,
        # Background jobs run on a thread of the web process unless a `portal worker` runs them
        # (the default with SQLite, the demo; production on PostgreSQL runs workers).
        "JOBS_IN_PROCESS": _bool("JOBS_IN_PROCESS", database_url.startswith("sqlite")),
        # The collection period of insurance year N (集中缴费期): from COLLECTION_START ("MM-DD")
        # of N-1 to COLLECTION_END of N; provinces shift it (portal/years/periods.py).
        "COLLECTION_START": os.environ.get("COLLECTION_START", "09-01"),
        "COLLECTION_END": os.environ.get("COLLECTION_END", "02-29"),
        "USERS_PER_PAGE": 30,
        "AUDIT_PER_PAGE": 50,
    }
