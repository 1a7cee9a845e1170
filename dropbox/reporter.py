"""The reporter's pages, under /r/<desk>: the QR target. Every page works with JavaScript off.

GET  /r/<desk>            the report form (five numbered steps)
POST /r/<desk>            no-JS submission: parsed in memory, scrubbed, sealed, stored
POST /r/<desk>/receipt    no-JS: the receipt as a small text file (an attachment, never in a URL)
POST /r/<desk>/done       no-JS: Finish, once the last group of the receipt was typed back
GET  /r/<desk>/done       after the receipt was kept (the JS path checks the typed group in the page)
GET  /r/<desk>/check      sign back in with the receipt
POST /r/<desk>/check      no-JS: the case, its status and replies, opened in memory
POST /r/<desk>/add        no-JS: add text or photos to the case; the page shows status and replies again
GET  /blank               the quick exit: an empty page of our own that says nothing

One report per intent: the form's CSRF token is also its single-use submission token. The POST answer is
the receipt page itself (no-store, and it is shown once: the server does not keep the receipt); posting
the same form again (a reload, a double tap, back and resend) finds the keyed hash of its token and
shows "already received" with the case number instead of filing again.
"""

from __future__ import annotations

import hmac
import json

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import select

import crypto
from crypto import Receipt, ReceiptError

from . import db, i18n, intake, maps, pagecache, parsing
from . import pow as proof_of_work
from .forms import FORM_FIELDS, MAX_WHAT, ReportForm, parse_report
from .models import Case, Desk
from .security import (
    csrf_token,
    csrf_valid,
    once_hash,
    open_from_page,
    require_csrf,
    same_site_request,
    seal_for_page,
)

bp = Blueprint("report", __name__)
# Look-alikes a reporter may type for a receipt symbol (the commonest of those crypto.receipt forgives).
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "О": "0", "З": "3"})


@bp.app_context_processor
def _quick_exit() -> dict:
    """Every reporter page links to the quick exit; pages of an app without this blueprint do not."""
    return {"quick_exit_url": url_for("report.blank")}


@bp.get("/blank")
def blank():
    return render_template("blank.html")


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


def _page(slug: str) -> pagecache.DeskPage:
    """The desk as the report page shows it, from this process's cache (dropbox/pagecache.py)."""
    if len(slug) > 40:
        abort(404, description="unknown_desk")
    page = pagecache.for_app(current_app).get(db.session(), slug)
    if page is None:
        abort(404, description="unknown_desk")
    g.desk_language = page.default_language
    return page


def _form_page(desk: Desk | pagecache.DeskPage, status: int = 200, form=None, template: str = "report.html",
               tokens: dict | None = None, **shown):  # fmt: skip
    """The report form (or a page built on it). `tokens`: what to show for the form tokens and the first
    proof of work (pagecache.MARKERS when the page is rendered once for many requests)."""
    lang = _lang()
    if not isinstance(desk, pagecache.DeskPage):  # names, categories, places and keys from the cache
        desk = _page(desk.slug)
    tokens = tokens or {"csrf": csrf_token(f"report:{desk.slug}"), "api_csrf": csrf_token(f"api:{desk.slug}"),
                        "challenge": _challenge(desk)}  # fmt: skip
    page = render_template(
        template,
        **shown,
        desk=desk,
        lang=lang,
        form=form,
        values=(form.values if form else {}),
        errors=(form.errors if form else {}),
        **tokens,
        piece_size=current_app.config["SEALDROP"].max_upload_piece,  # upload.mjs sends pieces this size
        keys_json=json.dumps(desk.keys()),
        max_files=current_app.config["SEALDROP"].max_attachments,
        categories_json={str(c.id): {"slug": c.slug, "name": c.name("en")} for c in desk.categories},
        # What the browser needs to write the same report document as the no-JS path (docs/report.md)
        targets={str(c.id): c.target_slug for c in desk.categories},
        places={str(p.id): {"lat": p.lat, "lon": p.lon} for p in desk.places},
        map_view=maps.page_view(desk, form.values if form else {}),  # the desk's map sheets (docs/maps.md)
    )
    return page, status


