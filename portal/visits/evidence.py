"""Evidence for closures: images a grid worker attaches to a visit from the phone.

Receiving (``accept_uploads``). Each image of the visit form (``<input type=file
name=evidence multiple>``, a plain multipart form: it works without JavaScript) is read up to
EVIDENCE_MAX_BYTES and opened by Pillow, which decides its type by its content, never by its
name or the browser's word: JPEG, PNG and WebP are taken (HEIC is not: Pillow reads it only
with an extra library; iPhones send JPEG through ``accept="image/*"`` anyway, and a HEIC file
picked otherwise gets a message asking for JPG/PNG). An image of more than EVIDENCE_MAX_PIXELS
is refused before it is decoded (the decompression-bomb guard, Image.MAX_IMAGE_PIXELS). The
image is turned upright by its EXIF orientation, then re-encoded from its pixels alone: no
EXIF (GPS position, camera, time), no XMP, no ICC profile survives. It is shrunk to
EVIDENCE_MAX_SIDE on its long side, stored as JPEG (EVIDENCE_JPEG_QUALITY) with a thumbnail,
in the file store (portal/storage: owner-only files under the instance directory, or the
database), never under the web root.

Nothing typed is lost (pending uploads). A visit can be refused after its images arrived: a
bad or oversized image beside good ones, a missing reason, a conflict, the required evidence
missing. The images already accepted must not be sent again over a weak mobile network, so
each accepted image is stored at once as a *pending* row (visit_id NULL) linked to the form by
its idempotency key (the hidden field that also makes a retried submit save once), and the
view commits them before it tries the visit (a refused request rolls back). The re-rendered
form keeps every typed field and lists the pending images (each with a 移除 box); the next
submit of the same form attaches them to the visit it saves (``record_with_evidence``). A form
abandoned with pending images leaves them for `portal files purge`, which deletes pending rows
and their images after EVIDENCE_PENDING_HOURS (``purge_pending``).

Keeping. Evidence attached to a visit is kept as long as the visit, i.e. the file's history
(visits are never deleted): it is not an upload under FILE_RETENTION_DAYS (its keys are under
``evidence/``, which the upload retention does not purge), so the evidence of an open proposal,
or of a closure someone questions a year later, is still there.

Serving (portal/visits/views.py). Only through ``/evidence/<id>`` (and ``/thumb``), for a user
who may see the evidence's person file (``visible_query``: the persons page's scope, so a grid
worker sees only the files assigned to them, a supervisor their township, staff their region);
pending images only to their uploader. Every view of a full image is an audit event
(evidence.view), like a reveal of a full number; thumbnails (320 px, shown in the review
queue and the history pages, which are themselves the access) are not.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath

from flask import abort, current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import aliased

from portal.audit import operations as audit
from portal.extensions import db
from portal.masking import mask_free_text
from portal.persons.models import Person, PersonFile
from portal.storage import store
from portal.timeutil import utcnow
from portal.visits import evidence_rules
from portal.visits.models import Visit, VisitEvidence
from portal.visits.operations import VisitRefused, VisitResult, record_visit

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
CONTENT_TYPE = "image/jpeg"
# ISO base media files (HEIC/HEIF/AVIF): "ftyp" at byte 4, then the brand.
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


class ImageRefused(Exception):
    """One image that cannot be taken, with a Chinese message naming it."""


@dataclass(frozen=True)
class Prepared:
    """An image ready to store: the re-encoded JPEG and its thumbnail."""

    data: bytes
    thumb: bytes
    width: int
    height: int
    sha256: str


def _config(name: str) -> int:
    return int(current_app.config[name])


def shown_name(filename: str | None) -> str:
    """The file's name as a message may show it (no folders; a number in it masked)."""
    name = PurePath((filename or "").replace("\\", "/")).name or "图片"
    return mask_free_text(name[:60])


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _encode(image: Image.Image, side: int, quality: int) -> tuple[bytes, int, int]:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # Only the pixels are written: no exif=, icc_profile= or comment, so no metadata survives.
    copy.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue(), copy.width, copy.height


