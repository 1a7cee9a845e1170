"""The payload: AES-256-GCM STREAM over 64 KiB chunks, with padding (docs/envelope.md, "Payload").

Private to `crypto`. Both directions run in constant memory: two chunk buffers, reused, and the
AEAD writes into them in place (`encrypt_into`/`decrypt_into`), so a 512 MiB file costs the same
memory as a 1 KiB one.
"""

from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._padding import MARKER, padded_length
from ._primitives import hkdf_sha256, label
from .errors import PayloadError

CHUNK = 65536
TAG = 16
SEALED_CHUNK = CHUNK + TAG
_LAST = b"\x01"
_NOT_LAST = b"\x00"
_ZEROS = bytes(CHUNK)


def write_all(dst: BinaryIO, data: bytes | memoryview) -> None:
    """Write every byte: a raw (unbuffered) file or pipe may legally take fewer than it was given."""
    view = memoryview(data)
    while view:
        n = dst.write(view)
        if n is None:  # a non-blocking destination that would block
            raise BlockingIOError("the output cannot take data now")
        view = view[n:]


def payload_key(file_key: bytes, salt: bytes) -> bytes:
    return hkdf_sha256(file_key, salt=salt, info=label("payload"))


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (_LAST if last else _NOT_LAST)


def read_full(src: BinaryIO, view: memoryview) -> int:
    """Fill `view` from `src`, looping over short reads (pipes); returns bytes read (< len at EOF)."""
    filled = 0
    while filled < len(view):
        n = src.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def seal_payload(src: BinaryIO, dst: BinaryIO, key: bytes) -> int:
    """Encrypt everything `src` holds, padded, to `dst`. Returns the message length."""
    aead = AESGCM(key)
    plain = bytearray(CHUNK)
    plain_view = memoryview(plain)
    out = _Batch(dst)
    counter = 0
    message_length = 0
    # A full chunk of message is never the last chunk of P: the marker byte always follows it.
    while (n := read_full(src, plain_view)) == CHUNK:
        aead.encrypt_into(_nonce(counter, False), plain, None, out.next(SEALED_CHUNK))
        counter += 1
        message_length += CHUNK
    message_length += n
    remaining = padded_length(message_length) - message_length  # marker plus zeros
    plain[n] = MARKER
    plain[n + 1 :] = _ZEROS[: CHUNK - n - 1]
    size = min(CHUNK, n + remaining)
    remaining -= size - n
    while True:
        last = remaining == 0
        aead.encrypt_into(_nonce(counter, last), plain_view[:size], None, out.next(size + TAG))
        if last:
            out.flush()
            return message_length
        counter += 1
        size = min(CHUNK, remaining)
        remaining -= size
        plain[:size] = _ZEROS[:size]


class _Batch:
    """Sealed chunks gathered into one buffer and written 16 at a time: a 65,552-byte chunk never lines
    up with the page cache, and one large write pays the misaligned page edges once, not 16 times."""

    def __init__(self, dst: BinaryIO, chunks: int = 16) -> None:
        self._dst = dst
        self._view = memoryview(bytearray(chunks * SEALED_CHUNK))
        self._used = 0

    def next(self, size: int) -> memoryview:
        """Room for the next sealed chunk of `size` bytes (the AEAD writes it in place)."""
        if self._used + size > len(self._view):
            self.flush()
        start, self._used = self._used, self._used + size
        return self._view[start : self._used]

    def flush(self) -> None:
        if self._used:
            write_all(self._dst, self._view[: self._used])
            self._used = 0


class _Unpadder:
    """Writes plaintext out while holding back the possible padding: one byte and a zero count."""

    def __init__(self, dst: BinaryIO) -> None:
        self._dst = dst
        self._held: int | None = None
        self._zeros = 0
        self.written = 0

    def feed(self, data: memoryview) -> None:
        end = len(data)
        if data[end - 1] == 0:
            end = len(bytes(data).rstrip(b"\x00"))
            if end == 0:
                self._zeros += len(data)
                return
        self._flush_held()
        # Only a 0x80 can be the marker: any other last byte is message, written now with the rest,
        # so the common chunk costs one write of the whole chunk, not a 64 KiB write plus a 1-byte one.
        if data[end - 1] == MARKER:
            self._write(data[: end - 1])
            self._held = MARKER
        else:
            self._write(data[:end])
            self._held = None
        self._zeros = len(data) - end

    def finish(self) -> None:
        if self._held != MARKER:
            raise PayloadError("the payload's padding is malformed")

    def _flush_held(self) -> None:
        if self._held is not None:
            self._write(bytes([self._held]))
        while self._zeros:
            step = min(self._zeros, CHUNK)
            self._write(memoryview(_ZEROS)[:step])
            self._zeros -= step

    def _write(self, data: bytes | memoryview) -> None:
        if data:
            write_all(self._dst, data)
            self.written += len(data)


def open_payload(src: BinaryIO, dst: BinaryIO, key: bytes) -> int:
    """Decrypt, authenticate and unpad the payload from `src` into `dst`. Returns bytes written."""
    aead = AESGCM(key)
    current, ahead = bytearray(SEALED_CHUNK), bytearray(SEALED_CHUNK)
    plain = bytearray(CHUNK)
    plain_view = memoryview(plain)
    unpadder = _Unpadder(dst)
    counter = 0
    n = read_full(src, memoryview(current))
    while True:
        if n <= TAG:
            if counter == 0 and n == 0:
                raise PayloadError("the envelope has no payload")
            raise PayloadError("the payload is truncated (a chunk is cut short)")
        m = read_full(src, memoryview(ahead)) if n == SEALED_CHUNK else 0
        last = m == 0
        sealed = memoryview(current)[:n]
        out = plain_view[: n - TAG]
        try:
            aead.decrypt_into(_nonce(counter, last), sealed, None, out)
        except InvalidTag:
            raise PayloadError(_diagnose(aead, counter, last, sealed, out)) from None
        unpadder.feed(out)
        if last:
            unpadder.finish()
            return unpadder.written
        current, ahead, n = ahead, current, m
        counter += 1


def _diagnose(aead: AESGCM, counter: int, last: bool, sealed: memoryview, out: memoryview) -> str:
    """Say why a chunk failed: a chunk that opens with the other flag tells truncation or extra data."""
    try:
        aead.decrypt_into(_nonce(counter, not last), sealed, None, out)
    except InvalidTag:
        return f"chunk {counter} of the payload fails authentication (altered, reordered or corrupt)"
    if last:
        return "the payload is truncated (it ends at a chunk boundary before its last chunk)"
    return "the payload has trailing data after its last chunk"
