"""Starting an import and running it: upload → batch → job → validated → applied → report.

The upload returns at once: the file is checked (type, size, zip bomb), put in the file store
(portal/storage: the instance directory, or the database every machine reaches), and a job is
queued. The job reads every row of it (python-calamine, from a private local copy where the
store is the database), validates it, stages the valid rows and applies them in one
transaction; rejected rows go into an error workbook in the file store with their Excel row
number and the reason, ready to be corrected and imported again.
"""

import hashlib
from datetime import date
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from permissions import can, scope_for
from portal import storage
from portal.audit import operations as audit
from portal.extensions import db
from portal.imports import loader, mappings, reading, safety
from portal.imports.kinds import (  # noqa: F401 (re-exported)
    IMPORTERS,
    KIND_CHOICES,
    STAGE_TABLES,
    Context,
)
from portal.imports.models import ImportBatch
from portal.imports.validation import RegionResolver, Rejection
from portal.jobs import queue
from portal.persons.codes import KEY_POPULATION_BY_CODE
from portal.regions.models import Region
from portal.spreadsheets import write_table
from portal.stats import maintain as stats
from portal.timeutil import utcnow

KINDS = IMPORTERS


class ImportRefused(Exception):
    """An upload refused before any work, with a Chinese message."""


def upload_key(batch: ImportBatch, file_kind: str) -> str:
    return f"uploads/batch-{batch.id}.{file_kind}"


def error_key(batch: ImportBatch) -> str:
    return f"exports/import-{batch.id}-errors.xlsx"


def start_import(
    actor,
    *,
    kind: str,
    region: Region,
    upload,
    filename: str,
    max_bytes: int | None = -1,
    category: str | None = None,
) -> ImportBatch:
    """Check and store the uploaded file, record the batch and queue its job (no commit).

    max_bytes: the upload cap (-1: the configured one; None: no cap, for the CLI)."""
    if kind not in KINDS:
        raise ImportRefused("请选择要导入的名单类型。")
    if category and (kind != "key_population" or category not in KEY_POPULATION_BY_CODE):
        raise ImportRefused("“人员类别”只用于重点人群名单，请重新选择。")
    if not can(actor, "data.import", region.code):
        raise ImportRefused("您无权向该区划导入数据。")
    incoming = storage.copy_to_private_temp(upload, suffix=".upload")
    try:
        if max_bytes == -1:
            max_bytes = current_app.config["IMPORT_MAX_BYTES"]
        elif max_bytes is None:
            max_bytes = 1 << 62
        file_kind = safety.inspect_upload(incoming, filename, max_bytes)
    except safety.UnsafeFile as exc:
        incoming.unlink(missing_ok=True)
        raise ImportRefused(str(exc)) from exc
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise
    try:
        batch = _stored_batch(actor, kind, region, incoming, filename, file_kind)
    except BaseException:
        incoming.unlink(missing_ok=True)  # moved into the store unless this failed before
        raise
    payload = {"batch_id": batch.id, "category": category} if category else {"batch_id": batch.id}
    job = queue.enqueue("import", payload, region_code=region.code, user=actor)
    batch.job_id = job.id
    audit.record(
        "data.import",
        actor=actor,
        target_type="import_batch",
        target_id=batch.id,
        target_label=batch.filename,
        region_code=region.code,
        detail={"kind": kind, "bytes": batch.size_bytes, "sha256": batch.sha256[:16]},
    )
    return batch


def _stored_batch(actor, kind, region, incoming: Path, filename: str, file_kind: str):
    """Record the batch and move the checked upload into the file store under its key."""
    digest = hashlib.sha256()
    with incoming.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    batch = ImportBatch(
        kind=kind,
        filename=Path(filename).name[:255],
        stored_path="",
        sha256=digest.hexdigest(),
        size_bytes=incoming.stat().st_size,
        region_code=region.code,
        user_id=actor.id,
        state="queued",
    )
    db.session.add(batch)
    db.session.flush()
    batch.stored_path = upload_key(batch, file_kind)
    storage.store().put_file(batch.stored_path, incoming)
    return batch


def batches_query(actor):
    """Import batches the actor may see: those of regions within their data.import scope."""
    scope = scope_for(actor, "data.import")
    return (
        select(ImportBatch)
        .where(scope.clause(ImportBatch.region_code))
        .order_by(ImportBatch.id.desc())
    )


def get_batch_or_404(batch_id: int, actor) -> ImportBatch:
    from flask import abort

    batch = db.session.scalar(batches_query(actor).where(ImportBatch.id == batch_id).order_by(None))
    if batch is None:
        abort(404)
    return batch


def job_of(batch: ImportBatch):
    """The batch's job, or None."""
    from portal.jobs.models import Job

    return db.session.get(Job, batch.job_id) if batch.job_id else None


