"""Recording a visit through the file page's form, as the grid worker's phone posts it."""

import io
import re

from portal.visits.evidence_rules import requires_evidence
from tests.evidence_helpers import jpeg_bytes

HIDDEN = re.compile(
    r'<input id="(idempotency_key|version|token)" name="\1" type="hidden" value="([^"]*)"'
)


def form_of(client, file_id: int) -> dict:
    """The hidden fields of the visit form as the file page renders them."""
    html = client.get(f"/tasks/{file_id}").get_data(as_text=True)
    return dict(HIDDEN.findall(html))


def submit(client, file_id: int, form: dict | None = None, **fields):
    data = {**(form or form_of(client, file_id)), "method": "in_person", **fields}
    if requires_evidence(fields.get("outcome", "")) and "evidence" not in fields:
        # A closure that needs evidence carries a photo (tests/test_evidence.py: without one).
        data["evidence"] = (io.BytesIO(jpeg_bytes(640, 480)), "证明.jpg")
    return client.post(f"/tasks/{file_id}/visit", data=data)