def prepare_image(data: bytes, filename: str | None = None) -> Prepared:
    """Check one image by its content and make the stored JPEG; raises ImageRefused."""
    name = shown_name(filename)
    limit = _config("EVIDENCE_MAX_BYTES")
    if len(data) > limit:
        megabytes = limit // (1024 * 1024)
        raise ImageRefused(
            f"“{name}”超过 {megabytes} MB，未能上传。请直接拍照上传，或压缩后重新选择。"
        )
    if not data:
        raise ImageRefused(f"“{name}”是空文件，请重新选择照片。")
    if _is_heif(data[:16]):
        raise ImageRefused(
            f"“{name}”是 HEIC/HEIF 格式，系统暂不支持。请在手机相机设置中选择“兼容性最佳”"
            "（JPG），或截图后上传 JPG、PNG 格式的照片。"
        )
    max_pixels = _config("EVIDENCE_MAX_PIXELS")
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses twice this at open; we refuse above it
    not_an_image = ImageRefused(f"“{name}”不是可识别的图片，请上传 JPG 或 PNG 格式的照片。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            if image.width * image.height > max_pixels:
                raise Image.DecompressionBombError("too many pixels")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(
            f"“{name}”的像素过大（超过 {max_pixels // 1_000_000} 百万像素），请缩小后重新上传。"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise not_an_image from None
    try:
        image = ImageOps.exif_transpose(image)  # upright, as the phone showed it
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        else:
            image = image.convert("RGB")
        full, width, height = _encode(
            image, _config("EVIDENCE_MAX_SIDE"), _config("EVIDENCE_JPEG_QUALITY")
        )
        thumb, _, _ = _encode(image, _config("EVIDENCE_THUMB_SIDE"), 70)
    except (OSError, ValueError):
        raise not_an_image from None
    return Prepared(full, thumb, width, height, hashlib.sha256(full).hexdigest())


def thumb_key(storage_key: str) -> str:
    path = PurePath(storage_key)
    return str(path.with_name(f"{path.stem}-thumb{path.suffix}"))


def _store(actor, file: PersonFile, form_key: str, prepared: Prepared) -> VisitEvidence:
    key = f"evidence/{file.id}/{uuid.uuid4().hex}.jpg"
    files = store()
    files.put(key, io.BytesIO(prepared.data))
    files.put(thumb_key(key), io.BytesIO(prepared.thumb))
    row = VisitEvidence(
        file_id=file.id,
        region_code=file.region_code,
        form_key=form_key,
        storage_key=key,
        content_type=CONTENT_TYPE,
        width=prepared.width,
        height=prepared.height,
        bytes=len(prepared.data),
        sha256=prepared.sha256,
        uploaded_by_id=actor.id,
        uploaded_at=utcnow(),
    )
    db.session.add(row)
    return row


# --- the pending images of one form -----------------------------------------------------------


def pending(actor, file: PersonFile, form_key: str | None) -> list[VisitEvidence]:
    """The images uploaded on this form (its idempotency key) and not yet attached."""
    if not form_key:
        return []
    return list(
        db.session.scalars(
            select(VisitEvidence)
            .where(
                VisitEvidence.uploaded_by_id == actor.id,
                VisitEvidence.form_key == form_key,
                VisitEvidence.file_id == file.id,
                VisitEvidence.visit_id.is_(None),
            )
            .order_by(VisitEvidence.id)
        )
    )


def _delete(rows: list[VisitEvidence]) -> list[str]:
    files, keys = store(), []
    for row in rows:
        for key in (row.storage_key, thumb_key(row.storage_key)):
            files.delete(key)
            keys.append(key)
        db.session.delete(row)
    return keys


def drop_pending(actor, file: PersonFile, form_key: str | None, ids) -> int:
    """Remove pending images the worker unticked (移除); attached evidence is never removed."""
    wanted = {int(i) for i in ids if str(i).isdigit()}
    rows = [row for row in pending(actor, file, form_key) if row.id in wanted]
    _delete(rows)
    return len(rows)


def _saved_visit(actor, form_key: str) -> Visit | None:
    return db.session.scalar(
        select(Visit).where(Visit.user_id == actor.id, Visit.idempotency_key == form_key)
    )


def accept_uploads(actor, file: PersonFile, form_key: str, uploads) -> tuple[int, list[str]]:
    """Store the images of one submit as pending (no commit): (how many taken, messages).

    `uploads` are werkzeug FileStorage objects; empty file inputs are skipped. Too many images
    (with those already pending) refuses the whole selection; otherwise each image is taken or
    refused on its own, so a good photo is not lost because of a bad one beside it."""
    chosen = [u for u in uploads if u is not None and (u.filename or "").strip()]
    if not chosen or _saved_visit(actor, form_key) is not None:
        return 0, []  # nothing sent, or a replay of a visit already saved
    already = len(pending(actor, file, form_key))
    cap = _config("EVIDENCE_MAX_FILES")
    if already + len(chosen) > cap:
        return 0, [
            f"每条走访记录最多上传 {cap} 张证明材料照片（已上传 {already} 张，本次选择了 "
            f"{len(chosen)} 张），本次选择的照片未上传，请减少后重新选择。"
        ]
    limit = _config("EVIDENCE_MAX_BYTES")
    taken, messages = 0, []
    for upload in chosen:
        data = upload.stream.read(limit + 1)
        try:
            prepared = prepare_image(data, upload.filename)
        except ImageRefused as refused:
            messages.append(str(refused))
            continue
        _store(actor, file, form_key, prepared)
        taken += 1
    db.session.flush()
    return taken, messages


def record_with_evidence(actor, file: PersonFile, data) -> VisitResult:
    """Save a visit with the images pending on its form (no commit); the visit form's writer.

    The evidence rule (evidence_rules.py) is checked here: an outcome that requires evidence
    without any image is refused, and no waiver exists at the worker's level. A resubmit of a
    visit already saved (same idempotency key) is answered by record_visit as before."""
    if _saved_visit(actor, data.idempotency_key) is not None:
        return record_visit(actor, file, data)
    images = pending(actor, file, data.idempotency_key)
    message = evidence_rules.missing_message(data.outcome, len(images))
    if message:
        raise VisitRefused(message)
    result = record_visit(actor, file, data)
    if images and not result.replayed:
        db.session.execute(
            update(VisitEvidence)
            .where(VisitEvidence.id.in_([row.id for row in images]))
            .values(visit_id=result.visit.id, form_key=None)
        )
    return result


# --- reading -----------------------------------------------------------------------------------


def of_visits(visit_ids) -> dict[int, list[VisitEvidence]]:
    """The evidence of each visit, in upload order (one query)."""
    ids = {i for i in visit_ids if i is not None}
    found: dict[int, list[VisitEvidence]] = {i: [] for i in ids}
    if not ids:
        return found
    for row in db.session.scalars(
        select(VisitEvidence).where(VisitEvidence.visit_id.in_(ids)).order_by(VisitEvidence.id)
    ):
        found[row.visit_id].append(row)
    return found


def count_of(visit_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(VisitEvidence)
            .where(VisitEvidence.visit_id == visit_id)
        )
        or 0
    )


def visible_query(actor):
    """SELECT the evidence the actor may see: that of the person files the persons page shows
    them (persons.queries.scoped_select, action person.view); pending images only to their
    uploader."""
    from portal.persons.queries import scoped_select

    file = aliased(PersonFile)  # the scoped persons' own file join is not correlated with it
    persons = scoped_select(actor, "person.view", Person.id)
    return (
        select(VisitEvidence)
        .join(file, file.id == VisitEvidence.file_id)
        .where(
            file.person_id.in_(persons),
            or_(VisitEvidence.visit_id.is_not(None), VisitEvidence.uploaded_by_id == actor.id),
        )
    )


def get_visible_or_404(evidence_id: int, actor) -> VisitEvidence:
    row = db.session.scalar(visible_query(actor).where(VisitEvidence.id == evidence_id))
    if row is None:
        audit.denied("evidence", evidence_id, actor=actor)
        abort(404)
    return row


def audit_view(actor, row: VisitEvidence) -> None:
    """A full image seen: an audit event, like a reveal of a full number."""
    audit.record(
        "evidence.view",
        actor=actor,
        target_type="evidence",
        target_id=row.id,
        region_code=row.region_code,
        detail={"file_id": row.file_id, "visit_id": row.visit_id},
    )


# --- keeping -----------------------------------------------------------------------------------


def purge_pending(now: datetime | None = None) -> list[str]:
    """Delete pending images never attached to a visit, older than EVIDENCE_PENDING_HOURS (no
    commit: `portal files purge`); the storage keys deleted."""
    cutoff = (now or utcnow()) - timedelta(hours=_config("EVIDENCE_PENDING_HOURS"))
    rows = list(
        db.session.scalars(
            select(VisitEvidence).where(
                VisitEvidence.visit_id.is_(None), VisitEvidence.uploaded_at < cutoff
            )
        )
    )
    return _delete(rows)