def retry_batch(batch: ImportBatch):
    """Queue a failed batch's job again (no commit); its job, or ImportRefused (Chinese)."""
    job = job_of(batch)
    if job is None:
        raise ImportRefused("该批次没有可重试的任务。")
    try:
        queue.retry(job)
    except queue.JobError as exc:
        raise ImportRefused(str(exc)) from exc
    batch.state, batch.message, batch.finished_at = "queued", None, None
    return job


def read_with_mapping(actor, batch: ImportBatch, refusal, list_kind, chosen: dict) -> dict:
    """The mapping step: check the columns the user chose for each field, remember them for
    files with the same header row, and read the stored upload again with them (no commit).
    Raises mappings.MappingRefused or ImportRefused with a Chinese message."""
    fields = mappings.check(list_kind, chosen, len(refusal.headers))
    job = retry_batch(batch)
    mappings.save(actor, batch.kind, refusal.signature, fields)
    job.payload = {
        **(job.payload or {}),
        "columns": {"signature": refusal.signature, "fields": fields},
    }
    audit.record(
        "data.import",
        actor=actor,
        target_type="import_batch",
        target_id=batch.id,
        target_label=f"列对应关系 {batch.filename}",
        region_code=batch.region_code,
        detail={"what": "column_mapping", "kind": batch.kind, "fields": fields},
    )
    return fields


UPLOAD_PURGED = "上传的文件已超过保留期限并已删除，请重新上传。"

# job id → the ReadError its work just raised (the job's work and on_failure run in one process).
_read_failures: dict[int, reading.ReadError] = {}


def _batch_failed(job, message):
    failure = _read_failures.pop(job.id, None)
    batch = db.session.scalar(select(ImportBatch).where(ImportBatch.job_id == job.id))
    if batch is not None:
        batch.state, batch.message, batch.finished_at = "failed", message, utcnow()
        if failure is not None:
            mappings.record_failure(batch, failure)


@queue.job_kind("import", on_failure=_batch_failed)
def run_import(job, progress) -> str:
    """The job: read, validate, stage, apply, report; one transaction for the whole batch."""
    from portal.accounts.models import User

    batch = db.session.get(ImportBatch, job.payload["batch_id"])
    actor = db.session.get(User, batch.user_id)
    importer = IMPORTERS[batch.kind]
    category = job.payload.get("category")
    list_kind = (
        importer.list_kind.with_fixed("category", category) if category else (importer.list_kind)
    )
    # Header rows users mapped (mappings.py), the one just chosen for this batch first of all.
    list_kind = mappings.with_remembered(list_kind, batch, actor, job.payload.get("columns"))
    file_kind = Path(batch.stored_path).suffix.lstrip(".")
    region = db.session.get(Region, batch.region_code)
    scope = scope_for(actor, "data.import").narrowed_to(region.prefix)
    context = Context(
        scope=scope,
        region_code=batch.region_code,
        today=date.today(),
        resolver=RegionResolver(scope) if importer.needs_resolver else None,
        fixed_category=category,
        region_prefix=region.prefix,
    )
    connection = db.session.connection()
    min_rows = current_app.config["IMPORT_PARALLEL_MIN_ROWS"]
    try:
        # The store's file, or a private copy of it on this machine (deleted when read).
        with storage.store().local_copy(batch.stored_path) as path:
            parallel = loader.usable(connection, path, file_kind, importer, min_rows)
            how = _import_in_parallel if parallel else _import_here
            read, result, headers, rejections = how(
                connection, path, file_kind, list_kind, importer, context, batch, actor, progress
            )
    except storage.StoredFileMissing as exc:
        raise queue.JobError(UPLOAD_PURGED) from exc
    except reading.ReadError as exc:  # missing columns, unreadable or oversized sheet
        # Missing columns: the mapping step is offered. Noted by on_failure, after the job's
        # work is rolled back (the database store's note would be rolled back with it).
        _read_failures[job.id] = exc
        raise queue.JobError(exc.message) from exc
    mappings.record_read(batch, list_kind, headers)
    rejections.sort(key=lambda r: r.row_number)
    batch.rows_read = read
    batch.created, batch.updated, batch.unchanged = result.created, result.updated, result.unchanged
    batch.rejected = len(rejections)
    if rejections:
        batch.error_file = write_error_workbook(batch, headers, rejections, list_kind)
    batch.state, batch.finished_at = "succeeded", utcnow()
    batch.message = batch_message(batch, result)
    return batch.message


# Lists of records about persons: counted in records, and in the persons they name.
RECORD_NOUNS = {"insured": "参保记录", "lapsed": "停保记录"}


