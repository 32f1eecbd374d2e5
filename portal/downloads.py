"""Sending a download: a file the portal just wrote (an export, kept nowhere afterwards) or bytes
made in memory (a chart, a notice), never cached by the browser or a proxy."""

import io
import mimetypes
from pathlib import Path

from flask import Response, send_file


def send_written_file(path: Path, name: str) -> Response:
    """Send a private temporary file under the download name `name` and remove it: the open file
    stays readable until sent, and no copy is left behind."""
    stream = path.open("rb")
    size = path.stat().st_size
    path.unlink()
    response = send_file(stream, as_attachment=True, download_name=name, max_age=0)
    response.content_length = size
    return response


def send_bytes(data: bytes, name: str) -> Response:
    """Send `data` under the download name `name` (its type from the name's extension)."""
    response = send_file(
        io.BytesIO(data),
        mimetype=mimetypes.guess_type(name)[0] or "application/octet-stream",
        as_attachment=True,
        download_name=name,
        max_age=0,
    )
    response.content_length = len(data)
    return response
