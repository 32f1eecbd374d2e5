"""The mapping step: which column holds each field, chosen by a user, remembered by header row.

When the portal cannot map a required column of a list (columns.py), the job refuses the batch
and leaves beside the stored upload what the mapping step needs (`<upload key>.columns.json`, in
the file store every machine reaches: the
header row found, its cells, what was recognised, the missing fields). The batch page then offers
the mapping step instead of a retry that could only fail again. There the user chooses a column
for each field; the choice is saved in `column_mapping` (list kind, the header row's signature,
the user's region) and the stored upload is read again with it (the job is queued again: the user
does not upload anything).

A saved mapping serves every later file of the same list kind whose header row has the same
signature (columns.header_signature: the normalised cells, however spaced), imported for a region
at or below the region of the user who saved it, or by a user of that region or below: the job
carries them in the list kind (ListKind.with_remembered), so that every reader, the forked ones
of a big file too (loader.py), maps that header row as chosen. A batch read that way says so
(已按上次保存的列对应关系读取): the job leaves a note beside the upload.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from sqlalchemy import select

from portal import storage
from portal.extensions import db
from portal.imports.columns import (
    FIELD_BY_NAME,
    ListKind,
    column_letter,
    header_signature,
    map_columns,
)
from portal.imports.models import ColumnMapping, ImportBatch
from portal.regions.models import Region
from portal.timeutil import utcnow

REMEMBERED_NOTE = "已按上次保存的列对应关系读取"


# --- what a batch left for the mapping step -------------------------------------------------


def _sidecar(batch: ImportBatch) -> str | None:
    """The note's key in the file store, beside the upload's (portal/storage)."""
    if not batch.stored_path:
        return None
    return batch.stored_path + ".columns.json"


def _write(batch: ImportBatch, content: dict) -> None:
    key = _sidecar(batch)
    if key is None:
        return
    content = {"batch": batch.id, "sha256": batch.sha256, **content}
    storage.store().put(key, io.BytesIO(json.dumps(content, ensure_ascii=False).encode("utf-8")))


def _read(batch: ImportBatch) -> dict | None:
    key = _sidecar(batch)
    if key is None:
        return None
    try:
        with storage.store().open(key) as stream:
            content = json.loads(stream.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if content.get("batch") != batch.id or content.get("sha256") != batch.sha256:
        return None  # left by another upload stored under the same name
    return content


def forget(batch: ImportBatch) -> None:
    """The batch's note is out of date (it is read again)."""
    key = _sidecar(batch)
    if key is not None:
        storage.store().delete(key)


def record_failure(batch: ImportBatch, error) -> None:
    """The job could not read the batch (reading.ReadError). Refused for its columns
    (reading.MissingColumns): keep what the mapping step shows, when some row can serve as the
    header."""
    details = error.details() if hasattr(error, "details") else {"headers": ()}
    if details["headers"]:
        _write(batch, {"refused": details})
    else:
        forget(batch)


def record_read(batch: ImportBatch, list_kind: ListKind, headers) -> None:
    """The job read the batch: note whether it was with a mapping a user chose."""
    signature = header_signature(headers)
    if signature in list_kind.remembered_fields:
        _write(batch, {"remembered": signature})
    else:
        forget(batch)


@dataclass(frozen=True)
class Refusal:
    """What the mapping step of a batch refused for its columns offers."""

    sheet: str | None
    header_rows: tuple[int, ...]
    headers: tuple[str, ...]
    fields: dict[str, int]  # recognised: the choices the form starts with
    missing: tuple[str, ...]
    missing_any: tuple[tuple[str, ...], ...]
    signature: str
    message: str

    def column_label(self, column: int) -> str:
        header = self.headers[column] if column < len(self.headers) else ""
        return f"{column_letter(column)}列：{header or '（无列名）'}"

    @property
    def missing_labels(self) -> list[str]:
        labels = [FIELD_BY_NAME[f].label for f in self.missing]
        labels += ["或".join(FIELD_BY_NAME[f].label for f in g) for g in self.missing_any]
        return labels


def refusal_of(batch: ImportBatch) -> Refusal | None:
    """The refusal a batch refused for its columns left, or None (any other batch)."""
    if batch.state != "failed":
        return None
    content = _read(batch)
    refused = (content or {}).get("refused")
    if not refused:
        return None
    return Refusal(
        sheet=refused.get("sheet"),
        header_rows=tuple(refused.get("header_rows") or ()),
        headers=tuple(refused.get("headers") or ()),
        fields={f: int(c) for f, c in (refused.get("fields") or {}).items()},
        missing=tuple(refused.get("missing") or ()),
        missing_any=tuple(tuple(g) for g in refused.get("missing_any") or ()),
        signature=refused["signature"],
        message=refused.get("message") or "",
    )


