"""Headers, CSRF and the no-plaintext-on-disk request: the hygiene every response and form shares.

CSRF without cookies: reporters get no cookie at all, so a token cannot be bound to a session.
Instead each form carries a token the server signed (HMAC over a timestamp, a nonce and the form's
purpose), and every state-changing request must also not come from another site (`Sec-Fetch-Site`,
`Origin`). The JSON API additionally requires the token in a custom header, which another site cannot
set without a CORS preflight that we never grant.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import os
import struct
import time
from typing import IO
from urllib.parse import urlencode, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, Request, abort, current_app, request
from flask.wrappers import Response

from .multipart import MemoryFormParser

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-Sealdrop-CSRF"
CSRF_MAX_AGE = 4 * 3600  # long enough to write a report slowly over Tor

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


class MemoryOnlyRequest(Request):
    """Keeps every uploaded file in memory (bounded by max_content_length), never in a temp file.

    Werkzeug spools file parts over 500 KB to a temporary file on disk. On the no-JS path those parts
    are plaintext photos, so they must stay in this process's memory until they are sealed. Multipart
    bodies are decoded by dropbox/multipart.py (no regular expression compiled per request).
    """

    max_form_parts = 200
    form_data_parser_class = MemoryFormParser

    def _get_file_stream(
        self, total_content_length, content_type, filename=None, content_length=None
    ) -> IO[bytes]:
        return io.BytesIO()


def _csrf_mac(secret: bytes, stamp: bytes, purpose: str) -> bytes:
    return hmac.new(secret, b"csrf\x00" + stamp + purpose.encode(), hashlib.sha256).digest()[:16]


def csrf_token(purpose: str) -> str:
    stamp = struct.pack(">Q", int(time.time())) + os.urandom(8)
    mac = _csrf_mac(current_app.config["SEALDROP"].secret_key, stamp, purpose)
    return base64.urlsafe_b64encode(stamp + mac).decode()


def csrf_valid(token: str | None, purpose: str) -> bool:
    if not token or len(token) > 64:
        return False
    try:
        raw = base64.urlsafe_b64decode(token)
    except ValueError:
        return False
    if len(raw) != 32:
        return False
    stamp, mac = raw[:16], raw[16:]
    expected = _csrf_mac(current_app.config["SEALDROP"].secret_key, stamp, purpose)
    age = time.time() - struct.unpack(">Q", stamp[:8])[0]
    return hmac.compare_digest(mac, expected) and -60 <= age <= CSRF_MAX_AGE


def same_site_request() -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin in (None, "null") or origin in (request.host_url.rstrip("/"), public_origin())


def public_origin() -> str | None:
    """The origin of the configured public address. Behind a TLS reverse proxy the browser sends
    `Origin: https://host` while this process sees plain http: the operator's own address is the one
    other origin a form may come from (a proxy header could be forged by anyone who reaches us)."""
    url = current_app.config["SEALDROP"].public_url
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def require_csrf(purpose: str, token: str | None) -> None:
    """Abort with 400 unless the request is same-site and carries a valid token for `purpose`."""
    if not same_site_request() or not csrf_valid(token, purpose):
        abort(400, description="csrf")


def once_hash(purpose: str, token: str) -> bytes:
    """What the database keeps of a single-use form token: a keyed hash, useless without the key."""
    secret = current_app.config["SEALDROP"].secret_key
    message = b"once\x00" + purpose.encode() + b"\x00" + token.encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def _page_key() -> AESGCM:
    return _page_aead(current_app.config["SEALDROP"].secret_key)


@functools.lru_cache(maxsize=4)
def _page_aead(secret: bytes) -> AESGCM:
    """The page-sealing key derived once per instance secret, not on every form."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sealdrop page seal v1")
    return AESGCM(hkdf.derive(secret))


def seal_for_page(purpose: str, data: bytes) -> str:
    """`data` encrypted under the server's own key, for a form to carry back (never a URL): the page
    holds only ciphertext, and it opens for CSRF_MAX_AGE after it was made, for `purpose` only."""
    stamp = struct.pack(">Q", int(time.time()))
    nonce = os.urandom(12)
    sealed = _page_key().encrypt(nonce, data, b"seal\x00" + stamp + purpose.encode())
    return base64.urlsafe_b64encode(stamp + nonce + sealed).decode()


def open_from_page(purpose: str, token: str | None) -> bytes | None:
    """The data `seal_for_page` sealed for `purpose`, or None if it is not ours, altered or too old."""
    if not token or len(token) > 400:
        return None
    try:
        raw = base64.urlsafe_b64decode(token)
    except ValueError:
        return None
    stamp, nonce, sealed = raw[:8], raw[8:20], raw[20:]
    if len(stamp) != 8 or len(nonce) != 12:
        return None
    age = time.time() - struct.unpack(">Q", stamp)[0]
    if not -60 <= age <= CSRF_MAX_AGE:
        return None
    try:
        return _page_key().decrypt(nonce, sealed, b"seal\x00" + stamp + purpose.encode())
    except InvalidTag:
        return None


# On every response, the app's and waitress's own error responses alike (dropbox.waitress_errors).
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(self), microphone=(self), camera=(), interest-cohort=()",
}
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The only answers a browser may keep: the static files, and the empty /favicon.ico answer (dropbox
# `_no_favicon`, endpoint "favicon"), the same for everyone. Kept for a day, the browser stops asking
# for it on every page, a round trip over Tor each time. Everything else is personal: no-store.
STATIC_CACHE = "public, max-age=3600"
FAVICON_CACHE = "public, max-age=86400"


def _shared_cache(response: Response) -> str | None:
    """The Cache-Control of an answer that holds nothing personal, or None for every other answer."""
    if response.status_code == 200 and request.path.startswith("/static/"):
        return STATIC_CACHE
    if response.status_code == 204 and request.endpoint == "favicon":
        return FAVICON_CACHE
    return None


def _headers(response: Response) -> Response:
    h = response.headers
    h.update(SECURITY_HEADERS)
    if shared := _shared_cache(response):
        h["Cache-Control"] = shared
    elif not (response.status_code == 200 and "immutable" in h.get("Cache-Control", "")):
        h.update(NO_STORE_HEADERS)  # kept: a response whose address names its bytes (a map sheet's hash)
    h.pop("Server", None)
    onion = current_app.config["SEALDROP"].onion_address
    desk = request.path == "/desk" or request.path.startswith("/desk/")  # the desk has its own onion
    if onion and not desk and not request.host.endswith(".onion"):
        h["Onion-Location"] = f"http://{onion}{_onion_path()}"
    return response


def _onion_path() -> str:
    """The same page on the onion, less the poster's placement tag: the clearnet visit that brought
    the tag was counted already, and Tor Browser follows Onion-Location at once."""
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "src"])
    return request.path + (f"?{query}" if query else "")


def _refuse_nul() -> None:
    """No address of ours holds a NUL byte; PostgreSQL refuses one in a text parameter, which would
    turn a probe into a 500, so such a request is not found before any route looks it up."""
    if "\x00" in request.path or any("\x00" in value for value in request.args.values()):
        abort(404)


def init_app(app: Flask) -> None:
    app.request_class = MemoryOnlyRequest
    app.before_request(_refuse_nul)
    app.after_request(_headers)
