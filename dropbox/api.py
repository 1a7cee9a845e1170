"""The JSON API behind the JavaScript path. It only ever receives ciphertext and derived values.

    POST /api/<desk>/uploads                 {"size": n}                 -> {"id", "piece"}
    PUT  /api/<desk>/uploads/<id>?offset=k   (a piece of the envelope)   -> {"received"}
    GET  /api/<desk>/uploads/<id>                                        -> {"received", "size"}
    POST /api/<desk>/reports     {"category", "parts": [ids], "lookup_id", "reply_public"} -> {"case_number"}
    POST /api/<desk>/additions   {"lookup_id", "parts": [ids]}           -> {"case_number"}
    POST /api/<desk>/case        {"lookup_id"}                           -> {"case_number", "replies": [b64]}

Every call needs the page's token in the X-Sealdrop-CSRF header. Errors are {"error": code}.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select

from . import db, intake
from .models import Desk, Upload
from .security import CSRF_HEADER, require_csrf

bp = Blueprint("api", __name__)


def _desk(slug: str) -> Desk:
    desk = db.session().scalar(select(Desk).where(Desk.slug == slug[:40]))
    if desk is None:
        abort(404, description="unknown_desk")
    require_csrf(f"api:{desk.slug}", request.headers.get(CSRF_HEADER))
    return desk


def _json() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="bad_request")
    return data


def _b64(value: object, length: int) -> bytes:
    if not isinstance(value, str) or len(value) > 100:
        abort(400, description="bad_request")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        abort(400, description="bad_request")
    if len(raw) != length:
        abort(400, description="bad_request")
    return raw


def _upload(desk: Desk, upload_id: str) -> Upload:
    upload = db.session().get(Upload, upload_id[:32])
    if upload is None or upload.desk_id != desk.id:
        abort(404, description="unknown_upload")
    return upload


def _fail(e: intake.IntakeError):
    status = {"too_large": 413, "no_recipients": 503, "try_again": 503, "wrong_offset": 409}.get(e.code, 400)
    return jsonify(error=e.code), status


@bp.post("/<slug>/uploads")
def start_upload(slug: str):
    desk = _desk(slug)
    size = _json().get("size")
    if not isinstance(size, int) or isinstance(size, bool):
        abort(400, description="bad_request")
    manager, cfg = current_app.extensions["sealdrop.uploads"], current_app.config["SEALDROP"]
    store = current_app.extensions["sealdrop.blobs"]
    manager.sweep_if_due(db.session(), store, intake.upload_max_age_s(cfg))
    try:
        upload = manager.start(db.session(), desk, size)
    except intake.IntakeError as e:
        return _fail(e)
    return jsonify(id=upload.id, piece=cfg.max_upload_piece), 201


@bp.put("/<slug>/uploads/<upload_id>")
def put_piece(slug: str, upload_id: str):
    desk = _desk(slug)
    cfg = current_app.config["SEALDROP"]
    request.max_content_length = cfg.max_upload_piece
    upload = _upload(desk, upload_id)
    offset = request.args.get("offset", "")
    if not offset.isdigit() or len(offset) > 15:
        abort(400, description="bad_request")
    length = request.content_length  # waitress has the whole body by now; the app copies it on in chunks
    if length is None:
        abort(411, description="bad_request")
    if length > cfg.max_upload_piece:
        abort(413, description="too_large")
    try:
        received = current_app.extensions["sealdrop.uploads"].append(
            db.session(), upload, int(offset), request.stream, length
        )
    except intake.IntakeError as e:
        return _fail(e)
    return jsonify(received=received)


@bp.get("/<slug>/uploads/<upload_id>")
def upload_state(slug: str, upload_id: str):
    upload = _upload(_desk(slug), upload_id)
    return jsonify(received=upload.received, size=upload.size)


def _parts(desk: Desk, ids: object) -> list[Upload]:
    cfg = current_app.config["SEALDROP"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= cfg.max_attachments + 1:
        abort(400, description="bad_request")
    if not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        abort(400, description="bad_request")
    return [_upload(desk, i) for i in ids]


@bp.post("/<slug>/reports")
def submit_report(slug: str):
    desk = _desk(slug)
    data = _json()
    category = next((c for c in desk.categories if str(c.id) == str(data.get("category"))), None)
    if category is None:
        abort(400, description="choose_category")
    lookup_id, reply_public = _b64(data.get("lookup_id"), 32), _b64(data.get("reply_public"), 32)
    uploads = _parts(desk, data.get("parts"))
    session, store = db.session(), current_app.extensions["sealdrop.blobs"]
    manager = current_app.extensions["sealdrop.uploads"]
    try:
        keys = intake.recipients(category)
        if intake.find_case(session, lookup_id) is not None:
            raise intake.IntakeError("receipt_in_use")
        for upload in uploads:  # refuse before opening a case: open_case may roll the session back
            manager.check(upload, keys)
        target = category.target_desk
        case = intake.open_case(session, target, lookup_id, reply_public)
        with manager.finishing(session, store, uploads, keys) as blob_ids:
            intake.file_submission(session, store, case, target, blob_ids, "browser")
    except intake.IntakeError as e:
        session.rollback()
        return _fail(e)
    return jsonify(case_number=case.number), 201


@bp.post("/<slug>/additions")
def submit_addition(slug: str):
    desk = _desk(slug)
    data = _json()
    session, store = db.session(), current_app.extensions["sealdrop.blobs"]
    case = intake.find_case(session, _b64(data.get("lookup_id"), 32))
    if case is None:
        abort(404, description="receipt_unknown")
    uploads = _parts(desk, data.get("parts"))
    manager = current_app.extensions["sealdrop.uploads"]
    try:
        keys = intake.case_recipients(session, store, case)
        with manager.finishing(session, store, uploads, keys) as blob_ids:
            intake.file_submission(session, store, case, case.desk, blob_ids, "browser")
    except intake.IntakeError as e:
        session.rollback()
        return _fail(e)
    return jsonify(case_number=case.number), 201


@bp.post("/<slug>/case")
def case_state(slug: str):
    _desk(slug)
    case = intake.find_case(db.session(), _b64(_json().get("lookup_id"), 32))
    if case is None:
        abort(404, description="receipt_unknown")
    store = current_app.extensions["sealdrop.blobs"]
    replies = []
    for reply in case.replies:
        with store.open(reply.blob_id) as f:
            replies.append(base64.b64encode(f.read()).decode())
    try:
        recipients = [k.public_bytes.hex() for k in intake.case_recipients(db.session(), store, case)]
    except intake.IntakeError:
        recipients = []  # no officer left to add information for; reading replies still works
    return jsonify(
        case_number=case.number,
        desk=case.desk.slug,  # the desk the case is filed with, for an addition's document
        received_day=case.received_day.isoformat(),
        replies=replies,
        recipients=recipients,
    )
