"""The reporter's pages, under /r/<desk>: the QR target. Every page works with JavaScript off.

GET  /r/<desk>            the report form (three steps)
POST /r/<desk>            no-JS submission: parsed in memory, scrubbed, sealed, stored
GET  /r/<desk>/done       after the receipt was written down
GET  /r/<desk>/check      sign back in with the receipt
POST /r/<desk>/check      no-JS: the case, its status and replies, opened in memory
POST /r/<desk>/add        no-JS: add text or photos to the case
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_babel import get_locale
from sqlalchemy import select

import crypto
from crypto import Receipt, ReceiptError

from . import db, intake
from .forms import parse_report
from .models import Case, Desk
from .security import csrf_token, require_csrf

bp = Blueprint("report", __name__)


def _desk(slug: str) -> Desk:
    if len(slug) > 40:
        abort(404, description="unknown_desk")
    desk = db.session().scalar(select(Desk).where(Desk.slug == slug))
    if desk is None:
        abort(404, description="unknown_desk")
    g.desk_language = desk.default_language
    return desk


def _require_form() -> None:
    """Werkzeug drops a whole url-encoded body that is not valid UTF-8; say so instead of "expired"."""
    if request.content_length and not request.form and not request.files:
        abort(400, description="bad_encoding")


def _lang() -> str:
    return str(get_locale())


def keys_for_page(desk: Desk) -> dict[str, list[str]]:
    """Category id -> recipient public keys (hex), for the browser to seal to."""
    out = {}
    for c in desk.categories:
        try:
            out[str(c.id)] = [k.public_bytes.hex() for k in intake.recipients(c)]
        except intake.IntakeError:
            continue  # a category with no confirmed officer cannot take reports yet
    return out


def _form_page(desk: Desk, status: int = 200, form=None):
    lang = _lang()
    page = render_template(
        "report.html",
        desk=desk,
        lang=lang,
        form=form,
        values=(form.values if form else {}),
        errors=(form.errors if form else {}),
        csrf=csrf_token(f"report:{desk.slug}"),
        api_csrf=csrf_token(f"api:{desk.slug}"),
        keys_json=json.dumps(keys_for_page(desk)),
        max_files=current_app.config["SEALDROP"].max_attachments,
        categories_json={str(c.id): {"slug": c.slug, "name": c.name("en")} for c in desk.categories},
        # What the browser needs to write the same report document as the no-JS path (docs/report.md)
        targets={str(c.id): c.target_desk.slug for c in desk.categories},
        places={str(p.id): {"lat": p.lat, "lon": p.lon} for p in desk.places},
    )
    return page, status


@bp.get("/r/<slug>")
def form(slug: str):
    return _form_page(_desk(slug))


@bp.post("/r/<slug>")
def submit(slug: str):
    desk = _desk(slug)
    _require_form()
    require_csrf(f"report:{desk.slug}", request.form.get("csrf_token"))
    cfg = current_app.config["SEALDROP"]
    parsed = parse_report(desk, request.form, request.files.getlist("files"), _lang(), cfg.max_attachments)
    if parsed.errors:
        return _form_page(desk, 400, parsed)
    try:
        keys = intake.recipients(parsed.category)
    except intake.IntakeError as e:
        abort(503, description=e.code)
    session, store = db.session(), current_app.extensions["sealdrop.blobs"]
    receipt = intake.server_receipt()
    target = parsed.category.target_desk
    doc = intake.report_document(
        "report", target, parsed.category, parsed.fields, parsed.files, receipt.reply_recipient.public_bytes
    )
    try:  # the case first: if no case number can be had, nothing has been written yet
        case = intake.open_case(session, target, receipt.lookup_id, receipt.reply_recipient.public_bytes)
    except intake.IntakeError as e:
        session.rollback()
        abort(503, description=e.code)
    intake.seal_and_file(session, store, case, target, keys, [doc, *(f.data for f in parsed.files)])
    return render_template(
        "receipt.html", desk=desk, lang=_lang(), receipt=receipt.grouped(), case_number=case.number
    )


@bp.get("/r/<slug>/done")
def done(slug: str):
    return render_template("done.html", desk=_desk(slug), lang=_lang())


@bp.get("/r/<slug>/check")
def check_form(slug: str):
    desk = _desk(slug)
    return render_template(
        "check.html",
        desk=desk,
        lang=_lang(),
        csrf=csrf_token(f"check:{desk.slug}"),
        api_csrf=csrf_token(f"api:{desk.slug}"),
        error=None,
    )


def _case_token(case: Case) -> str:
    """A signed, expiring handle for the add-information form: lets the page post to the case
    without the receipt travelling again and without a cookie."""
    return csrf_token(f"case:{case.id}") + "." + str(case.id)


def _case_from_token(token: str) -> Case | None:
    token_part, _, case_id = token.rpartition(".")
    if not case_id.isdigit() or len(case_id) > 12:
        return None
    require_csrf(f"case:{case_id}", token_part)
    return db.session().get(Case, int(case_id))


def _open_replies(case: Case, receipt: Receipt) -> list[dict]:
    store = current_app.extensions["sealdrop.blobs"]
    replies = []
    for reply in case.replies:
        with store.open(reply.blob_id) as f:
            data = crypto.unseal_bytes(f.read(), [receipt.reply_key])
        replies.append(json.loads(data))
    return replies


@bp.post("/r/<slug>/check")
def check(slug: str):
    desk = _desk(slug)
    _require_form()
    require_csrf(f"check:{desk.slug}", request.form.get("csrf_token"))
    try:
        receipt = Receipt(request.form.get("receipt", "")[:100])
    except ReceiptError as e:
        return _check_error(desk, "receipt_typo" if "typo" in str(e) else "receipt_format")
    case = intake.find_case(db.session(), receipt.lookup_id)
    if case is None:
        return _check_error(desk, "receipt_unknown")
    replies = _open_replies(case, receipt)
    status = next((r.get("status") for r in reversed(replies) if r.get("status")), "received")
    return _case_page(desk, case, replies=replies, status=status)


def _case_page(desk: Desk, case: Case, **shown):
    """The no-JS case page: replies and status right after sign-in; the add form always."""
    shown = {"replies": None, "status": None, "added": False, **shown}
    return render_template(
        "case.html", desk=desk, lang=_lang(), case=case, case_token=_case_token(case), **shown
    )


def _check_error(desk: Desk, code: str):
    # Same page, same timing path for a typo and an unknown receipt would be nicer; the check digits
    # already make "unknown" mean "not ours", which tells an attacker nothing about other cases.
    return render_template(
        "check.html",
        desk=desk,
        lang=_lang(),
        csrf=csrf_token(f"check:{desk.slug}"),
        api_csrf=csrf_token(f"api:{desk.slug}"),
        error=code,
    ), 400


@bp.post("/r/<slug>/add")
def add(slug: str):
    desk = _desk(slug)
    _require_form()
    case = _case_from_token(request.form.get("case_token", "")[:200])
    if case is None:
        abort(404, description="unknown_case")
    cfg = current_app.config["SEALDROP"]
    parsed = parse_report(
        desk, request.form, request.files.getlist("files"), _lang(), cfg.max_attachments, addition=True
    )
    if parsed.errors:
        return _case_page(desk, case, errors=parsed.errors, values=parsed.values), 400
    store = current_app.extensions["sealdrop.blobs"]
    try:
        keys = intake.case_recipients(db.session(), store, case)
    except intake.IntakeError as e:
        abort(503, description=e.code)
    doc = intake.report_document("addition", case.desk, None, parsed.fields, parsed.files, None, case.number)
    intake.seal_and_file(db.session(), store, case, case.desk, keys, [doc, *(f.data for f in parsed.files)])
    return _case_page(desk, case, added=True)
