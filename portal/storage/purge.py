"""`portal files purge`: uploads and generated files are deleted after FILE_RETENTION_DAYS.

What is deleted: in the file store (every machine's, portal/storage), the uploads
(``uploads/``: the workbooks and their mapping notes) and the generated files (``exports/``: the
error workbooks) written more than the retention ago; evidence images (``evidence/``) only when
they were uploaded on a visit form that was never saved (pending, EVIDENCE_PENDING_HOURS): the
evidence of a visit is kept as long as the file's history; on this machine, what a crash left in the
private scratch folders (``instance/tmp``, ``instance/exports``: copies that live while a job
reads them or a request sends them) after a day. A batch whose files are gone keeps its counts
and messages; its page says the rejected rows' workbook was deleted after the retention.

How production runs it: once a day, as the scheduled job ``files_purge`` that `portal worker`
runs (portal/jobs/schedule.py: once per China-time day whatever the number of workers; the
SQLite demo's job thread runs it too). With the local store and several web machines (not a
supported set-up: use the database store) each machine's disk would need its own run:
`portal files purge` from cron or a systemd timer, e.g.
``30 3 * * * portal cd /srv/portal && .venv/bin/portal files purge``. Scratch leftovers of
web machines that run no worker are purged the same way, or simply at boot (they are copies).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db
from portal.jobs.schedule import scheduled
from portal.storage import store
from portal.storage.local import LocalStorage
from portal.timeutil import utcnow

STORED_PREFIXES = ("uploads/", "exports/")
SCRATCH_AGE = timedelta(days=1)


@dataclass
class Purged:
    stored: list[str]
    scratch: list[str]

    @property
    def message(self) -> str:
        return f"已删除超过保留期限的文件 {len(self.stored)} 个，临时文件 {len(self.scratch)} 个。"


def purge(days: int | None = None, now: datetime | None = None) -> Purged:
    """Delete what is older than the retention (no commit: the caller's transaction)."""
    now = now or utcnow()
    days = current_app.config["FILE_RETENTION_DAYS"] if days is None else days
    cutoff = now - timedelta(days=days)
    files = store()
    stored = [key for prefix in STORED_PREFIXES for key in files.older_than(prefix, cutoff)]
    for key in stored:
        files.delete(key)
    # Evidence (evidence/) is kept as long as the file's history; only images uploaded on a
    # visit form that was never saved go, after EVIDENCE_PENDING_HOURS (visits/evidence.py).
    from portal.visits.evidence import purge_pending

    stored += purge_pending(now)
    scratch_store = LocalStorage(Path(current_app.config["INSTANCE_DIR"]))
    scratch_cutoff = max(cutoff, now - SCRATCH_AGE)  # a day, or the retention if shorter
    # With the local store, instance/exports holds stored files too: kept for the retention.
    folders = ["tmp/"] if isinstance(files, LocalStorage) else ["tmp/", "exports/"]
    scratch = [
        key
        for folder in folders
        for key in scratch_store.older_than(folder, scratch_cutoff)
        if key not in stored
    ]
    for key in scratch:
        scratch_store.delete(key)
    return Purged(stored, scratch)


@scheduled("files_purge", "daily")
def purge_job(_today: date) -> str:
    """The daily scheduled job (portal worker)."""
    return purge().message


files_cli = AppGroup("files", help="上传文件与生成文件的保管")


@files_cli.command("purge")
@click.option("--days", type=int, default=None, help="保留天数（默认为 FILE_RETENTION_DAYS）")
def purge_command(days: int | None) -> None:
    """删除超过保留期限的上传文件、退回行文件与临时文件。"""
    result = purge(days)
    db.session.commit()
    click.echo(result.message)
