"""Bytes that leave the vault for the browser, each with headers that keep them inert.

- photos: only ever the JPEG that Pillow re-encoded (images.reencode), never the original inline;
- video and audio: streamed, with a type from an allow-list chosen from the bytes, nosniff, a sandbox
  CSP, and Content-Disposition: attachment (a <video> still plays it; opening its address downloads);
- downloads of originals: application/octet-stream, attachment, a sanitized file name;
- the outbox (sealed case files, reply bundles) and the printable PDF: downloads.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_file

from .. import media, pdf, queries
from ..documents import PLAYABLE, safe_filename
from . import vault
from .pages import photo

bp = Blueprint("files", __name__)
SANDBOX = "sandbox; default-src 'none'"


def _download(body, mimetype: str, filename: str, *, inline: bool = False) -> Response:
    response = Response(body, mimetype=mimetype)
    kind = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{kind}; filename="{safe_filename(filename)}"'
    response.headers["Content-Security-Policy"] = SANDBOX
    return response


@bp.get("/favicon.ico")
def favicon():
    return Response(status=204)  # browsers ask for it; an empty answer keeps their consoles clean


@bp.get("/a/<int:att_id>/image")
def image(att_id: int):
    row = media.attachment(vault(), att_id)
    if row["family"] != "image":
        abort(404)
    jpeg, _, _ = photo(att_id)
    if jpeg is None:
        abort(404, description="This photo cannot be shown.")
    return _download(jpeg, "image/jpeg", f"case-{row['case_number']}-{row['position']}.jpg", inline=True)


@bp.get("/a/<int:att_id>/media")
def play(att_id: int):
    row = media.attachment(vault(), att_id)
    if row["family"] not in ("video", "audio") or row["mime"] not in PLAYABLE:
        abort(404)
    name = f"case-{row['case_number']}-{row['position']}.{PLAYABLE[row['mime']]}"
    response = _download(media.stream(vault(), row), row["mime"], name)
    if row["size"] is not None:
        response.headers["Content-Length"] = str(row["size"])
    return response


@bp.get("/a/<int:att_id>/download")
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
    response = send_file(path, mimetype="application/octet-stream", as_attachment=True, download_name=name)
    response.headers["Content-Security-Policy"] = SANDBOX
    return response
