"""Bytes that leave the vault for the browser, each with headers that keep them inert.

- photos: only ever the JPEG that Pillow re-encoded (images.reencode), never the original inline;
- video and audio: streamed, with a type from an allow-list chosen from the bytes, nosniff, a sandbox
  CSP, and Content-Disposition: attachment (a <video> still plays it; opening its address downloads);
- downloads of originals: application/octet-stream, attachment, a sanitized file name;
- the outbox (sealed case files, reply bundles) and the printable PDF: downloads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Blueprint, Response, abort, request, send_file

from .. import media, pdf, queries
from ..documents import PLAYABLE, safe_filename
from ..i18n import _
from . import vault
from .pages import photo

bp = Blueprint("files", __name__)
# An attachment number SQLite can hold; a longer one is not found (it was an OverflowError, a 500).
ATTACHMENT = f"int(max={2**63 - 1})"
SANDBOX = "sandbox; default-src 'none'"
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
UNSATISFIABLE = (-1, -1)


def byte_range(header: str | None, size: int | None) -> tuple[int, int] | None:
    """The one range `Range: bytes=...` asks for, as (first, last) inclusive; None to send it whole
    (no header, a malformed one, several ranges, or a size we do not know: RFC 9110 lets a server
    ignore Range); UNSATISFIABLE when it starts past the end."""
    m = _RANGE.match((header or "").strip())
    if m is None or size is None or not (m[1] or m[2]):
        return None
    if not m[1]:  # the last N bytes
        n = int(m[2])
        return UNSATISFIABLE if n == 0 or size == 0 else (max(0, size - n), size - 1)
    first, last = int(m[1]), int(m[2]) if m[2] else size - 1
    if m[2] and last < first:
        return None
    if first >= size:
        return UNSATISFIABLE
    return first, min(last, size - 1)


def _slice(chunks: Iterator[bytes], first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of a stream. The envelope opens from its start (every chunk authenticates in
    order), so a seek costs decrypting what comes before it; it stops as soon as `last` has gone out."""
    pos = 0
    try:
        for data in chunks:
            end = pos + len(data)
            if end > first:
                yield data[max(0, first - pos) : last + 1 - pos]
            pos = end
            if pos > last:
                return
    finally:
        chunks.close()


def _download(body, mimetype: str, filename: str, *, inline: bool = False) -> Response:
    response = Response(body, mimetype=mimetype)
    kind = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{kind}; filename="{safe_filename(filename)}"'
    response.headers["Content-Security-Policy"] = SANDBOX
    return response


@bp.get("/favicon.ico")
def favicon():
    return Response(status=204)  # browsers ask for it; an empty answer keeps their consoles clean


@bp.get(f"/a/<{ATTACHMENT}:att_id>/image")
def image(att_id: int):
    row = media.attachment(vault(), att_id)
    if row["family"] != "image":
        abort(404)
    jpeg, _why, _check = photo(att_id)
    if jpeg is None:
        abort(404, description=_("This photo cannot be shown."))
    return _download(jpeg, "image/jpeg", f"case-{row['case_number']}-{row['position']}.jpg", inline=True)


@bp.get(f"/a/<{ATTACHMENT}:att_id>/media")
def play(att_id: int):
    row = media.attachment(vault(), att_id)
    if row["family"] not in ("video", "audio") or row["mime"] not in PLAYABLE:
        abort(404)
    name = f"case-{row['case_number']}-{row['position']}.{PLAYABLE[row['mime']]}"
    size, wanted = row["size"], byte_range(request.headers.get("Range"), row["size"])
    if wanted == UNSATISFIABLE:
        response = _download(b"", row["mime"], name)
        response.status_code = 416
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    if wanted is None:
        response = _download(media.stream(vault(), row), row["mime"], name)
        if size is not None:
            response.headers["Content-Length"] = str(size)
    else:  # a <video> seeking, or asking for the end of the file first
        first, last = wanted
        response = _download(_slice(media.stream(vault(), row), first, last), row["mime"], name)
        response.status_code = 206
        response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response.headers["Content-Length"] = str(last - first + 1)
    if size is not None:
        response.headers["Accept-Ranges"] = "bytes"
    return response


@bp.get(f"/a/<{ATTACHMENT}:att_id>/download")
def download(att_id: int):
    row = media.attachment(vault(), att_id)
    response = _download(
        media.stream(vault(), row),
        "application/octet-stream",
        f"case-{row['case_number']}-{row['position']}-{row['name']}",
    )
    if row["size"] is not None:
        response.headers["Content-Length"] = str(row["size"])
    return response


@bp.get("/case/<number>/case.pdf")
def case_pdf(number: str):
    v = vault()
    data = queries.case(v, number[:20])
    return _download(pdf.case_pdf(v, data), "application/pdf", f"case-{data['case']['number']}.pdf")


@bp.get("/outbox/<name>")
def outbox(name: str):
    path = vault().path / "outbox" / safe_filename(name)
    if safe_filename(name) != name or name.startswith(".") or not path.is_file():
        abort(404)
    # Absolute: send_file reads a relative path from the app's package folder, not the working directory.
    response = send_file(
        path.resolve(), mimetype="application/octet-stream", as_attachment=True, download_name=name
    )
    response.headers["Content-Security-Policy"] = SANDBOX
    return response