def _challenge(desk: Desk | pagecache.DeskPage) -> dict:
    """The first proof of work of the JS path, in the page itself (pow.mjs starts on it at once)."""
    cfg, budgets = current_app.config["SEALDROP"], _budgets()
    return proof_of_work.offer(cfg, desk.slug, budgets.pow_work_for(desk.slug))


@bp.get("/r/<slug>")
def form(slug: str):
    desk = _page(slug)
    if not desk.open_for_reports:  # a desk being set up says so, not a form nobody could read
        return render_template("not_open.html", desk=desk, lang=_lang()), 503
    # Rendered once per cache entry and language (most of a page's cost: 200 translated strings), then
    # this request's own tokens and proof of work put in (dropbox/pagecache.py).
    rendered = pagecache.for_app(current_app).html(desk, _lang(), lambda m: _form_page(desk, tokens=m)[0])
    csrf, api_csrf = csrf_token(f"report:{desk.slug}"), csrf_token(f"api:{desk.slug}")
    challenge = htmlsafe_json_dumps(_challenge(desk), dumps=current_app.json.dumps)  # as |tojson writes it
    page = pagecache.fill(rendered, csrf, api_csrf, challenge)
    return page if page is not None else _form_page(desk)


@bp.post("/r/<slug>")
def submit(slug: str):
    # The desk, its categories and their keys from this process's cache, checked against the database's
    # config_version in this request: as fresh as reading them, one statement (dropbox/pagecache.py).
    desk = _page(slug)
    _require_form()
    token = request.form.get("csrf_token", "")[:100]
    if not same_site_request():
        abort(400, description="csrf")
    once = once_hash(f"report:{desk.slug}", token)
    session = db.session()
    if (filed := intake.filed_case(session, once)) is not None:
        return _already_received(desk, filed)  # before the expiry check: a late reload must not refile
    require_csrf(f"report:{desk.slug}", token)
    # The no-JS path's own budget (no proof of work there), taken as it is checked: posts sent at once
    # cannot all pass the last place. A post that files nothing (an error in the form) counts too.
    if wait := _budgets().take("forms", desk.slug):
        return _busy_form(desk, wait)
    cfg = current_app.config["SEALDROP"]
    parsed = parse_report(desk, request.form, request.files.getlist("files"), _lang(), cfg.max_attachments)
    if parsed.errors.get("files") == "busy":  # no turn to decode a picture (scrub.DecodeGate): send again
        page, status = _form_page(desk, 503, parsed)  # filled in again with what was typed
        return page, status, {"Retry-After": str(intake.BUSY_RETRY_AFTER_S)}
    if parsed.errors:
        return _form_page(desk, 400, parsed)
    try:
        keys = parsed.category.sealing_keys()
    except intake.IntakeError as e:
        abort(503, description=e.code)
    store = current_app.extensions["sealdrop.blobs"]
    receipt = intake.server_receipt()
    target = parsed.category.target_desk
    doc = intake.report_document(
        "report", target, parsed.category, parsed.fields, parsed.files, receipt.reply_recipient.public_bytes
    )
    if not _has_room(session, target, [doc, *parsed.files]):
        return _busy_form(desk, intake.STORE_FULL_RETRY_AFTER_S)
    try:  # sealed before any row is written: other reporters' writes do not wait on the sealing
        case, new = intake.seal_then_file(session, store, target, keys, [doc, *parsed.files], receipt, once)
    except intake.IntakeError as e:
        abort(503, description=e.code)
    if not new:  # the same form, posted twice at once: the other request filed it
        return _already_received(desk, case)
    current_app.extensions["sealdrop.uploads"].sweep_if_due(session, store, intake.upload_max_age_s(cfg))
    return _receipt_page(desk, receipt.grouped(), case.number)


