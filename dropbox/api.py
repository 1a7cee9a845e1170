"""The JSON API behind the JavaScript path. It only ever receives ciphertext and derived values.

    POST /api/<desk>/uploads                 {"size": n}                 -> {"id", "piece"}
    PUT  /api/<desk>/uploads/<id>?offset=k   (a piece of the envelope)   -> {"received"}
    PUT  /api/<desk>/uploads/<id>?offset=0&size=n   the first piece starts an upload under an id the
                                             browser chose (32 hex digits): no round trip to start, and
                                             a retried first piece finds the upload it started
    GET  /api/<desk>/uploads/<id>                                        -> {"received", "size"}
    POST /api/<desk>/reports     {"category", "parts": [ids], "lookup_id", "reply_public"} -> {"case_number"}
                                 (repeated after a lost answer: the same case number, nothing filed twice)
    POST /api/<desk>/reports     application/octet-stream: a length-prefixed report call with "sizes",
                                 then its envelopes: a small report in one round trip -> {"case_number"}
    POST /api/<desk>/additions   {"lookup_id", "parts": [ids]}           -> {"case_number"}
    GET  /api/<desk>/challenge?lang=L    a proof-of-work challenge (dropbox/pow.py) and the words the page
                                 shows while it works; every report call carries "pow": {"challenge",
                                 "nonces"}; past the desk's report budget the level asked is the top one
    GET  /api/<desk>/csrf                                                -> {"csrf"}  a fresh token for a page
                                 open longer than a token lives (a long outage); readable same-origin only
    POST /api/<desk>/case        {"lookup_id"}                           -> {"case_number", "replies": [b64]}
                                 (429 {"error": "busy", "retry_after", "wait"} past the sign-in budget)
A refusal for now (429 busy, 503 uploads_full) carries "retry_after" in seconds and "wait" in words, in
the page's language (?lang=, else Accept-Language, which the page sets to its own).

Every call needs the page's token in the X-Sealdrop-CSRF header. Errors are {"error": code}.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import secrets
from collections.abc import Sequence

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import db, i18n, intake, pagecache, parsing
from . import pow as proof_of_work
from .models import Case, Desk, Upload
from .pagecache import CategoryView, DeskPage
from .security import CSRF_HEADER, csrf_token, once_hash, require_csrf

bp = Blueprint("api", __name__)
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
WHOLE_META_LIMIT = 64 * 1024  # the JSON of a report sent whole: ids, keys and a few sizes
MAX_BYTE_COUNT = 10**15 - 1  # an upload's size or offset: fifteen ASCII digits at most


def _desk(slug: str) -> DeskPage:
    """The desk, its categories and their keys from this process's cache, checked against the database's
    config_version in this request (dropbox/pagecache.py): as fresh as reading them, one statement."""
    desk = pagecache.for_app(current_app).get(db.session(), slug[:40])
    if desk is None:
        abort(404, description="unknown_desk")
    require_csrf(f"api:{desk.slug}", request.headers.get(CSRF_HEADER))
    return desk


@bp.get("/<slug>/csrf")
def fresh_token(slug: str):
    """A new token for a page whose own has expired while it waited for the network. It asks for no
    token itself: like the page that carries one, it is readable by this site's pages only (no CORS)."""
    desk = db.session().scalar(select(Desk).where(Desk.slug == slug[:40]))
    if desk is None:
        abort(404, description="unknown_desk")
    return jsonify(csrf=csrf_token(f"api:{desk.slug}"))


@bp.get("/<slug>/challenge")
def challenge(slug: str):
    """A proof of work for this desk's next report, at the level its recent load asks for, with the words
    the page shows while it works and while the desk is busy, in the page's language (`?lang=`)."""
    desk = _desk(slug)
    cfg, budgets = current_app.config["SEALDROP"], current_app.extensions["sealdrop.budgets"]
    return jsonify(proof_of_work.offer(cfg, desk.slug, budgets.pow_work_for(desk.slug)))


def _signin_refused(desk: DeskPage):
    """A 429 past the receipt sign-in budget, as the no-JS sign-in has (reporter.check); else the try is
    counted. Every try is a lookup a flood of guesses would otherwise get for free."""
    return _come_back_in(current_app.extensions["sealdrop.budgets"].take("signins", desk.slug))


