"""`portal import FILE`: the same pipeline from the shell, for files of any size."""

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal import storage
from portal.cli_support import acting_user, region_by_code
from portal.extensions import db
from portal.imports import operations as ops
from portal.imports.models import ImportBatch
from portal.jobs import queue


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(list(ops.KINDS)),
    default="household",
    show_default=True,
    help="名单类型",
)
@click.option("--region", "region_code", required=True, help="导入到的区划（12位代码）")
@click.option("--as", "username", required=True, help="以哪个用户的权限导入（记入审计）")
@with_appcontext
def import_command(path: Path, kind: str, region_code: str, username: str) -> None:
    """Import a list file through the same checks as an upload, with a progress bar."""
    actor, region = acting_user(username), region_by_code(region_code)
    with path.open("rb") as stream:
        try:
            batch = ops.start_import(
                actor, kind=kind, region=region, upload=stream, filename=path.name, max_bytes=None
            )
        except ops.ImportRefused as exc:
            raise click.ClickException(str(exc)) from exc
    # Claimed in the transaction that queues it: no worker or job thread ever sees it queued.
    claim = queue.claim_here(batch.job_id)
    db.session.commit()
    batch_id = batch.id
    with click.progressbar(length=0, label="导入中", show_pos=True) as bar:

        def echo(done, total, message):
            if total:
                bar.length = total
            bar.update(done - bar.pos)

        queue.run_claimed(claim, echo=echo)
    batch = db.session.get(ImportBatch, batch_id)
    db.session.refresh(batch)
    click.echo(batch.message or "")
    if batch.error_file:
        click.echo(f"退回的行：{storage.store().location(batch.error_file)}")
    if batch.state == "failed":
        raise click.ClickException("导入失败，数据未作任何修改。")
    if batch.state != "succeeded":
        raise click.ClickException(f"导入批次 {batch_id} 尚未完成，请在“数据导入”页面查看其结果。")
