"""Evidence images, served only through a scoped route (portal/visits/evidence.py).

`/evidence/<id>` answers the stored JPEG to a user who may see the evidence's person file
(404 otherwise, and a refused access is audited); `/evidence/<id>/thumb` its thumbnail. Neither
is ever cached (Cache-Control: private, no-store) nor sniffed as another type (nosniff); each
view of a full image is an audit event (evidence.view), thumbnails are not.
"""

from flask import Blueprint, Response

from permissions import requires
from portal.request_cycle import current_actor
from portal.storage import StoredFileMissing, store
from portal.visits import evidence

bp = Blueprint("evidence", __name__, url_prefix="/evidence")

NEVER_CACHED = "private, no-store"


def _image(key: str, name: str) -> Response:
    try:
        with store().open(key) as stream:
            data = stream.read()
    except StoredFileMissing:
        return Response("证明材料文件缺失。", status=404, mimetype="text/plain")
    response = Response(data, mimetype=evidence.CONTENT_TYPE)
    response.headers["Cache-Control"] = NEVER_CACHED
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


@bp.route("/<int:evidence_id>")
@requires("person.view")
def image(evidence_id: int):
    actor = current_actor()
    row = evidence.get_visible_or_404(evidence_id, actor)
    evidence.audit_view(actor, row)
    return _image(row.storage_key, f"evidence-{row.id}.jpg")


@bp.route("/<int:evidence_id>/thumb")
@requires("person.view")
def thumb(evidence_id: int):
    row = evidence.get_visible_or_404(evidence_id, current_actor())
    return _image(evidence.thumb_key(row.storage_key), f"evidence-{row.id}-thumb.jpg")