def _come_back_in(wait_s: int, error: str = "busy", status: int = 429):
    """A refusal for now that says when to come back: in seconds, and in words in the page's language
    (?lang=, else Accept-Language, which the page sets to its own), for the page to show as it is."""
    if not wait_s:
        return None
    answer = jsonify(error=error, retry_after=wait_s, wait=i18n.wait_words(wait_s))
    answer.headers["Retry-After"] = str(wait_s)
    return answer, status


def _work_done(desk: DeskPage, sent: object) -> bytes:
    """The keyed hash under which the solved challenge is kept as spent, once the report is filed; a
    report call without a valid, fresh solution at the current level ends here in a 403."""
    cfg, budgets = current_app.config["SEALDROP"], current_app.extensions["sealdrop.budgets"]
    token = proof_of_work.check(cfg, desk.slug, sent, budgets.pow_work_for(desk.slug))
    return once_hash(proof_of_work.spent_key(desk.slug), token)


@bp.get("/openapi.json")
def openapi():
    """This API as an OpenAPI 3 document (docs/api.md); tests/fuzz runs schemathesis against it."""
    return current_app.send_static_file("openapi.json")


def _json() -> dict:
    """The body as a JSON object; anything else (another type, too deep, not JSON) is a 400."""
    if not request.is_json:
        abort(400, description="bad_request")
    request.max_content_length = WHOLE_META_LIMIT  # a report call is ids and keys: a 413 past this
    try:
        return parsing.json_object(request.get_data(), WHOLE_META_LIMIT)
    except parsing.BadInput:
        abort(400, description="bad_request")


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


def _upload(desk: DeskPage, upload_id: str) -> Upload:
    upload = db.session().get(Upload, upload_id[:32])
    if upload is None or upload.desk_id != desk.id:
        abort(404, description="unknown_upload")
    return upload


def _fail(e: intake.IntakeError):
    if e.code == "uploads_full":  # past an upload cap (uploads.UploadLimits): the page waits, then retries
        return _come_back_in(intake.BUSY_RETRY_AFTER_S, e.code, 503)
    if e.code == "store_full":  # past the stored-bytes budget: room comes back after export and retention
        return _come_back_in(intake.STORE_FULL_RETRY_AFTER_S, e.code, 503)
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


def _started_here(desk: DeskPage, upload_id: str, size: str) -> Upload:
    """The upload a browser starts with its first piece, under the id it chose (as `Uploads.start` makes
    one); the same id again, or a race of two first pieces, finds the one upload."""
    declared = parsing.whole_number(size, 0, MAX_BYTE_COUNT)
    if not UPLOAD_ID.fullmatch(upload_id) or declared is None:
        abort(400, description="bad_request")
    session, manager = db.session(), current_app.extensions["sealdrop.uploads"]
    existing = session.get(Upload, upload_id)
    if existing is not None:
        return _upload(desk, upload_id)
    manager.sweep_if_due(session, current_app.extensions["sealdrop.blobs"], _max_age())
    try:  # within the upload caps, or IntakeError
        return manager.start(session, desk, declared, upload_id)
    except IntegrityError:  # the same first piece, sent twice at once
        session.rollback()
        return _upload(desk, upload_id)


def _max_age() -> float:
    return intake.upload_max_age_s(current_app.config["SEALDROP"])


@bp.put("/<slug>/uploads/<upload_id>")
def put_piece(slug: str, upload_id: str):
    desk = _desk(slug)
    cfg = current_app.config["SEALDROP"]
    request.max_content_length = cfg.max_upload_piece
    offset = request.args.get("offset", "")
    try:
        if offset == "0" and "size" in request.args:
            upload = _started_here(desk, upload_id, request.args["size"])
        else:
            upload = _upload(desk, upload_id)
    except intake.IntakeError as e:
        return _fail(e)
    start = parsing.whole_number(offset, 0, MAX_BYTE_COUNT)
    if start is None:
        abort(400, description="bad_request")
    length = request.content_length  # waitress has the whole body by now; the app copies it on in chunks
    if length is None:
        abort(411, description="bad_request")
    if length > cfg.max_upload_piece:
        abort(413, description="too_large")
    try:
        received = current_app.extensions["sealdrop.uploads"].append(
            db.session(), upload, start, request.stream, length
        )
    except intake.IntakeError as e:
        return _fail(e)
    return jsonify(received=received)


