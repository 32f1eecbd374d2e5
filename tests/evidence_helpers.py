"""Images for the evidence tests: real JPEG/PNG bytes (with EXIF and GPS when asked), and a
stored evidence row attached to a visit (the desk fixtures' proposals carry one)."""

import io

from PIL import Image

from portal.visits import evidence
from portal.visits.models import VisitEvidence

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_bytes(width=2400, height=1800, *, gps=True, orientation=None, color=(200, 30, 30)):
    """A JPEG photo as a phone sends it: EXIF with a make, a GPS position, an orientation."""
    image = Image.new("RGB", (width, height), color)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (32.0, 3.0, 0.0), 3: "E", 4: (120.0, 1.0, 0.0)}
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png_bytes(width=3000, height=1000, *, alpha=True):
    image = Image.new(
        "RGBA" if alpha else "RGB", (width, height), (10, 120, 200, 128)[: 4 if alpha else 3]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def attach_evidence(session, *, visit_id, file_id, region, user_id, count=1) -> list[int]:
    """Stored evidence rows of a visit (as an upload on the form would leave them)."""
    ids = []
    for _ in range(count):
        prepared = evidence.prepare_image(jpeg_bytes(800, 600), "证明.jpg")
        key = f"evidence/{file_id}/fixture-{visit_id}-{len(ids)}.jpg"
        evidence.store().put(key, io.BytesIO(prepared.data))
        evidence.store().put(evidence.thumb_key(key), io.BytesIO(prepared.thumb))
        row = VisitEvidence(
            visit_id=visit_id,
            file_id=file_id,
            region_code=region,
            storage_key=key,
            content_type="image/jpeg",
            width=prepared.width,
            height=prepared.height,
            bytes=len(prepared.data),
            sha256=prepared.sha256,
            uploaded_by_id=user_id,
        )
        session.add(row)
        session.flush()
        ids.append(row.id)
    return ids
