"""The loopback UI: a Flask app over one unlocked vault, for one officer, on 127.0.0.1 only.

Nothing answers without the secret token that `sealview open` prints: the first visit carries it in the
URL (`/?token=...`), gets it back as an HttpOnly, SameSite=Strict cookie and is redirected to the same
page without it. The Host header must be the address we listen on (no DNS rebinding), and a POST must
come from our own pages (Sec-Fetch-Site, Origin, and a form token). Every response has a strict CSP
with no script at all: the UI is plain HTML forms and links, so it works the same without JavaScript.
Untrusted text only ever reaches a page through Jinja's autoescaping.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from urllib.parse import urlencode

from flask import Flask, Request, Response, abort, g, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from .. import i18n
from ..errors import NotFound, ViewerError
from ..i18n import N_, _
from ..vault import Vault

COOKIE = "sealview"
CSP = "; ".join(
    [
        "default-src 'none'",
        "img-src 'self'",
        "media-src 'self'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
log = logging.getLogger("sealview")


class _SmallRequest(Request):
    """Forms here are text (notes, replies, a public key): small, and kept in memory."""

    max_content_length = 256 * 1024
    max_form_memory_size = 256 * 1024
    max_form_parts = 50


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_app(vault: Vault, token: str, hosts: set[str] | None = None, language: str = "en") -> Flask:
    """The UI for `vault`. `hosts`: the Host header values to answer (None: any, for the test client)."""
    app = Flask(
        __name__.rsplit(".", 1)[0],
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    app.request_class = _SmallRequest
    app.config.update(
        SEALVIEW_HOSTS=hosts, SESSION_COOKIE_NAME="sealview-unused", TEMPLATES_AUTO_RELOAD=False
    )
    app.extensions["sealview.vault"] = vault
    app.extensions["sealview.token"] = token
    csrf = hmac.new(token.encode(), b"sealview-form", hashlib.sha256).hexdigest()

    @app.before_request
    def _guard():
        allowed = app.config["SEALVIEW_HOSTS"]
        if allowed is not None and request.host not in allowed:
            return _plain(_("This is sealview: open the address it printed."), 403)
        offered = request.args.get("token")
        if offered is not None:
            if not hmac.compare_digest(offered.encode(), token.encode()):
                return _plain(_("This is sealview: open the address it printed."), 403)
            rest = {k: v for k, v in request.args.items(multi=False) if k != "token"}
            response = redirect(request.path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response
        if not hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), token.encode()):
            return _plain(_("This is sealview: open the address it printed in the terminal."), 403)
        if request.method == "POST":
            # With Referrer-Policy: no-referrer a browser sends "Origin: null" even for our own forms.
            site = request.headers.get("Sec-Fetch-Site")
            origin = request.headers.get("Origin")
            if site not in (None, "same-origin", "none") or origin not in (
                None,
                "null",
                f"{request.scheme}://{request.host}",
            ):
                return _plain(_("Refused: this form was not sent from sealview's own pages."), 403)
            if not hmac.compare_digest(request.form.get("csrf", "").encode(), csrf.encode()):
                return _plain(_("Refused: the form is stale; reload the page and try again."), 403)
        g.csrf = csrf

    @app.after_request
    def _headers(response: Response) -> Response:
        for k, v in HEADERS.items():
            if k == "Content-Security-Policy":
                response.headers.setdefault(k, v)  # file responses bring a stricter one (sandbox)
            else:
                response.headers[k] = v
        return response

    @app.errorhandler(NotFound)
    def _not_found(e):
        return render_template("error.html", title=_("Not found"), message=str(e)), 404

    @app.errorhandler(ViewerError)
    def _refused(e):  # a sentence for the officer: what was refused, or why it could not be done
        return render_template("error.html", title=_("Not done"), message=str(e)), 400

    @app.errorhandler(HTTPException)
    def _http(e):
        title, message = _http_text(e)
        return render_template("error.html", title=title, message=message), e.code

    @app.errorhandler(Exception)
    def _internal(e):  # no traceback on the page, no report content in the log
        log.error("internal error: %s", type(e).__name__)
        return render_template(
            "error.html", title=_("Internal error"), message=_("sealview could not show this page.")
        ), 500

    from . import actions, files, keys, pages, templating

    i18n.init_app(app, language)
    templating.init(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(keys.bp)
    return app


# Werkzeug's own words for the errors the UI can meet, in the officer's language.
_HTTP = {
    400: (N_("Bad request"), N_("sealview could not understand this request.")),
    403: (N_("Forbidden"), N_("This is not allowed here.")),
    404: (N_("Not found"), N_("There is nothing at this address.")),
    405: (N_("Not allowed"), N_("This address does not take this kind of request.")),
    413: (N_("Too large"), N_("What was sent is larger than sealview accepts.")),
    416: (N_("Not available"), N_("This part of the file does not exist.")),
}


def _http_text(e: HTTPException) -> tuple[str, str]:
    """(title, sentence): ours when werkzeug would say its generic English, else the message given."""
    title, generic = _HTTP.get(e.code or 0, (None, None))
    description = e.description or ""
    if generic and (not description or description == type(e).description):
        description = generic
    return (_(title) if title else e.name), i18n.translated(description)


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


def vault() -> Vault:
    from flask import current_app

    return current_app.extensions["sealview.vault"]


def need(condition: bool, message: str = "") -> None:
    if not condition:
        abort(400, description=message)
