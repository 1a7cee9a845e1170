"""Seal and open envelopes (docs/envelope.md): the only entry points to the format.

seal(src, dst, [officer.recipient, ...])      # streams, constant memory
unseal(src, dst, [identity.decryption_key])   # streams; raises an EnvelopeError subclass
"""

import io
import os
from collections.abc import Sequence
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from . import _format, _stream
from ._primitives import FILE_KEY_LEN, KEY_ID_LEN, file_key_info, hpke_open_base
from .errors import HeaderError, NoMatch
from .keys import DecryptionKey, RecipientKey


def seal(src: BinaryIO, dst: BinaryIO, recipients: Sequence[RecipientKey]) -> int:
    """Seal everything `src` holds to `recipients`, writing the envelope to `dst`.

    Returns the plaintext length. `src` needs `readinto` (files, BytesIO, sys.stdin.buffer).
    """
    file_key = os.urandom(FILE_KEY_LEN)
    header = _format.build_header(file_key, [r.public_bytes for r in recipients])
    _stream.write_all(dst, header.encode())
    return _stream.seal_payload(src, dst, _stream.payload_key(file_key, header.salt))


def unseal(src: BinaryIO, dst: BinaryIO, keys: Sequence[DecryptionKey]) -> int:
    """Open the envelope in `src` with any of `keys`, writing the plaintext to `dst`.

    Nothing is written before the header MAC verifies; after that each chunk is written once it
    authenticates, so on a PayloadError `dst` holds a true prefix: callers discard it.
    Returns the plaintext length.
    """
    header = _format.read_header(src)
    file_key = _unwrap_file_key(header, keys)
    header.verify_mac(file_key)
    return _stream.open_payload(src, dst, _stream.payload_key(file_key, header.salt))


def seal_bytes(plaintext: bytes, recipients: Sequence[RecipientKey]) -> bytes:
    out = io.BytesIO()
    seal(io.BytesIO(plaintext), out, recipients)
    return out.getvalue()


def unseal_bytes(envelope: bytes, keys: Sequence[DecryptionKey]) -> bytes:
    out = io.BytesIO()
    unseal(io.BytesIO(envelope), out, keys)
    return out.getvalue()


def recipient_key_ids(src: BinaryIO) -> list[bytes]:
    """The key ids an envelope is sealed to, read from its header without opening it."""
    header = _format.read_header(src)
    return [s.body[:KEY_ID_LEN] for s in header.stanzas if s.type == _format.STANZA_X25519]


def _unwrap_file_key(header: _format.Header, keys: Sequence[DecryptionKey]) -> bytes:
    by_id = {k.key_id: k for k in keys}
    for stanza in header.stanzas:
        if stanza.type != _format.STANZA_X25519:
            continue  # a suite this reader does not know: skipped, but still under the MAC
        kid = stanza.body[:KEY_ID_LEN]
        key = by_id.get(kid)
        if key is None:
            continue
        try:
            file_key = hpke_open_base(key._private, file_key_info(kid), stanza.body[KEY_ID_LEN:])
        except (InvalidTag, ValueError):  # ValueError: an invalid or low-order enc point
            raise HeaderError("the recipient stanza for this key does not open (altered)") from None
        return file_key  # 32 bytes: a type-1 body is fixed at 96 bytes, so its ciphertext holds 32
    raise NoMatch("this envelope is not sealed to any of the given keys")
