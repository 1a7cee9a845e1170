"""The clerk's pages: what waits, export bundles out, reply bundles in. Metadata and ciphertext only.

GET  /desk/                          the inbox: per desk, submissions by day, size, path, state;
                                     with ?desk=<desk>&ready=<sequence>, that bundle's contents and next steps
POST /desk/export/<desk>/make        make the next export bundle (everything new), then back to the inbox
POST /desk/export/<desk>             download the next export bundle at once (scripts, the older tests)
POST /desk/export/<desk>/<sequence>  download an export bundle (again), until the viewer confirms it
GET  /desk/replies                   the reply-bundle upload form
POST /desk/replies                   import it whole or not at all, then apply retention
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import abort, current_app, g, redirect, render_template, request, send_file, url_for
from sqlalchemy import func, select

from crypto import SigningKey
from crypto.bundle import BundleError

from .. import bundles, db, errors
from ..config import SIGNING_KEY_FILE
from ..models import Desk, ExportLog, KeyChange, Submission
from ..parsing import MAX_ID, whole_number
from . import audit, bp, keytrust

INBOX_ROWS = 200
NO_FILE = errors.N_("Choose the reply bundle file first.")


def visible_desks() -> list[Desk]:
    """Admins and clerks without a desk see every desk; a clerk or an admin with a desk sees that one."""
    user = g.desk_user
    if user.desk_id is not None:
        return [user.desk]
    return list(db.session().scalars(select(Desk).order_by(Desk.slug)))


def desk_or_404(slug: str) -> Desk:
    desk = next((d for d in visible_desks() if d.slug == slug[:40]), None)
    if desk is None:
        abort(404, description="unknown_desk")
    return desk


def _store():
    return current_app.extensions["sealdrop.blobs"]


def _spool_path() -> Path:
    """A private file beside the blobs for a bundle on its way in or out (ciphertext only)."""
    return _store().incoming / f"bundle-{secrets.token_hex(16)}.tmp"


def _desk_summary(desk: Desk) -> dict:
    session = db.session()

    def count(*where) -> int:
        query = select(func.count(Submission.id)).where(Submission.desk_id == desk.id, *where)
        return session.scalar(query) or 0

    new = count(Submission.exported_seq.is_(None), Submission.deleted_day.is_(None))
    deleted, total = count(Submission.deleted_day.is_not(None)), count()
    logs = list(
        session.scalars(
            select(ExportLog).where(ExportLog.desk_id == desk.id).order_by(ExportLog.sequence.desc())
        )
    )
    rows = list(
        session.scalars(
            select(Submission)
            .where(Submission.desk_id == desk.id)
            .order_by(Submission.id.desc())
            .limit(INBOX_ROWS)
        )
    )
    return {
        "desk": desk,
        "new": new,
        "deleted": deleted,
        "total": total,
        "exports": logs,
        "key_changes": keytrust.waiting(session, desk),  # exported even with no new report (invariant 8)
        "confirmed": {log.sequence: log.confirmed_day for log in logs},
        "officers": {log.sequence: _officers_of(log) for log in logs},
        "rows": rows,
    }


def _officers_of(log: ExportLog) -> dict:
    """Which officers' viewers confirmed an export bundle (and when), and whom it still waits for."""
    return {
        "confirmed": [f"{c.officer.name} ({c.day.isoformat()})" for c in log.confirmations],
        "awaited": [o.name for o in bundles.awaited_officers(log)],
    }


def _ready_bundle(desk: Desk) -> dict | None:
    """The bundle the inbox was sent back with after "make" (?desk=&ready=), while it can still be
    downloaded: its number and how many submissions went into it. Read from the database, so a reload
    or a second tab shows the same, and nothing but a desk and a number is in the URL."""
    if request.args.get("desk") != desk.slug:
        return None
    sequence = whole_number(request.args.get("ready"), 1, MAX_ID)
    if sequence is None:
        return None
    session = db.session()
    log = session.scalar(
        select(ExportLog).where(ExportLog.desk_id == desk.id, ExportLog.sequence == sequence)
    )
    if log is None or log.confirmed_day is not None:
        return None
    held = select(func.count(Submission.id)).where(
        Submission.desk_id == desk.id, Submission.exported_seq == sequence
    )
    changes = select(func.count(KeyChange.id)).where(
        KeyChange.desk_id == desk.id, KeyChange.exported_seq == sequence
    )
    return {
        "sequence": sequence,
        "count": session.scalar(held) or 0,
        "key_changes": session.scalar(changes) or 0,
    }


@bp.get("/")
def inbox():
    summaries = [_desk_summary(d) | {"ready": _ready_bundle(d)} for d in visible_desks()]
    return render_template("desk/inbox.html", summaries=summaries, msg=request.args.get("msg"))


