"""One error shape: an HTML page in the reporter's language, or JSON for the API. Never a traceback,
never the request's content in a log. And what a refused bundle's reason means, for the desk's reply
page and `sealdrop import-replies` alike (bundle_refusal)."""

from __future__ import annotations

import errno
import logging

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from crypto.bundle import BundleError

log = logging.getLogger("sealdrop")
# The disk (or the service user's quota, or its file size limit) is full, under the blob store or under
# the database: nothing was kept, since the blob store writes a temporary file and renames it only once
# it is whole (dropbox.blobs), intake rolls back what it began, and the database refuses the whole
# transaction. The reporter can send again later, so this is a 503, not a crash.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
SQLITE_FULL = 13  # sqlite3's "database or disk is full"
POSTGRES_DISK_FULL = "53100"
RETRY_AFTER_FULL_S = 300


def N_(message: str) -> str:
    """gettext's name for "extract this message id, translate it later" (pybabel's default keyword)."""
    return message


# A refused bundle's reason in words (BundleError.reason, the codes the audit log keeps): the one copy,
# read by `sealdrop import-replies` and by the desk's reply page (desk/views.py, desk/replies.html) alike.
# Message ids: the caller translates them with its own gettext (dropbox.console's `_` on the command line,
# Flask-Babel's on a page).
BUNDLE_REFUSALS = {
    "not_a_bundle": N_("This file is not a sealdrop bundle. Choose the reply bundle the viewer wrote."),
    "bad_signature": N_(
        "This reply bundle is not signed by a confirmed officer of the desk, or its signature does not "
        "match. It may have been changed."
    ),
    "wrong_kind": N_("This is not a reply bundle (perhaps an export bundle?)."),
    "tampered": N_("This bundle was changed after the officer signed it."),
    "truncated": N_(
        "This bundle is incomplete: it was cut short, perhaps copied before the USB stick had finished."
    ),
    "replayed": N_("This reply bundle was already imported."),
    "withheld": N_(
        "An earlier reply bundle from this officer has not been imported yet. Import the bundles in order."
    ),
    "forked": N_(
        "This reply bundle does not follow the last one imported from this officer, or it confirms an "
        "export bundle this desk did not make."
    ),
    "wrong_desk": N_("This reply bundle is for another desk, or answers a case this desk does not have."),
    "key_statement": N_(
        "A key statement in this reply bundle was refused (signed by no officer of this desk, already "
        "applied, or altered). Nothing was imported."
    ),
}
# A bundle of another kind names where it goes instead (dropbox.bundles.WrongKind.kind).
WRONG_KIND = {
    "export": N_(
        "This is an export bundle: it goes to the officer's offline viewer (sealview import), not here."
    ),
    "state": N_(
        "This is a viewer state bundle: it goes to a colleague's offline viewer (sealview state import), "
        "not here."
    ),
}


def bundle_refusal(e: BundleError) -> str:
    """The message id that says why bundle `e` was refused; translate it with the caller's gettext."""
    kind = getattr(e, "kind", None)
    if e.reason == "wrong_kind" and kind in WRONG_KIND:
        return WRONG_KIND[kind]
    return BUNDLE_REFUSALS.get(e.reason, N_("This reply bundle was refused."))


def bundle_refusal_detail(e: BundleError) -> str | None:
    """The bundle reader's own message (English, technical: which case, which item), shown after the
    words like the reply page's "Details:"; None where the words already say all of it."""
    if e.reason == "not_a_bundle" or (e.reason == "wrong_kind" and getattr(e, "kind", None) in WRONG_KIND):
        return None
    return str(e)


def storage_full(e: BaseException | None) -> bool:
    """Whether `e`, or what it wraps (SQLAlchemy's driver error, a cause), says the storage is full."""
    seen = 0
    while e is not None and seen < 8:  # a chain is short; the bound only guards against a cycle
        if isinstance(e, OSError) and e.errno in STORAGE_FULL:
            return True
        driver = getattr(e, "orig", None)
        if getattr(driver, "sqlite_errorcode", None) == SQLITE_FULL:
            return True
        if getattr(driver, "sqlstate", None) == POSTGRES_DISK_FULL:
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, code: str):
    if _wants_json():
        return jsonify(error=code), status
    if "desk" in current_app.blueprints and (request.path == "/desk" or request.path.startswith("/desk/")):
        return render_template("desk/error.html", status=status, code=code), status
    return render_template("error.html", status=status, code=code), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        code = e.description if isinstance(e.description, str) and e.description.isidentifier() else e.name
        return _render(e.code or 500, code)

    @app.errorhandler(Exception)
    def _crash(e: Exception):
        if storage_full(e):
            return _full()
        # The type and the endpoint only: a message or traceback could quote report content.
        log.error("internal error %s in %s", type(e).__name__, request.endpoint)
        return _render(500, InternalServerError.name)

    app.log_exception = lambda exc_info: None  # handled above, without request details


def _full():
    log.error("storage full in %s", request.endpoint)  # the endpoint only, as for a crash
    response = current_app.make_response(_render(503, "try_again"))
    response.headers["Retry-After"] = str(RETRY_AFTER_FULL_S)
    return response
