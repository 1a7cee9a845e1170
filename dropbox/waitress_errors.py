"""waitress's own error responses, made like ours.

waitress answers some requests before the app sees them: a body over `max_request_body_size` (413),
a malformed request line or headers (400, 431), chunked encoding it cannot read (400, 501), and
the app crashing after it started answering (500). Its stock answer is English plain text without
our headers. This error task answers with the same security headers as every page, `no-store`, and
a short page in the reporter's language (the `lang` query parameter, else Accept-Language), or
`{"error": code}` under /api/ where the browser's upload code reads JSON.
"""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from babel.support import NullTranslations, Translations
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from .config import LANGUAGES
from .i18n import choose_language
from .security import NO_STORE_HEADERS, SECURITY_HEADERS

TRANSLATIONS = Path(__file__).parent / "translations"
TITLE = "We could not do that"
MESSAGES = {  # msgids the templates already use (dropbox/templates/_messages.html): translated
    413: "What you sent is too large. Please send fewer or smaller files.",
    500: "Something went wrong on our side. Nothing you sent was kept. Please try again.",
}
MALFORMED = "The request was malformed."
API_CODES = {413: "too_large", 500: "Internal Server Error"}


@cache
def _translations(lang: str) -> NullTranslations:
    return Translations.load(TRANSLATIONS, [lang]) if lang != "en" else NullTranslations()


def _language(query: str, accept_language: str | None) -> str:
    """The reporter pages' rule (dropbox.i18n), read from waitress's raw request."""
    asked = parse_qs(query).get("lang", [""])[0]
    return choose_language(asked, parse_accept_header(accept_language or "", LanguageAccept), LANGUAGES, "en")


def error_page(status: int, lang: str) -> bytes:
    """A short page that works everywhere: no script, no style, no image; escaped text only."""
    gettext = _translations(lang).gettext
    title = html.escape(gettext(TITLE))
    message = html.escape(gettext(MESSAGES.get(status, MALFORMED)))
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n"
        f'<p id="error-message" role="alert">{message}</p></body></html>\n'
    ).encode()


class SealdropErrorTask(ErrorTask):
    """An error waitress produces itself, with our headers and our words instead of its text."""

    def execute(self) -> None:
        request = self.request
        status, reason = request.error.code, request.error.reason
        # A request line waitress could not parse leaves no path or query at all.
        path, query = getattr(request, "path", "") or "", getattr(request, "query", "") or ""
        if path.startswith("/api/"):
            body = json.dumps({"error": API_CODES.get(status, "bad_request")}).encode()
            content_type = "application/json"
        else:
            lang = _language(query, request.headers.get("ACCEPT_LANGUAGE"))
            body = error_page(status, lang)
            content_type = "text/html; charset=utf-8"
        self.status = f"{status} {reason}"
        self.response_headers.append(("Content-Type", content_type))
        self.response_headers.extend({**SECURITY_HEADERS, **NO_STORE_HEADERS}.items())
        self.set_close_on_finish()  # the rest of an oversize body is never read
        self.content_length = len(body)
        self.write(body)


class SealdropChannel(HTTPChannel):
    error_task_class = SealdropErrorTask


def use_our_error_pages(server):  # waitress's server types have no common public base
    """Make `server` (from waitress.create_server) answer its own errors with SealdropErrorTask."""
    for each in [server, *getattr(server, "map", {}).values()]:
        if hasattr(each, "channel_class"):
            each.channel_class = SealdropChannel
    return server