@bp.post("/r/<slug>/map")
def map_tap(slug: str):
    """No-JS: a tap on the map sheet, or "choose again": the same form back with everything typed kept
    and the point marked (nothing is filed). Files cannot come back in a file field: the page says so."""
    desk = _desk(slug)
    _require_form()
    require_csrf(f"report:{desk.slug}", request.form.get("csrf_token", "")[:100])
    typed = ReportForm(values={name: request.form.get(name, "")[:MAX_WHAT] for name in FORM_FIELDS})
    maps.after_tap(desk, request.form, typed.values)
    # The map's buttons post url-encoded (formenctype): a chosen file travels as its name only, not its bytes.
    had_files = any(request.form.getlist("files")) or any(f.filename for f in request.files.getlist("files"))
    lang_base = url_for("report.form", slug=desk.slug)  # a language link must reach a page a GET can
    return _form_page(desk, 200, typed, map_had_files=had_files, lang_base=lang_base)


@bp.get("/r/<slug>/map/<int:sheet_id>-<digest>.png")
def map_image(slug: str, sheet_id: int, digest: str):
    """A map sheet's picture; its hash is in the address, so browsers keep it for a year."""
    return maps.image_response(_desk(slug), sheet_id, digest)


def _has_room(session, desk: Desk, plaintexts: list) -> bool:
    """Whether the desk's store takes this much more ciphertext (Config.max_stored_bytes*)."""
    uploads = current_app.extensions["sealdrop.uploads"]
    try:
        uploads.check_room(session, desk, intake.plaintext_bytes(plaintexts))
    except intake.IntakeError:
        return False
    return True


def _budgets():
    return current_app.extensions["sealdrop.budgets"]


def _busy_form(desk: Desk, wait_s: int):
    """Past the report budget (dropbox/budget.py): nothing is stored, and the form comes back filled in
    with what was typed, saying why and when to send again. Files cannot be put back in a file field."""
    typed = ReportForm(values={name: request.form.get(name, "")[:MAX_WHAT] for name in FORM_FIELDS})
    had_files = any(f.filename for f in request.files.getlist("files"))
    return _form_page(
        desk, 429, typed, "busy.html", refused_page="report.html", busy_kind="reports",
        busy_wait=i18n.wait_words(wait_s), busy_had_files=had_files,
    )  # fmt: skip


def _already_received(desk: Desk | pagecache.DeskPage, case: Case | intake.FiledCase | None):
    if case is None:  # filed a moment ago and swept at once: cannot happen within a form's lifetime
        abort(400, description="csrf")
    return render_template(
        "already.html", desk=desk, lang=_lang(), case_number=case.number,
        lang_base=url_for("report.form", slug=desk.slug),
    )  # fmt: skip


def _receipt_page(desk: Desk | pagecache.DeskPage, receipt: str, case_number: str,
                  error: str | None = None, status: int = 200):  # fmt: skip
    """The receipt, shown once. Its two forms (save as a file, Finish) carry the receipt back sealed
    under the server's own key, never in a URL, so the page can offer it again without storing it."""
    sealed = seal_for_page(f"receipt:{desk.slug}", f"{receipt}|{case_number}".encode())
    values = {"receipt": receipt, "case_number": case_number,
              "receipt_csrf": csrf_token(f"receipt:{desk.slug}"), "receipt_sealed": sealed}  # fmt: skip
    if error is None:  # rendered once per desk and language, this request's values put in (pagecache.py)
        page = desk if isinstance(desk, pagecache.DeskPage) else _page(desk.slug)  # checked once a request
        markers = pagecache.RECEIPT_MARKERS
        once = pagecache.for_app(current_app).html(
            page, _lang(), lambda m: _render_receipt(page, m), markers, kind="receipt"
        )
        if (filled := pagecache.fill_plain(once, values, markers)) is not None:
            return filled, status
    return _render_receipt(desk, values, error), status


