"""Shamir's secret sharing over GF(256), with shares an officer can print and type back (docs/backup.md).

    shares = split(secret, count=5, threshold=3)      # five Share objects; any three rebuild `secret`
    text = shares[0].to_text()                          # what goes on paper
    secret == combine([Share.parse(t) for t in typed])  # ShareError names what is wrong

Each byte of the secret is the constant term of its own random polynomial of degree threshold-1 over
GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1); share i holds every polynomial's value at x = i.
Fewer than `threshold` shares say nothing about the secret; `threshold` of them rebuild it by Lagrange
interpolation at 0. The coefficients come from os.urandom.

A share's text is a header line and lines of 15 bytes each, in RFC 4648 base32 (A-Z, 2-7: no 0, 1, 8 or
9, so O/0 and I/1 cannot be confused; a typed 0, 1 or 8 is read as O, I or B), in groups of four, each
line ending with its own check, so a typo is caught and its line named:

    SEALDROP-SHARE-1 ID ABCD-EFGH SHARE 2 OF 5 NEED 3 CHECK WXYZ
    1 ABCD EFGH IJKL MNOP QRST UVWX CHECK ABCD
    ...

The ID is the first 40 bits of a hash of the secret: shares of two secrets are never mixed, and a
rebuilt secret is checked against it (a wrong share that slipped past its line checks is still caught).
Table lookups are not constant time; this runs on the offline machine, where timing is not observable.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import SealdropCryptoError

VERSION = 1
PREFIX = "SEALDROP-SHARE-"
LINE_BYTES = 15  # 24 base32 characters: six groups of four
CHECK_CHARS = 4  # 20 bits per line: a typo slips through once in a million
ID_BYTES = 5
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})
# Officers who write Bulgarian, Russian or Kazakh often type with a Cyrillic layout still on: these
# capitals look like the Latin ones a share is printed with (and З like 3), so they are read as those.
_CYRILLIC = str.maketrans(dict(zip("АВЕКМНОРСТХУҮІЗ", "ABEKMHOPCTXYYI3", strict=True)))
_LABEL = b"sealdrop/shamir/v1/"

# GF(2^8) with the AES polynomial; 3 generates its multiplicative group.
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x ^= (_x << 1) ^ (0x11B if _x & 0x80 else 0)  # times 3: x*2 (reduced) + x
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]
del _x, _i


class ShareError(SealdropCryptoError):
    """A share is malformed, mistyped, mixed with another secret's, or there are too few.

    `kind` says which (format, version, checksum, missing_line, mixed, conflict, too_few, mismatch);
    `line` is the line of the share's text at fault (1 is the header) where there is one; `needed` and
    `given` are set for too_few."""

    def __init__(self, kind: str, message: str, *, line: int | None = None, needed: int = 0, given: int = 0):
        super().__init__(message)
        self.kind, self.line, self.needed, self.given = kind, line, needed, given


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


def secret_id(secret: bytes) -> bytes:
    """The short id shares carry: 40 bits of a hash of the secret (of a 256-bit or longer secret, that
    tells nothing useful about it)."""
    return hashlib.sha256(_LABEL + b"id\x00" + secret).digest()[:ID_BYTES]


@dataclass(frozen=True)
class Share:
    secret_id: bytes
    index: int  # x, 1..255
    threshold: int
    count: int
    data: bytes

    @property
    def id_text(self) -> str:
        text = _b32(self.secret_id)
        return f"{text[:4]}-{text[4:]}"

    def to_text(self) -> str:
        """The share as lines to print: a header, then the data with a check on every line."""
        head = f"{PREFIX}{VERSION} ID {self.id_text} SHARE {self.index} OF {self.count} NEED {self.threshold}"
        lines = [f"{head} CHECK {self._check(0, b'')}"]
        for n, start in enumerate(range(0, len(self.data), LINE_BYTES), 1):
            part = self.data[start : start + LINE_BYTES]
            chars = _b32(part)
            groups = " ".join(chars[i : i + 4] for i in range(0, len(chars), 4))
            last = start + LINE_BYTES >= len(self.data)
            lines.append(f"{n} {groups} CHECK {self._check(n, part, last)}")
        return "\n".join(lines) + "\n"

    def _check(self, line: int, data: bytes, last: bool = False) -> str:
        """Line 0 is the header: its check covers the id, index, count and threshold; every data line's
        covers those too, its number, its bytes and whether it is the last (a line typed into the wrong
        share or place fails, and so does a share whose last lines were left out)."""
        fields = bytes([VERSION, self.index, self.count, self.threshold, line, last])
        digest = hashlib.sha256(_LABEL + b"check\x00" + self.secret_id + fields + data).digest()
        return _b32(digest)[:CHECK_CHARS]

    @classmethod
    def parse(cls, text: str) -> Share:
        """A share from its text as printed or typed back: case, extra spaces, dashes between groups,
        blank lines, `#` comment lines and Cyrillic letters that look Latin do not matter; a typo is
        named by its line."""
        lines = []
        for raw in text.splitlines():
            line = " ".join(raw.replace("\t", " ").split()).upper().translate(_CYRILLIC)
            if line and not line.startswith("#"):
                lines.append(line)
        if not lines or not lines[0].startswith(PREFIX):
            raise ShareError(
                "format", f"this is not a sealdrop share (it must start with {PREFIX}{VERSION})", line=1
            )
        share = _parse_header(lines[0])
        parts = []
        for n, line in enumerate(lines[1:], 1):
            m = re.fullmatch(r"(\d+)[.:)]? (.+?) CHECK ([A-Z0-9 ]+)", line)
            if not m:
                raise ShareError("format", f"line {n + 1} of the share is not a share line", line=n + 1)
            if int(m[1]) != n:
                raise ShareError(
                    "missing_line",
                    f"line {n + 1} of the share should be numbered {n}, not {m[1]}",
                    line=n + 1,
                )
            try:
                part = _unb32(m[2])
            except ValueError:
                raise ShareError("checksum", f"line {n + 1} of the share has a typo", line=n + 1) from None
            last = n == len(lines) - 1
            check = _clean(m[3])
            if not _same(check, share._check(n, part, last)):
                if last and _same(check, share._check(n, part, False)):
                    raise ShareError(
                        "missing_line", f"the share goes on after line {n + 1}: a line is missing", line=n + 2
                    )
                raise ShareError(
                    "checksum", f"line {n + 1} of the share has a typo (its check does not match)", line=n + 1
                )
            parts.append(part)
        if not parts or any(len(p) != LINE_BYTES for p in parts[:-1]):
            raise ShareError(
                "format", "the share holds no data, or a line of it is cut short", line=len(lines)
            )
        return cls(share.secret_id, share.index, share.threshold, share.count, b"".join(parts))


def _parse_header(line: str) -> Share:
    m = re.fullmatch(
        r"SEALDROP-SHARE-(\d+) ID ([A-Z0-9 -]+?) SHARE (\d+) OF (\d+) NEED (\d+) CHECK ([A-Z0-9 ]+)", line
    )
    if not m:
        if re.match(r"SEALDROP-SHARE-(\d+)", line) and not line.startswith(f"{PREFIX}{VERSION} "):
            raise ShareError("version", "this share was written by another version of sealdrop", line=1)
        raise ShareError("format", "the first line of the share is not a share header", line=1)
    if int(m[1]) != VERSION:
        raise ShareError("version", "this share was written by another version of sealdrop", line=1)
    try:
        sid = _unb32(m[2])
    except ValueError:
        sid = b""
    index, count, threshold = int(m[3]), int(m[4]), int(m[5])
    if len(sid) != ID_BYTES or not (2 <= threshold <= count <= 255 and 1 <= index <= count):
        raise ShareError("checksum", "line 1 of the share has a typo", line=1)
    share = Share(sid, index, threshold, count, b"")
    if not _same(_clean(m[6]), share._check(0, b"")):
        raise ShareError("checksum", "line 1 of the share has a typo (its check does not match)", line=1)
    return share


def split(
    secret: bytes, count: int, threshold: int, *, random: Callable[[int], bytes] = os.urandom
) -> list[Share]:
    """`count` shares of `secret`, any `threshold` of which rebuild it (2 <= threshold <= count <= 255)."""
    if not 2 <= threshold <= count <= 255:
        raise ValueError("shares: need 2 <= threshold <= count <= 255")
    if not secret:
        raise ValueError("shares: the secret is empty")
    sid = secret_id(secret)
    coefficients = random(len(secret) * (threshold - 1))
    if len(coefficients) != len(secret) * (threshold - 1):
        raise ValueError("shares: the random source gave too few bytes")
    shares = []
    for x in range(1, count + 1):
        out = bytearray(len(secret))
        for pos, constant in enumerate(secret):
            row = coefficients[pos * (threshold - 1) : (pos + 1) * (threshold - 1)]
            y = 0
            for c in reversed(row):  # Horner: ((c_{k-1} x + c_{k-2}) x + ...) x + secret
                y = _mul(y, x) ^ c
            out[pos] = _mul(y, x) ^ constant
        shares.append(Share(sid, x, threshold, count, bytes(out)))
    return shares


def combine(shares: Sequence[Share]) -> bytes:
    """The secret from at least `threshold` shares of it; ShareError if they are too few, of different
    secrets, contradict each other, or do not rebuild the secret their id names."""
    if not shares:
        raise ShareError("too_few", "no shares given", needed=2, given=0)
    first = shares[0]
    for s in shares[1:]:
        if (s.secret_id, s.threshold, s.count, len(s.data)) != (
            first.secret_id,
            first.threshold,
            first.count,
            len(first.data),
        ):
            raise ShareError("mixed", "these shares belong to different secrets (their ids differ)")
    by_index: dict[int, Share] = {}
    for s in shares:
        if s.index in by_index and by_index[s.index].data != s.data:
            raise ShareError("conflict", f"two different shares say they are share {s.index}")
        by_index[s.index] = s
    if len(by_index) < first.threshold:
        raise ShareError(
            "too_few",
            f"{first.threshold} different shares are needed, {len(by_index)} given",
            needed=first.threshold,
            given=len(by_index),
        )
    chosen = list(by_index.values())[: first.threshold]
    secret = _interpolate_at_zero(chosen)
    if not _same(secret_id(secret), first.secret_id):
        raise ShareError(
            "mismatch", "the shares do not rebuild the secret their id names: one of them is wrong"
        )
    return secret


def _interpolate_at_zero(shares: list[Share]) -> bytes:
    xs = [s.index for s in shares]
    weights = []  # Lagrange basis at 0: prod over j != i of x_j / (x_j - x_i); minus is xor here
    for i, xi in enumerate(xs):
        w = 1
        for j, xj in enumerate(xs):
            if i != j:
                w = _mul(w, _div(xj, xj ^ xi))
        weights.append(w)
    out = bytearray(len(shares[0].data))
    for s, w in zip(shares, weights, strict=True):
        for pos, y in enumerate(s.data):
            out[pos] ^= _mul(y, w)
    return bytes(out)


def _b32(data: bytes) -> str:
    """Base32 without padding: ceil(8n/5) characters, the last one's spare bits zero."""
    bits = len(data) * 8
    chars = -(-bits // 5)
    value = int.from_bytes(data, "big") << (chars * 5 - bits)
    return "".join(ALPHABET[(value >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def _unb32(text: str) -> bytes:
    chars = _clean(text)
    if not chars or any(c not in ALPHABET for c in chars):
        raise ValueError("not base32")
    n = len(chars) * 5 // 8
    if len(_b32(bytes(n))) != len(chars):
        raise ValueError("a base32 run of impossible length")
    value = 0
    for c in chars:
        value = (value << 5) | ALPHABET.index(c)
    spare = len(chars) * 5 - n * 8
    if value & ((1 << spare) - 1):
        raise ValueError("spare bits set")
    return (value >> spare).to_bytes(n, "big")


def _clean(text: str) -> str:
    return text.upper().replace(" ", "").replace("-", "").translate(_LOOKALIKES)


def _same(a: str | bytes, b: str | bytes) -> bool:
    import hmac

    return hmac.compare_digest(a, b)
