"""gunicorn settings for the portal; `gunicorn wsgi:app` reads this file from the working directory.

Sync workers, one per core. The pages are short and CPU-bound in Python (about 15–25 ms each), so
more requests in flight than cores only makes each one wait for a core: on 2 cores with 50 busy
users, 2 sync workers served 105 requests/s at a p95 server time under 30 ms, while 4 workers × 2
threads served 51 requests/s at 72–78 ms (bench/task_load.py). Sync workers must sit behind a
buffering reverse proxy (nginx): a phone on a weak network must not hold a worker while it
trickles its request in or the page out.
"""

import os

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "sync"
timeout = 60  # an upload is only stored by the request; the import itself runs as a job
