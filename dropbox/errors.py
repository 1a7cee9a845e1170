"""One error shape: an HTML page in the reporter's language, or JSON for the API. Never a traceback,
never the request's content in a log."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("sealdrop")


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
        # The type and the endpoint only: a message or traceback could quote report content.
        log.error("internal error %s in %s", type(e).__name__, request.endpoint)
        return _render(500, InternalServerError.name)

    app.log_exception = lambda exc_info: None  # handled above, without request details