@bp.get("/<slug>/uploads/<upload_id>")
def upload_state(slug: str, upload_id: str):
    upload = _upload(_desk(slug), upload_id)
    return jsonify(received=upload.received, size=upload.size)


def _parts(desk: DeskPage, ids: object) -> list[Upload]:
    cfg = current_app.config["SEALDROP"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= cfg.max_attachments + 1:
        abort(400, description="bad_request")
    if not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        abort(400, description="bad_request")
    return [_upload(desk, i) for i in ids]


def _filed_before(lookup_id: bytes, ids: object) -> Case | None:
    """The case this very report opened already, if it is being sent again because its answer was lost
    on the way (the browser retries until it has one): the receipt's case exists and every upload it
    names was filed (is gone). The lookup id comes from a receipt only that browser knows, and it could
    read the case number with it anyway. Other uploads with a used receipt are refused (receipt_in_use)."""
    case = intake.find_case(db.session(), lookup_id)
    if case is None or not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return None
    session = db.session()
    return case if all(session.get(Upload, i[:32]) is None for i in ids) else None


@bp.post("/<slug>/reports")
def submit_report(slug: str):
    desk = _desk(slug)
    if request.mimetype == "application/octet-stream":
        return _submit_whole(desk)
    data = _json()
    category, lookup_id, reply_public = _report_fields(desk, data)
    if (filed := _filed_before(lookup_id, data.get("parts"))) is not None:
        return jsonify(case_number=filed.number), 200
    spent = _work_done(desk, data.get("pow"))  # past the report budget, at the top level
    uploads = _parts(desk, data.get("parts"))
    return _file_report(desk, category, lookup_id, reply_public, spent, uploads=uploads)


def _report_fields(desk: DeskPage, data: dict) -> tuple[CategoryView, bytes, bytes]:
    category = next((c for c in desk.categories if str(c.id) == str(data.get("category"))), None)
    if category is None:
        abort(400, description="choose_category")
    return category, _b64(data.get("lookup_id"), 32), _b64(data.get("reply_public"), 32)


def _file_report(
    desk: DeskPage, category: CategoryView, lookup_id: bytes, reply_public: bytes, spent: bytes,
    uploads: Sequence[Upload] = (), small: Sequence[bytes] = (),
):  # fmt: skip
    """Check and file a browser-sealed report: its envelopes are finished `uploads`, or `small` ones
    that came whole in the request (each at most intake.INLINE_MAX_BYTES: kept in their rows, filed in
    one transaction, no upload and no file). One way for both: the same checks, the same case."""
    session, store = db.session(), current_app.extensions["sealdrop.blobs"]
    manager = current_app.extensions["sealdrop.uploads"]
    target = category.target_desk
    try:
        keys = category.sealing_keys()
        if intake.find_case(session, lookup_id) is not None:
            raise intake.IntakeError("receipt_in_use")
        manager.put_back_moved(session, store, uploads)  # a crash cut off this report's first filing
        for upload in uploads:  # refuse before opening a case: open_case may roll the session back
            manager.check(upload, keys)
        for envelope in small:
            intake.check_sealed_to(io.BytesIO(envelope), keys)
        if small:  # uploads were admitted against the store's budget when they began
            manager.check_room(session, target, sum(len(e) for e in small))
        case = intake.open_case(session, target, lookup_id, reply_public)
        if not intake.claim_form(session, spent, case):  # this solution filed another report already
            raise intake.IntakeError("pow_reused")
        if small:
            envelopes = [intake.SmallEnvelope(secrets.token_hex(16), e) for e in small]
            intake.file_submission(session, store, case, target, envelopes, "browser")
        else:
            with manager.finishing(session, store, uploads, keys) as blob_ids:
                intake.file_submission(session, store, case, target, blob_ids, "browser")
    except intake.IntakeError as e:
        session.rollback()
        return _fail(e)
    current_app.extensions["sealdrop.budgets"].spend("reports", desk.slug)
    return jsonify(case_number=case.number), 201


def _submit_whole(desk: DeskPage):
    """A report small enough to travel in one request (its envelopes fit in one upload piece): one round
    trip instead of an upload per envelope and then the report, which on a Tor circuit (1.5 s a round
    trip) is most of the wait. The body: a 4-byte big-endian length, the JSON of a report call with
    "sizes" for "parts", then the envelopes one after the other. They pass through uploads of their
    own, so everything after is the same as for a report sent in pieces."""
    cfg = current_app.config["SEALDROP"]
    request.max_content_length = cfg.max_upload_piece + WHOLE_META_LIMIT
    length, body = request.content_length, request.stream
    if length is None:
        abort(411, description="bad_request")
    meta_length = int.from_bytes(body.read(4), "big")
    if not 0 < meta_length <= WHOLE_META_LIMIT or meta_length + 4 > length:
        abort(400, description="bad_request")
    try:
        data = parsing.json_object(body.read(meta_length), WHOLE_META_LIMIT)
    except parsing.BadInput:  # not JSON, not UTF-8, nested too deep, not an object
        abort(400, description="bad_request")
    sizes = data.get("sizes")
    if not isinstance(sizes, list) or not 1 <= len(sizes) <= cfg.max_attachments + 1:
        abort(400, description="bad_request")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        abort(400, description="bad_request")
    if sum(sizes) != length - 4 - meta_length:
        abort(400, description="bad_request")
    category, lookup_id, reply_public = _report_fields(desk, data)
    session = db.session()
    if (filed := intake.find_case(session, lookup_id)) is not None:  # sent again: its answer was lost
        return jsonify(case_number=filed.number), 200
    spent = _work_done(desk, data.get("pow"))  # before anything is stored; past the budget, the top level
    if all(n <= intake.INLINE_MAX_BYTES for n in sizes):  # a text report: straight into its rows
        small = [body.read(n) for n in sizes]
        if any(len(e) != n for e, n in zip(small, sizes, strict=True)):
            abort(400, description="bad_request")  # the body ended early
        return _file_report(desk, category, lookup_id, reply_public, spent, small=small)
    manager = current_app.extensions["sealdrop.uploads"]
    uploads: list[Upload] = []
    try:
        for size in sizes:
            uploads.append(manager.start(session, desk, size))
            manager.append(session, uploads[-1], 0, body, size)
    except intake.IntakeError as e:
        _drop(uploads)
        return _fail(e)
    except OSError:  # a full disk: give its space back now, not at the sweep; errors.py answers 503
        _drop(uploads)
        raise
    answer = _file_report(desk, category, lookup_id, reply_public, spent, uploads=uploads)
    if answer[1] != 201:
        _drop(uploads)  # nobody will come back for these: the browser sends the whole report again
    return answer


def _drop(uploads: list[Upload]) -> None:
    session, manager = db.session(), current_app.extensions["sealdrop.uploads"]
    session.rollback()
    for upload in uploads:
        manager.discard(upload.id)
        if (row := session.get(Upload, upload.id)) is not None:
            session.delete(row)
    session.commit()


@bp.post("/<slug>/additions")
def submit_addition(slug: str):
    desk = _desk(slug)
    data = _json()
    session, store = db.session(), current_app.extensions["sealdrop.blobs"]
    case = intake.find_case(session, _b64(data.get("lookup_id"), 32))
    if case is None:
        abort(404, description="receipt_unknown")
    added = _addition_token(data.get("parts"))
    filed = intake.filed_case(session, added)
    if filed is not None and filed.id == case.id:  # asked again: the first answer was lost on the way
        return jsonify(case_number=case.number), 200
    uploads = _parts(desk, data.get("parts"))
    manager = current_app.extensions["sealdrop.uploads"]
    try:
        keys = intake.case_recipients(session, store, case)
        if not intake.claim_form(session, added, case):  # a twin request filed it a moment ago
            return jsonify(case_number=case.number), 200
        with manager.finishing(session, store, uploads, keys) as blob_ids:
            intake.file_submission(session, store, case, case.desk, blob_ids, "browser")
    except intake.IntakeError as e:
        session.rollback()
        return _fail(e)
    return jsonify(case_number=case.number), 201


def _addition_token(ids: object) -> bytes:
    """What is kept of an addition's upload ids once it is filed, so that the same call made again
    (its answer was lost, the browser retries until it has one) is answered without filing twice.
    The ids are random, chosen by that browser, and gone from the server once filed."""
    names = ids if isinstance(ids, list) and all(isinstance(i, str) for i in ids) else []
    return once_hash("addition", "\n".join(names))


@bp.post("/<slug>/case")
def case_state(slug: str):
    if (busy := _signin_refused(_desk(slug))) is not None:
        return busy
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
