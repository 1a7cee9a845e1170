"""Reporters driven from Python against a live server that may die under them at any moment: the no-JS
form (multipart), and the JS path's one-request report and resumable uploads, sealed with the real
envelope code. Each submission is a small state machine that a restarted server can pick up again, as
a browser does: the JS path resumes from the server's offset and repeats its report call; the no-JS
reporter sends the same form again (its single-use token then says "already received")."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import secrets
import struct
import time
import uuid
from dataclasses import dataclass, field

from PIL import Image

import crypto
from tests.helpers import extract, proof_of_work
from tests.security.wire import Answer, fetch
from tests.viewer.bundles import listed, report_doc

GONE = (OSError, http.client.HTTPException)  # what a killed server looks like to a client
PIECE = 16 * 1024  # small pieces, so a kill often lands between two of them


class ServerGone(Exception):
    """The server went away mid-submission; try again once it is back."""


class Refused(Exception):
    """The server answered no: this attempt ends without a receipt (`answer`: what it said)."""

    def __init__(self, message: str, answer: Answer | None = None) -> None:
        super().__init__(message)
        self.answer = answer


class TryAgain(Exception):
    """The server said not now (busy, or a new proof of work wanted)."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"try again in {wait_s} s")
        self.wait_s = wait_s


def call(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
    try:
        return fetch(base, method, path, body=body, headers=headers, timeout=120)
    except GONE as e:
        raise ServerGone(type(e).__name__) from None


def noise_jpeg(side: int) -> bytes:
    """A photo that does not compress: its envelope spans several upload pieces."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class PageData:
    """What the reporter page gives the browser: tokens, the category, its recipient keys."""

    form_token: str
    api_token: str
    category: str
    keys: list[crypto.RecipientKey]

    @classmethod
    def read(cls, base: str, slug: str = "drugs") -> PageData:
        page = call(base, "GET", "/r/demo?lang=en").text()
        data = json.loads(re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1))
        category = next(k for k, v in data["categories"].items() if v["slug"] == slug)
        keys = json.loads(re.search(r'id="recipient-keys">(.*?)</script>', page, re.S).group(1))[category]
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        recipients = [crypto.RecipientKey(bytes.fromhex(h)) for h in keys]
        return cls(form_token, data["csrf"], category, recipients)


@dataclass
class Submission:
    """One reporter's report, sent until it gets an answer. `receipt` and `case_number` are set only
    when the server handed them out (a 2xx answer naming the case)."""

    index: int
    path: str  # "nojs", "whole" or "pieces"
    marker: str = field(init=False)
    receipt: str | None = None
    case_number: str | None = None
    attempts: int = 0
    restarts: int = 0  # uploads begun again from byte 0 (what the design says never happens)
    _state: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.marker = f"fault report {self.index} {uuid.uuid4().hex[:8]} via {self.path}"

    def send(self, base: str) -> None:
        """Send until answered; raises ServerGone if the server dies under it, Refused if it says no.
        A busy desk (429) is waited for, and a proof of work the server no longer takes is redone."""
        send = {"nojs": self._send_form, "whole": self._send_whole, "whole+photo": self._send_whole,
                "pieces": self._send_pieces}[self.path]  # fmt: skip
        for _ in range(5):
            self.attempts += 1
            try:
                return send(base)
            except TryAgain as again:
                time.sleep(again.wait_s)
        raise Refused(f"still refused after {self.attempts} attempts")

    # --- no JavaScript: a multipart form -------------------------------------------------------------

    def _send_form(self, base: str) -> None:
        if "form" not in self._state:  # the page once; a resend posts the very same form again
            page = PageData.read(base)
            fields = {"csrf_token": page.form_token, "category": page.category, "lang": "en",
                      "what": self.marker, "where_mode": "none"}  # fmt: skip
            self._state["form"] = multipart(fields, [("files", "photo.jpg", "image/jpeg", noise_jpeg(48))])
        body, content_type = self._state["form"]
        answer = call(base, "POST", "/r/demo?lang=en", body, {"Content-Type": content_type})
        if answer.status == 429:
            raise TryAgain(min(float(answer.headers.get("Retry-After", 5)), 30))
        if answer.status != 200:
            raise Refused(f"form: {answer.status}", answer)
        html = answer.text()
        self.case_number = extract(html, "case-number")
        if 'id="receipt"' in html:  # an "already received" page has the case but no receipt to show
            self.receipt = extract(html, "receipt")

    # --- JavaScript: sealed here, one request or resumable pieces ------------------------------------

    def _sealed(self, base: str) -> dict:
        """Sealed once, kept across attempts: a browser retries with the same bytes and the same ids."""
        if "envelopes" not in self._state:
            page = PageData.read(base)
            receipt = crypto.Receipt.generate()
            # "whole" is a text report (its envelope small: kept in its row, intake.INLINE_MAX_BYTES);
            # "whole+photo" carries a photo over that size, which goes through an upload of its own.
            photo = {"pieces": noise_jpeg(96), "whole+photo": noise_jpeg(280)}.get(self.path)
            atts = [listed(photo, "photo.jpg", "image/jpeg")] if photo else []
            reply_public = base64.b64encode(receipt.reply_recipient.public_bytes).decode()
            doc = report_doc(self.marker, attachments=atts, reply_public=reply_public)
            plain = [json.dumps(doc).encode(), *([photo] if photo else [])]
            self._state.update(
                page=page, receipt=receipt,
                envelopes=[crypto.seal_bytes(p, page.keys) for p in plain],
                ids=[secrets.token_hex(16) for _ in plain],
            )  # fmt: skip
        return self._state

    def _report_call(self, base: str, state: dict) -> dict:
        receipt = state["receipt"]
        if "pow" not in state:  # solved once and kept: a repeated report call carries the same solution
            challenge = self._api(base, "GET", "/challenge?lang=en", b"", "application/json")
            if challenge.status != 200:
                raise Refused(f"challenge: {challenge.status}")
            state["pow"] = proof_of_work(json.loads(challenge.body))
        return {"category": int(state["page"].category), "pow": state["pow"],
                "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
                "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode()}  # fmt: skip

    def _api(self, base: str, method: str, path: str, body: bytes, content_type: str) -> Answer:
        token = self._state["page"].api_token
        headers = {"X-Sealdrop-CSRF": token, "Content-Type": content_type}
        return call(base, method, f"/api/demo{path}", body, headers)

    def _accepted(self, answer: Answer) -> None:
        if answer.status == 429:
            raise TryAgain(min(float(answer.headers.get("Retry-After", 5)), 30))
        if answer.status == 403 and answer.text().startswith('{"error":"pow'):
            self._state.pop("pow")  # the desk's level rose meanwhile, or the challenge expired
            raise TryAgain(0)
        if answer.status == 400 and '"unknown_upload"' in answer.text() and "ids" in self._state:
            # As report.mjs does when Send is pressed again after this error: the same report and
            # receipt, uploaded anew under new ids. (A kill between an upload's move into the blob
            # store and the commit leaves its row without its file: issue 12, see the report.)
            self.restarts += 1
            self._state["ids"] = [secrets.token_hex(16) for _ in self._state["ids"]]
            self._state["done"] = set()
            raise TryAgain(0)
        if answer.status not in (200, 201):
            raise Refused(f"report: {answer.status} {answer.text()[:80]}", answer)
        self.case_number = json.loads(answer.body)["case_number"]
        self.receipt = self._state["receipt"].grouped()

    def _send_whole(self, base: str) -> None:
        state = self._sealed(base)
        meta = json.dumps(
            {**self._report_call(base, state), "sizes": [len(e) for e in state["envelopes"]]}
        ).encode()
        body = struct.pack(">I", len(meta)) + meta + b"".join(state["envelopes"])
        self._accepted(self._api(base, "POST", "/reports", body, "application/octet-stream"))

    def _send_pieces(self, base: str) -> None:
        state = self._sealed(base)
        for upload_id, envelope in zip(state["ids"], state["envelopes"], strict=True):
            self._upload(base, upload_id, envelope)
        body = json.dumps({**self._report_call(base, state), "parts": state["ids"]}).encode()
        self._accepted(self._api(base, "POST", "/reports", body, "application/json"))

    def _upload(self, base: str, upload_id: str, envelope: bytes) -> None:
        """From where the server says it is: never from byte 0 again once bytes arrived."""
        done = self._state.setdefault("done", set())
        if upload_id in done:  # acknowledged whole: a report call may have filed it already
            return
        known = self._api(base, "GET", f"/uploads/{upload_id}", b"", "application/json")
        if known.status == 404:  # its first piece never arrived
            offset = 0
        elif known.status == 200:
            offset = json.loads(known.body)["received"]
        else:
            raise Refused(f"upload state: {known.status}", known)
        while offset < len(envelope):
            query = f"?offset={offset}" + (f"&size={len(envelope)}" if offset == 0 else "")
            piece = envelope[offset : offset + PIECE]
            answer = self._api(base, "PUT", f"/uploads/{upload_id}{query}", piece, "application/octet-stream")
            if answer.status != 200:
                raise Refused(f"piece: {answer.status} {answer.text()[:80]}", answer)
            offset = json.loads(answer.body)["received"]
        done.add(upload_id)


def multipart(fields: dict[str, str], files: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, filename, content_type, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        out.write(f"{head}Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"