def _download(path: Path, name: str):
    f = open(path, "rb")  # noqa: SIM115 (send_file closes it)
    path.unlink()  # the open handle keeps the bytes until they are sent; nothing is left behind
    return send_file(f, mimetype="application/octet-stream", as_attachment=True, download_name=name)


def _signing_key() -> SigningKey:
    return SigningKey.load(current_app.config["SEALDROP"].instance_dir / SIGNING_KEY_FILE)


def _write_spool(write) -> Path:
    path = _spool_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _bundle_name(desk: Desk, sequence: int) -> str:
    return f"sealdrop-export-{desk.slug}-{sequence:05d}.bundle"


class _Discard:
    """A sink for the bundle "make" records: the bytes are written again, byte for byte, when the clerk
    downloads it (export_again checks them against the recorded hash), so no copy waits on disk."""

    def write(self, data: bytes) -> int:
        return len(data)


def _record_export(session, desk, manifest) -> None:
    """The audit line of a new export bundle (its number and size, never what is in it), committed."""
    detail = f"bundle {manifest.sequence}, {len(manifest.items)} envelopes"
    audit.record(session, g.desk_user.name, "export", desk.slug, detail)
    session.commit()


@bp.post("/export/<slug>/make")
def export_make(slug: str):
    """Record the next export bundle and send the clerk back to the inbox, which then says what went
    into it and offers its download. A download cannot change the page it came from (not without
    JavaScript, and not reliably with it), so the page that explains it comes first."""
    desk, session = desk_or_404(slug), db.session()
    try:
        manifest = bundles.export(session, _store(), desk, _signing_key(), _Discard())
    except bundles.NothingToExport:
        return redirect(url_for("desk.inbox", msg="nothing_new"), 303)
    _record_export(session, desk, manifest)
    ready = url_for("desk.inbox", desk=desk.slug, ready=manifest.sequence, _anchor=f"ready-{desk.slug}")
    return redirect(ready, 303)


@bp.post("/export/<slug>")
def export(slug: str):
    desk, session = desk_or_404(slug), db.session()
    manifest = None

    def write(f):
        nonlocal manifest
        manifest = bundles.export(session, _store(), desk, _signing_key(), f)

    try:
        path = _write_spool(write)
    except bundles.NothingToExport:
        return redirect(url_for("desk.inbox", msg="nothing_new"), 303)
    _record_export(session, desk, manifest)
    return _download(path, _bundle_name(desk, manifest.sequence))


@bp.post("/export/<slug>/<int:sequence>")
def export_again(slug: str, sequence: int):
    desk, session = desk_or_404(slug), db.session()
    try:
        path = _write_spool(
            lambda f: bundles.export_again(session, _store(), desk, sequence, _signing_key(), f)
        )
    except (bundles.NothingToExport, BundleError):
        return redirect(url_for("desk.inbox", msg="cannot_export_again"), 303)
    audit.record(session, g.desk_user.name, "export_again", desk.slug, f"bundle {sequence}")
    session.commit()
    return _download(path, _bundle_name(desk, sequence))


@bp.get("/replies")
def replies():
    return render_template("desk/replies.html", error=None, detail=None, result=None)


@bp.post("/replies")
def replies_post():
    upload = request.files.get("bundle")
    if upload is None or not upload.filename:
        return render_template(
            "desk/replies.html", error="no_file", refusal=NO_FILE, detail=None, result=None
        ), 400
    session, store, user = db.session(), _store(), g.desk_user
    only_desk = user.desk.slug if user.desk is not None else None
    path = _write_spool(lambda f: upload.save(f))
    try:
        desk, count = bundles.import_replies(session, store, path, only_desk=only_desk)
    except BundleError as e:
        session.rollback()
        audit.record(session, user.name, "replies_refused", only_desk, e.reason)
        session.commit()
        words, detail = errors.bundle_refusal(e), errors.bundle_refusal_detail(e)  # as the CLI says it
        return render_template(
            "desk/replies.html", error=e.reason, refusal=words, detail=detail, result=None
        ), 400
    finally:
        path.unlink(missing_ok=True)
    audit.record(session, user.name, "replies_imported", desk.slug, f"{count} replies")
    session.commit()
    deleted = bundles.apply_retention(
        session, store, waits_for=current_app.config["SEALDROP"].retention_waits_for
    )
    if deleted:
        audit.record(session, user.name, "retention", None, f"{deleted} submissions deleted")
        session.commit()
    result = {"desk": desk, "count": count, "deleted": deleted}
    return render_template("desk/replies.html", error=None, detail=None, result=result)
