"""One error shape: an HTML page in the reporter's language, or JSON for the API. Never a traceback,
never the request's content in a log."""

from __future__ import annotations

import errno
import logging

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("sealdrop")
# The disk (or the service user's quota, or its file size limit) is full, under the blob store or under
# the database: nothing was kept, since the blob store writes a temporary file and renames it only once
# it is whole (dropbox.blobs), intake rolls back what it began, and the database refuses the whole
# transaction. The reporter can send again later, so this is a 503, not a crash.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
SQLITE_FULL = 13  # sqlite3's "database or disk is full"
POSTGRES_DISK_FULL = "53100"
RETRY_AFTER_FULL_S = 300


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
