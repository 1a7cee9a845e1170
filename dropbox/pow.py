"""Proof of work on the JavaScript path: a report call costs the sender some CPU, so a bot cannot file
reports by the thousand, while a reporter's phone spends about a second on it (docs/operator-guide.md).

The server hands out a challenge signed with a key derived from the instance's secret (nothing is
stored for it); the page solves it in a Web Worker (static/js/pow-worker.mjs) and the report call
carries the solution. A solution is `proofs` distinct nonces, each of which makes

    PBKDF2-HMAC-SHA256(password=the challenge's bytes, salt=nonce (8 bytes, big-endian), iterations)

start with a 32-bit number below 2^32 * proofs / work: about `work` PBKDF2 runs to find, `proofs` to
check. PBKDF2 because browsers run it natively (WebCrypto), so a bot's native code is not much faster
than the reporter's phone; several proofs because one alone has a long tail (1 phone in 20 would
wait three times the mean).

A challenge expires (config `pow_max_age_s`) and is spent once: the keyed hash of a solved challenge
is kept with the case it opened (`submission_tokens`, as a no-JS form's token is); with `redis_url` it
is also claimed in Redis as the report call arrives, so a solution replayed on another instance is
refused before anything is stored (dropbox/shared.py). The work asked rises
with the desk's recent reports (counted in memory, dropbox/budget.py) and falls back when it is quiet;
a challenge solved at a lower level than the current one is refused as stale, and the page solves a
fresh one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass

from flask import abort
from flask_babel import gettext

from .config import Config

VERSION = 1
# version, issued (unix seconds), work, iterations, proofs, 16 random bytes; then a 16-byte MAC
_BODY = struct.Struct(">BQIIB16s")
_MAC_BYTES = 16
TOKEN_CHARS = 120  # base64url of 50 bytes is 67 characters: anything longer is not ours
MAX_NONCE = 2**53 - 1  # a JavaScript number stays exact up to here


@dataclass(frozen=True)
class Challenge:
    token: str
    issued: int
    work: int
    iterations: int
    proofs: int

    def as_json(self, max_age_s: int) -> dict:
        return {"challenge": self.token, "work": self.work, "iterations": self.iterations,
                "proofs": self.proofs, "expires_in": max_age_s}  # fmt: skip


def _mac(secret: bytes, desk_slug: str, body: bytes) -> bytes:
    message = b"pow\x00" + desk_slug.encode() + b"\x00" + body
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def issue(cfg: Config, desk_slug: str, work: int, now: float | None = None) -> Challenge:
    """A new challenge for a report to `desk_slug` asking for about `work` PBKDF2 runs."""
    issued = int(time.time() if now is None else now)
    body = _BODY.pack(VERSION, issued, work, cfg.pow_iterations, cfg.pow_proofs, os.urandom(16))
    raw = body + _mac(cfg.secret_key, desk_slug, body)
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return Challenge(token, issued, work, cfg.pow_iterations, cfg.pow_proofs)


def _decode(token: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None


def read(cfg: Config, desk_slug: str, token: object) -> Challenge | None:
    """The challenge `token` stands for, if this server signed it for this desk; None otherwise."""
    if not isinstance(token, str) or not 0 < len(token) <= TOKEN_CHARS or not token.isascii():
        return None
    raw = _decode(token)
    if raw is None or len(raw) != _BODY.size + _MAC_BYTES:
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None  # one spelling per challenge: another would be spent under another hash
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(mac, _mac(cfg.secret_key, desk_slug, body)):
        return None
    version, issued, work, iterations, proofs, _ = _BODY.unpack(body)
    if version != VERSION or work < 1 or proofs < 1:
        return None
    return Challenge(token, issued, work, iterations, proofs)


def threshold(challenge: Challenge) -> int:
    """A proof's first 32 bits must be below this: `proofs` of them take about `work` tries."""
    return min(2**32, (2**32 * challenge.proofs) // challenge.work)


def proof_holds(challenge: Challenge, nonce: int) -> bool:
    digest = hashlib.pbkdf2_hmac(
        "sha256", challenge.token.encode(), nonce.to_bytes(8, "big"), challenge.iterations, 32
    )
    return int.from_bytes(digest[:4], "big") < threshold(challenge)


def solve(challenge: Challenge) -> list[int]:
    """The first `proofs` nonces that hold: what the page's worker finds (tests and benchmarks)."""
    found: list[int] = []
    nonce = 0
    while len(found) < challenge.proofs:
        if proof_holds(challenge, nonce):
            found.append(nonce)
        nonce += 1
    return found


def _nonces(value: object, proofs: int) -> list[int] | None:
    if not isinstance(value, list) or len(value) != proofs:
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_NONCE for n in value):
        return None
    return value if len(set(value)) == len(value) else None


def refusal(
    cfg: Config, desk_slug: str, sent: object, required_work: int, now: float | None = None
) -> str | None:
    """Why the solution `sent` ({"challenge", "nonces"}) does not let a report through, or None if
    it does. The cheap checks come first: a proof is only computed for a signed, fresh challenge."""
    if not isinstance(sent, dict):
        return "pow_required"
    challenge = read(cfg, desk_slug, sent.get("challenge"))
    if challenge is None or challenge.iterations != cfg.pow_iterations:
        return "pow_invalid"
    age = (time.time() if now is None else now) - challenge.issued
    if not -60 <= age <= cfg.pow_max_age_s:
        return "pow_expired"
    if challenge.work < required_work:
        return "pow_stale"  # the desk is busier than when it was issued: more work now
    nonces = _nonces(sent.get("nonces"), challenge.proofs)
    if nonces is None or not all(proof_holds(challenge, n) for n in nonces):
        return "pow_invalid"
    return None


def check(cfg: Config, desk_slug: str, sent: object, required_work: int) -> str:
    """The challenge's token if `sent` solves a valid one; else the request ends in a 403 with why
    (pow_required, pow_invalid, pow_expired, pow_stale), and the page asks for a fresh challenge."""
    from .shared import claim_challenge  # imports what imports this module

    why = refusal(cfg, desk_slug, sent, required_work)
    if why is not None:
        abort(403, description=why)
    if not claim_challenge(spent_key(desk_slug), sent["challenge"]):
        abort(400, description="pow_reused")  # claimed by a report call on this or another instance
    return sent["challenge"]


def spent_key(desk_slug: str) -> str:
    """The purpose under which a solved challenge's keyed hash is kept (security.once_hash)."""
    return f"pow:{desk_slug}"


def messages() -> dict[str, str]:
    """What the page shows while it works and while the desk is busy; {left} is filled in by the page."""
    return {
        "getting_ready": gettext("Getting ready to send…"),
        "busy": gettext(
            "Many reports are arriving just now. Keep this page open: yours is sent by itself in about "
            "%(left)s, and nothing you wrote is lost.",
            left="{left}",
        ),
    }


def offer(cfg: Config, desk_slug: str, work: int) -> dict:
    """A challenge for the desk's next report at `work`, with the page's words: what the report page
    carries in its data (solving starts as it opens, no round trip of its own: 1.5 s on a Tor circuit)
    and what `GET /api/<desk>/challenge` answers when that one has expired or was refused."""
    return {**issue(cfg, desk_slug, work).as_json(cfg.pow_max_age_s), "messages": messages()}