def batch_message(batch: ImportBatch, result) -> str:
    """The batch's outcome in one sentence (also what `portal import` prints). A list of records
    (insured, lapsed) counts records, then the persons of the region they name (batch.matched):
    most of them are already on the register, and are no new persons."""
    if batch.kind == "e_credential":
        from portal.imports.e_credentials import batch_message as activation_message

        return activation_message(batch, result)
    noun = RECORD_NOUNS.get(batch.kind)
    if noun is None or not hasattr(result, "matched"):
        message = (
            f"读取 {batch.rows_read} 行：新增 {batch.created}，更新 {batch.updated}，"
            f"未变 {batch.unchanged}，退回 {batch.rejected}。"
        )
        moved = getattr(result, "moved_files", 0)  # persons/moves.py: files follow persons
        if moved:
            message += f"{moved} 个在办档案随人迁到新社区（见工作台“移入/移出”）。"
        return message
    batch.matched = result.matched
    message = (
        f"读取 {batch.rows_read} 行：新增{noun} {batch.created} 条，更新 {batch.updated} 条，"
        f"未变 {batch.unchanged} 条，退回 {batch.rejected} 行；匹配本区划人员 {result.matched} 人"
    )
    if result.mismatched:
        message += f"（其中姓名与名册不一致 {result.mismatched} 人）"
    if result.unmatched:
        message += (
            f"；另有 {result.unmatched} 条记录暂未对应本区划名册中的人员"
            "（户籍或常住人口名册列入其人后，比对时计入）"
        )
    return message + "。"


def _import_here(connection, path, file_kind, list_kind, importer, context, batch, actor, progress):
    """Read, validate, stage and apply in this process: (read, result, headers, rejections)."""
    table = reading.open_table(path, file_kind, list_kind)
    rejections: list[Rejection] = []
    read = 0

    def tick(count: int) -> None:
        nonlocal read
        read = count
        progress(read, table.last_row, f"已读取 {read} 行")

    with table:  # the sheet is held in memory until closed
        importer.create_stage(connection)
        importer.stage_rows(connection, importer.validated(table.rows(), context, rejections, tick))
        progress(read, read, "正在写入数据库", force=True)
        result = importer.apply(connection, context, batch.id, actor.id)
        stats.refresh_import(connection, stage=STAGE_TABLES[batch.kind], batch_id=batch.id)
        if result.rejected:  # refused after staging: their cells are read again
            wanted = dict(result.rejected)
            rejections += [
                Rejection(s.row_number, s.raw, wanted[s.row_number])
                for s in table.rows()
                if s.row_number in wanted
            ]
        return read, result, table.headers, rejections


def _import_in_parallel(
    connection, path, file_kind, list_kind, importer, context, batch, actor, progress
):  # fmt: skip
    """The same with the file opened by a loader process and read on every core (loader.py)."""
    min_rows = current_app.config["IMPORT_PARALLEL_MIN_ROWS"]
    with loader.Loader(connection, path, file_kind, list_kind, importer, context, min_rows) as it:
        staged = it.stage(connection, progress)
        progress(staged.read, staged.read, "正在写入数据库", force=True)
        result = importer.apply(connection, context, batch.id, actor.id)
        stats.refresh_import(connection, stage=STAGE_TABLES[batch.kind], batch_id=batch.id)
        wanted = dict(result.rejected + staged.duplicates)  # refused after staging
        raw = it.raw_rows(set(wanted)) if wanted else {}
        late = [Rejection(n, raw[n], reason) for n, reason in wanted.items()]
        return staged.read, result, it.headers, staged.rejections + late


def write_error_workbook(
    batch: ImportBatch, headers, rejections: list[Rejection], list_kind=None
) -> str:
    """The rejected rows as they were, with their Excel row number and the reason (wrapped);
    the ID number's column is text, so that Excel keeps its 18 digits when it is corrected.
    Written to a private scratch file and put in the file store; returns its key."""
    path = storage.private_temp_path(suffix=".xlsx")
    try:
        _write_error_rows(path, batch, headers, rejections, list_kind)
        key = error_key(batch)
        storage.store().put_file(key, storage.private_file(path))
    finally:
        path.unlink(missing_ok=True)  # moved into the store, or a failure's leftover
    return key


def _write_error_rows(path: Path, batch, headers, rejections, list_kind) -> None:
    header_row = ["原Excel行号", "错误原因", *[h or "" for h in headers]]
    rows = ([r.row_number, r.reason, *r.raw] for r in rejections)
    id_column = mappings.id_column(list_kind or IMPORTERS[batch.kind].list_kind, headers)
    widths = {1: 10, 2: 48}
    if id_column is not None:
        widths[id_column + 3] = 22
    write_table(
        path,
        "退回的行",
        header_row,
        rows,
        widths=widths,
        text_columns=() if id_column is None else (id_column + 2,),
        wrap_columns=(1,),
    )
