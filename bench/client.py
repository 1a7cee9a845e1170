"""HTTP client helpers of the benchmarks: a browser's requests to the demo desk on 127.0.0.1, the
report page read as a browser reads it, and the no-JS report form it posts.

Imports nothing of sealdrop at the top (crypto where a page's keys are read), like bench/servers.py.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench._util import BenchError
from bench.servers import HOST

if TYPE_CHECKING:
    import crypto

DESK = "demo"
CATEGORY = "Drug dealing"
HTTP_TIMEOUT = 300.0
PATIENT_TIMEOUT = 900.0  # bench/load.py: a client waiting in the listen backlog is not a failure, only slow

CASE_NUMBER = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}")
RECEIPT_CASE_NUMBER = re.compile(rb'id="case-number">[0-9A-Z]{4}-[0-9A-Z]{4}<')  # the receipt page's
FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
WHAT = (
    "A man sells small packets behind the school gym every weekday between 15:00 and 16:00. He arrives "
    "in a grey hatchback, waits by the back fence and leaves after about twenty minutes. Students from "
    "the upper classes meet him there; money and packets change hands through the fence. "
) * 3


# ------------------------------------------------------------------------------------------ answers


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError:
            raise BenchError(f"not JSON (HTTP {self.status}): {self.body[:200]!r}") from None


@dataclass(frozen=True)
class Answer(Response):
    """A timed answer, reduced to what bench/load.py counts: the status and the API's error code."""

    seconds: float

    @property
    def code(self) -> str:
        if self.status < 400 or not self.body.startswith(b"{"):
            return ""
        with contextlib.suppress(ValueError, AttributeError):
            return str(json.loads(self.body).get("error", ""))
        return ""

    @property
    def label(self) -> str:
        return f"{self.status} {self.code}".strip()


def expect(response: Response, status: int, what: str) -> Response:
    if response.status != status:
        raise BenchError(f"{what}: HTTP {response.status}, expected {status}: {response.body[:300]!r}")
    return response


# -------------------------------------------------------------------------------------- connections


class Http:
    """One keep-alive connection to 127.0.0.1, as one browser tab would hold."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT)

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.conn.close()

    def call(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return Response(response.status, response.read())

    def api(self, method: str, path: str, csrf: str, body: bytes | dict | None = None) -> Response:
        """A call as upload.mjs makes it: the CSRF header, JSON or raw bytes."""
        headers = {"X-Sealdrop-CSRF": csrf}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            headers["Content-Type"] = "application/octet-stream"
        return self.call(method, f"/api/{DESK}{path}", body, headers)


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: object = None, headers: dict | None = None
) -> Answer:
    """`method path` on `conn`; seconds from sending the first byte to reading the last."""
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return Answer(response.status, data, time.perf_counter() - start)


def connect(port: int) -> http.client.HTTPConnection:
    """A connection that waits as long as a patient client (PATIENT_TIMEOUT)."""
    return http.client.HTTPConnection(HOST, port, timeout=PATIENT_TIMEOUT)


def once(port: int, method: str, path: str, body: object = None, headers: dict | None = None) -> Answer:
    """One request on a connection of its own (a browser whose idle connection has gone)."""
    conn = connect(port)
    try:
        return request(conn, method, path, body, headers)
    finally:
        conn.close()


# -------------------------------------------------------------------------------------------- page


@dataclass(frozen=True)
class Page:
    """What GET /r/demo gives a client: both CSRF tokens, the category and its recipients."""

    form_token: str
    api_token: str
    category: str
    keys: list[crypto.RecipientKey]


def api_headers(page: Page, content_type: str | None = None) -> dict:
    headers = {"X-Sealdrop-CSRF": page.api_token}
    return headers | ({"Content-Type": content_type} if content_type else {})


def read_page(port: int) -> Page:
    import crypto

    with Http(port) as http:
        html = expect(http.call("GET", f"/r/{DESK}?lang=en"), 200, f"GET /r/{DESK}").body.decode()
    token = FORM_TOKEN.search(html)
    category = re.search(rf'value="(\d+)"[^>]*> {re.escape(CATEGORY)}', html)
    if token is None or category is None:
        raise BenchError(f"/r/{DESK}: no form token or no category {CATEGORY!r}")
    keys = json.loads(page_script(html, "recipient-keys")).get(category.group(1))
    if not keys:
        raise BenchError(f"/r/{DESK}: category {CATEGORY!r} has no recipient keys")
    return Page(
        form_token=token.group(1),
        api_token=json.loads(page_script(html, "page-data"))["csrf"],
        category=category.group(1),
        keys=[crypto.RecipientKey(bytes.fromhex(h)) for h in keys],
    )


def page_script(html: str, element_id: str) -> str:
    """The text of the report page's <script id=`element_id`> (the JSON the page's scripts read)."""
    found = re.search(rf'<script[^>]*id="{element_id}"[^>]*>(.*?)</script>', html, re.DOTALL)
    if found is None:
        raise BenchError(f"no <script id={element_id}> in the report page")
    return found.group(1)


# --------------------------------------------------------------------------------- the no-JS form


@dataclass(frozen=True)
class Form:
    body: bytes
    content_type: str


def report_form(page: Page) -> Form:
    """The multipart body of a text-only report, with the fields tests' Reporter posts, under a fresh
    boundary as a browser makes for each submission (werkzeug compiles a parser per boundary)."""
    fields = {"csrf_token": page.form_token, "category": page.category, "lang": "en", "what": WHAT,
              "where_mode": "none"}  # fmt: skip
    boundary = f"----sealdropbench{secrets.token_hex(8)}"
    lines = []
    for name, value in fields.items():
        lines += [f"--{boundary}", f'Content-Disposition: form-data; name="{name}"', "", value]
    lines += [f"--{boundary}--", ""]
    return Form("\r\n".join(lines).encode(), f"multipart/form-data; boundary={boundary}")


def check_receipt(response: Response, _form: Form | None = None) -> None:
    """A receipt page with its case number, else BenchError (`_form`: as post_forms calls a check)."""
    expect(response, 200, f"POST /r/{DESK}")
    if not RECEIPT_CASE_NUMBER.search(response.body):
        raise BenchError(f"POST /r/{DESK}: 200 but no case number in the receipt page")