def read_as_remembered(batch: ImportBatch) -> bool:
    """Whether the batch was read with a mapping a user chose (its page says so)."""
    if batch.state != "succeeded":
        return False
    return bool((_read(batch) or {}).get("remembered"))


# --- the remembered mappings ----------------------------------------------------------------


def _chain(code: str | None) -> list[str]:
    """The region and its ancestors, province first."""
    if not code:
        return []
    region = db.session.get(Region, code)
    return [*region.ancestor_codes(), code] if region is not None else [code]


def remembered(kind: str, *region_codes: str | None) -> dict[str, dict[str, int]]:
    """Header signature → mapping saved for `kind` at any of the regions or above them; the
    mapping of the region nearest them (then the newest) wins."""
    chains = [_chain(code) for code in region_codes]
    depth: dict[str, int] = {}
    for chain in chains:
        for level, code in enumerate(chain):
            depth[code] = max(depth.get(code, -1), level)
    if not depth:
        return {}
    rows = db.session.scalars(
        select(ColumnMapping).where(
            ColumnMapping.list_kind == kind, ColumnMapping.region_code.in_(list(depth))
        )
    ).all()
    rows.sort(key=lambda m: (depth[m.region_code], m.updated_at, m.id))
    return {m.signature: {f: int(c) for f, c in m.mapping.items()} for m in rows}


def with_remembered(
    list_kind: ListKind, batch: ImportBatch, actor, chosen: dict | None = None
) -> ListKind:
    """The list kind of a batch's job, reading header rows users mapped as they chose;
    `chosen` ({"signature", "fields"}, from the job's payload) is the mapping just chosen for
    this batch in its mapping step, whoever chose it."""
    found = remembered(batch.kind, batch.region_code, getattr(actor, "region_code", None))
    if chosen:
        found[chosen["signature"]] = chosen["fields"]
    return list_kind.with_remembered(found) if found else list_kind


class MappingRefused(ValueError):
    """A chosen mapping that cannot be used; the message is Chinese."""


def check(list_kind: ListKind, chosen: dict[str, int | None], width: int) -> dict[str, int]:
    """The chosen mapping (field → column, None for none) as saved, or MappingRefused."""
    fields = {f: c for f, c in chosen.items() if c is not None and f in list_kind.fields}
    errors = []
    for f, c in fields.items():
        if not 0 <= c < width:
            errors.append(f"“{FIELD_BY_NAME[f].label}”选择的列不存在。")
    for f in list_kind.required:
        if f not in fields:
            errors.append(f"请为“{FIELD_BY_NAME[f].label}”选择一列（必需）。")
    for group in list_kind.required_any:
        if not any(f in fields for f in group):
            labels = "”或“".join(FIELD_BY_NAME[f].label for f in group)
            errors.append(f"请为“{labels}”至少选择一列。")
    by_column: dict[int, list[str]] = {}
    for f, c in fields.items():
        by_column.setdefault(c, []).append(FIELD_BY_NAME[f].label)
    for c, labels in sorted(by_column.items()):
        if len(labels) > 1:
            errors.append(f"{column_letter(c)}列不能同时作为“{'”和“'.join(labels)}”。")
    if errors:
        raise MappingRefused("\n".join(errors))
    return dict(sorted(fields.items(), key=lambda i: i[1]))


def save(actor, kind: str, signature: str, fields: dict[str, int]) -> ColumnMapping:
    """Remember the mapping for the actor's region (replacing the one saved there before)."""
    found = db.session.scalar(
        select(ColumnMapping).where(
            ColumnMapping.list_kind == kind,
            ColumnMapping.signature == signature,
            ColumnMapping.region_code == actor.region_code,
        )
    )
    now = utcnow()
    if found is None:
        found = ColumnMapping(
            list_kind=kind,
            signature=signature,
            region_code=actor.region_code,
            created_by=actor.id,
            created_at=now,
        )
        db.session.add(found)
    found.mapping = dict(fields)
    found.updated_at = now
    db.session.flush()
    return found


def id_column(list_kind: ListKind, headers) -> int | None:
    """The 0-based column of the ID number in a header row as read (a chosen mapping too)."""
    return map_columns(list(headers), list_kind).fields.get("id_number")
