"""The envelope header on the wire (docs/envelope.md, "Header"). Private to `crypto`."""

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from ._primitives import (
    FILE_KEY_LEN,
    FORMAT_VERSION,
    HPKE_CT_LEN,
    HPKE_ENC_LEN,
    KEY_ID_LEN,
    equal_ct,
    file_key_info,
    hkdf_sha256,
    hmac_sha256,
    hpke_seal_base,
    key_id,
    label,
)
from .errors import HeaderError, HeaderMACError, UnsupportedVersion

MAGIC = b"sealdrop"
SALT_LEN = 16
MAC_LEN = 32
MAX_STANZAS = 32
STANZA_X25519 = 0x01
X25519_BODY_LEN = KEY_ID_LEN + HPKE_ENC_LEN + HPKE_CT_LEN
_FIXED = struct.Struct(">8sB16sB")
_STANZA_HEAD = struct.Struct(">BH")


@dataclass(frozen=True)
class Stanza:
    type: int
    body: bytes

    def encode(self) -> bytes:
        return _STANZA_HEAD.pack(self.type, len(self.body)) + self.body


@dataclass(frozen=True)
class Header:
    salt: bytes
    stanzas: tuple[Stanza, ...]
    mac: bytes

    def authenticated_bytes(self) -> bytes:
        head = _FIXED.pack(MAGIC, FORMAT_VERSION, self.salt, len(self.stanzas))
        return head + b"".join(s.encode() for s in self.stanzas)

    def encode(self) -> bytes:
        return self.authenticated_bytes() + self.mac

    def verify_mac(self, file_key: bytes) -> None:
        if not equal_ct(header_mac(file_key, self.authenticated_bytes()), self.mac):
            raise HeaderMACError("the envelope's header MAC does not verify (the header was altered)")


def header_mac(file_key: bytes, authenticated: bytes) -> bytes:
    return hmac_sha256(hkdf_sha256(file_key, salt=None, info=label("header-mac")), authenticated)


def x25519_stanza(file_key: bytes, recipient_public: bytes) -> Stanza:
    kid = key_id(recipient_public)
    return Stanza(STANZA_X25519, kid + hpke_seal_base(recipient_public, file_key_info(kid), file_key))


def build_header(file_key: bytes, recipients: list[bytes]) -> Header:
    if not 1 <= len(recipients) <= MAX_STANZAS:
        raise ValueError(f"an envelope needs 1 to {MAX_STANZAS} recipients, not {len(recipients)}")
    assert len(file_key) == FILE_KEY_LEN
    stanzas = tuple(x25519_stanza(file_key, r) for r in recipients)
    unsigned = Header(os.urandom(SALT_LEN), stanzas, b"")
    return Header(unsigned.salt, stanzas, header_mac(file_key, unsigned.authenticated_bytes()))


def _read_up_to(src: BinaryIO, n: int) -> bytes:
    """Read n bytes, or fewer only at end of input (raw streams may return short reads)."""
    parts, got = [], 0
    while got < n:
        part = src.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_exact(src: BinaryIO, n: int, what: str) -> bytes:
    data = _read_up_to(src, n)
    if len(data) != n:
        raise HeaderError(f"the envelope ends inside its header ({what})")
    return data


def read_header(src: BinaryIO) -> Header:
    fixed = _read_up_to(src, _FIXED.size)
    if len(fixed) < len(MAGIC) or fixed[: len(MAGIC)] != MAGIC:
        raise HeaderError("this is not a sealdrop envelope (wrong magic bytes)")
    if len(fixed) > len(MAGIC) and fixed[len(MAGIC)] != FORMAT_VERSION:
        raise UnsupportedVersion(
            f"envelope version {fixed[len(MAGIC)]} is not supported (this program reads version 1)"
        )
    if len(fixed) < _FIXED.size:
        raise HeaderError("the envelope ends inside its header (fixed fields)")
    _, _, salt, count = _FIXED.unpack(fixed)
    if not 1 <= count <= MAX_STANZAS:
        raise HeaderError(f"the header announces {count} recipients (1 to {MAX_STANZAS} allowed)")
    stanzas = []
    for _ in range(count):
        kind, length = _STANZA_HEAD.unpack(_read_exact(src, _STANZA_HEAD.size, "stanza"))
        if kind == STANZA_X25519 and length != X25519_BODY_LEN:
            raise HeaderError(f"an X25519 stanza is {length} bytes long, not {X25519_BODY_LEN}")
        stanzas.append(Stanza(kind, _read_exact(src, length, "stanza body")))
    return Header(salt, tuple(stanzas), _read_exact(src, MAC_LEN, "MAC"))