def _render_receipt(desk: Desk | pagecache.DeskPage, values: dict[str, str], error: str | None = None) -> str:
    return render_template("receipt.html", desk=desk, lang=_lang(), error=error, **values)


def _carried_receipt(desk: Desk) -> tuple[str, str]:
    """The receipt and case number a receipt page's form carried back; 400 if not ours or too old.
    A page left open past the tokens' 4 hours is told that the report was received and the code cannot
    be shown again: the generic "send it again" would make a reporter file the report twice."""
    if not same_site_request():
        abort(400, description="csrf")
    opened = open_from_page(f"receipt:{desk.slug}", request.form.get("receipt_sealed"))
    if opened is None or not csrf_valid(request.form.get("csrf_token"), f"receipt:{desk.slug}"):
        abort(400, description="receipt_page_expired")
    receipt, _, case_number = opened.decode().partition("|")
    return receipt, case_number


@bp.post("/r/<slug>/receipt")
def save_receipt(slug: str):
    """The receipt as a small text file to keep: an attachment, no-store, the code only in the body."""
    desk = _desk(slug)
    _require_form()
    receipt, case_number = _carried_receipt(desk)
    text = render_template(
        "receipt.txt", desk=desk, lang=_lang(), receipt=receipt, case_number=case_number,
        check_url=url_for("report.check_form", slug=desk.slug, lang=_lang(), _external=True),
    )  # fmt: skip
    response = Response(text.replace("\n", "\r\n"), mimetype="text/plain")
    response.headers["Content-Disposition"] = 'attachment; filename="receipt.txt"'
    return response


def last_group_matches(receipt: str, typed: str) -> bool:
    """Did the reporter type back the last group of the receipt? Forgiving about case, spaces, dashes
    and look-alike letters; compared in constant time."""
    wanted = receipt.rsplit("-", 1)[-1].encode()
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -–—_.").translate(_LOOKALIKES)
    return hmac.compare_digest(wanted, cleaned[:8].encode("utf-8", "replace"))


@bp.post("/r/<slug>/done")
def finish(slug: str):
    desk = _desk(slug)
    _require_form()
    receipt, case_number = _carried_receipt(desk)
    if not last_group_matches(receipt, request.form.get("last_group", "")[:40]):
        return _receipt_page(desk, receipt, case_number, error="last_group", status=400)
    return redirect(url_for("report.done", slug=desk.slug, lang=_lang()), code=303)


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
        piece_size=current_app.config["SEALDROP"].max_upload_piece,  # upload.mjs sends pieces this size
        error=None,
    )


def _case_token(case: Case) -> str:
    """A signed, expiring handle for the add-information form: lets the page post to the case
    without the receipt travelling again and without a cookie."""
    return csrf_token(f"case:{case.id}") + "." + str(case.id)


def _case_from_token(token: str) -> Case | None:
    token_part, _, raw_id = token.rpartition(".")
    case_id = parsing.whole_number(raw_id, 1, parsing.MAX_ID)
    if case_id is None:
        return None
    require_csrf(f"case:{case_id}", token_part)
    return db.session().get(Case, case_id)


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
    if wait := _budgets().take("signins", desk.slug):  # every try costs the server a key derivation
        return _busy_check(desk, wait)
    try:
        receipt = Receipt(request.form.get("receipt", "")[:100])
    except ReceiptError as e:
        return _check_error(desk, "receipt_typo" if "typo" in str(e) else "receipt_format")
    case = intake.find_case(db.session(), receipt.lookup_id)
    if case is None:
        return _check_error(desk, "receipt_unknown")
    return _case_page(desk, case, receipt)


def _case_page(desk: Desk, case: Case, receipt: Receipt | None, **shown):
    """The no-JS case page: status and replies, opened in memory with the receipt, and the add form.
    The add form carries the receipt back sealed under the server's own key (expiring, bound to the
    case), so the page shown after an addition can open the replies again without the reporter
    typing the code a second time and without the server keeping it."""
    shown = {"added": False, **shown}
    replies = _open_replies(case, receipt) if receipt is not None else None
    status = None
    if replies is not None:
        status = next((r.get("status") for r in reversed(replies) if r.get("status")), "received")
    access = seal_for_page(f"case:{case.id}", receipt.code.encode()) if receipt is not None else ""
    return render_template(
        "case.html", desk=desk, lang=_lang(), case=case, case_token=_case_token(case), reply_access=access,
        replies=replies, status=status, **shown,
    )  # fmt: skip


def _carried_case_receipt(case: Case) -> Receipt | None:
    """The receipt the case page's add form carried back, if it is ours, fresh, and this case's."""
    opened = open_from_page(f"case:{case.id}", request.form.get("reply_access"))
    if opened is None:
        return None
    try:
        receipt = Receipt(opened.decode("ascii"))
    except (ReceiptError, UnicodeDecodeError):
        return None
    return receipt if hmac.compare_digest(receipt.lookup_id, case.lookup_id) else None


def _busy_check(desk: Desk, wait_s: int):
    """Past the sign-in budget: the sign-in form again, saying when to try again."""
    return render_template(
        "busy.html", refused_page="check.html", busy_kind="signins", busy_wait=i18n.wait_words(wait_s),
        desk=desk, lang=_lang(), csrf=csrf_token(f"check:{desk.slug}"),
        api_csrf=csrf_token(f"api:{desk.slug}"), piece_size=current_app.config["SEALDROP"].max_upload_piece,
        error=None,
    ), 429  # fmt: skip


def _check_error(desk: Desk, code: str):
    # Same page, same timing path for a typo and an unknown receipt would be nicer; the check digits
    # already make "unknown" mean "not ours", which tells an attacker nothing about other cases.
    return render_template(
        "check.html",
        desk=desk,
        lang=_lang(),
        csrf=csrf_token(f"check:{desk.slug}"),
        api_csrf=csrf_token(f"api:{desk.slug}"),
        piece_size=current_app.config["SEALDROP"].max_upload_piece,  # upload.mjs sends pieces this size
        error=code,
    ), 400


@bp.post("/r/<slug>/add")
def add(slug: str):
    desk = _desk(slug)
    _require_form()
    token = request.form.get("case_token", "")[:200]
    case = _case_from_token(token)
    if case is None:
        abort(404, description="unknown_case")
    session, once = db.session(), once_hash("add", token)
    if intake.filed_case(session, once) is not None:  # this very form was added already: a reload
        return _case_page(desk, case, _carried_case_receipt(case), added=True)
    cfg = current_app.config["SEALDROP"]
    parsed = parse_report(
        desk, request.form, request.files.getlist("files"), _lang(), cfg.max_attachments, addition=True
    )
    receipt = _carried_case_receipt(case)
    if parsed.errors:
        status = 503 if parsed.errors.get("files") == "busy" else 400  # busy: no turn to decode a picture
        page = _case_page(desk, case, receipt, errors=parsed.errors, values=parsed.values)
        return page, status, ({"Retry-After": str(intake.BUSY_RETRY_AFTER_S)} if status == 503 else {})
    store = current_app.extensions["sealdrop.blobs"]
    try:
        keys = intake.case_recipients(db.session(), store, case)
    except intake.IntakeError as e:
        abort(503, description=e.code)
    doc = intake.report_document("addition", case.desk, None, parsed.fields, parsed.files, None, case.number)
    if not _has_room(session, case.desk, [doc, *parsed.files]):  # nothing stored: send it again later
        page = _case_page(desk, case, receipt, errors={"files": "busy"}, values=parsed.values)
        return page, 503, {"Retry-After": str(intake.STORE_FULL_RETRY_AFTER_S)}
    if intake.claim_form(session, once, case):  # else the same form, posted twice at once, was filed
        intake.seal_and_file(session, store, case, case.desk, keys, [doc, *parsed.files])
    return _case_page(desk, case, receipt, added=True)
