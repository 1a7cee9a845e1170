"""The payload: AES-256-GCM STREAM over 64 KiB chunks, with padding (docs/envelope.md, "Payload").

Private to `crypto`. Both directions run in constant memory: a few buffers, reused, and the AEAD
writes into them in place (`encrypt_into`/`decrypt_into`), so a 512 MiB file costs the same memory
as a 1 KiB one.

Two speeds: an envelope is read and written chunk by chunk (64 KiB) until it proves large
(LARGE_AFTER chunks); from then on BATCH chunks go per read and per write, and the writes run on a
second thread (`_Writer`) while the next batch is sealed or opened (write() releases the GIL, and
so, it seems, does cryptography's AES-GCM decryption of large buffers; its encryption does not).
Small envelopes, most of them, never pay for a thread or a 1 MiB buffer.
"""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._padding import MARKER, padded_length
from ._primitives import hkdf_sha256, label
from .errors import PayloadError

CHUNK = 65536
TAG = 16
SEALED_CHUNK = CHUNK + TAG
BATCH = 16  # chunks per read and per write of a large envelope
LARGE_AFTER = 64  # chunks (4 MiB): past this an envelope is large
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
    writer = _Writer(dst)
    try:
        counter = 0
        message_length = 0
        # A full chunk of message is never the last chunk of P: the marker byte always follows it.
        while True:
            if counter == LARGE_AFTER:
                plain = bytearray(BATCH * CHUNK)
                writer.go_large()
            view = memoryview(plain)
            n = read_full(src, view)
            full = n // CHUNK
            message_length += n
            if full:
                out = writer.take(full * SEALED_CHUNK)
                for i in range(full):
                    sealed = memoryview(out)[i * SEALED_CHUNK : (i + 1) * SEALED_CHUNK]
                    aead.encrypt_into(_nonce(counter, False), view[i * CHUNK : (i + 1) * CHUNK], None, sealed)
                    counter += 1
                writer.submit(out, full * SEALED_CHUNK)
            if n < len(plain):
                work = view[full * CHUNK : (full + 1) * CHUNK]  # in bounds: this read was short
                _seal_tail(aead, writer, counter, work, n - full * CHUNK, message_length)
                writer.finish()
                return message_length
    finally:
        writer.stop()


def _seal_tail(
    aead: AESGCM, writer: _Writer, counter: int, work: memoryview, n: int, message_length: int
) -> None:
    """From the message's last partial chunk (the first `n` bytes of the CHUNK-sized `work`, maybe
    none) on: the marker, the zeros, up to the last chunk of P. `work` is overwritten."""
    remaining = padded_length(message_length) - message_length  # marker plus zeros
    work[n] = MARKER
    work[n + 1 :] = _ZEROS[: CHUNK - n - 1]
    size = min(CHUNK, n + remaining)
    remaining -= size - n
    while True:
        last = remaining == 0
        out = writer.take(size + TAG)
        aead.encrypt_into(_nonce(counter, last), work[:size], None, memoryview(out)[: size + TAG])
        writer.submit(out, size + TAG)
        if last:
            return
        counter += 1
        size = min(CHUNK, remaining)
        remaining -= size
        work[:size] = _ZEROS[:size]


class _Writer:
    """Writes to `dst` in order: in the caller's thread, and after `go_large` on a second thread, so
    that writing overlaps the next batch's AES-GCM.

    Buffers come from `take` and go back to it after their write; at most two go round, made when
    first asked for (and again when a larger one is asked for). A failed write on the thread is
    raised in the caller's thread by the next `take` or by `finish`; nothing is written after it.
    """

    BUFFERS = 2

    def __init__(self, dst: BinaryIO) -> None:
        self._dst = dst
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._made = 0
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def go_large(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sealdrop-writer", daemon=True)
        self._thread.start()

    def take(self, size: int) -> bytearray:
        """A free buffer of at least `size` bytes; its first bytes may be handed back with `submit`."""
        while True:
            if self._made < self.BUFFERS and self._free.empty():
                self._made += 1
                return bytearray(size)
            buf = self._free.get()
            self._raise_error()
            if len(buf) >= size:
                return buf
            self._made -= 1  # outgrown: dropped, and a larger one made in its place

    def submit(self, buf: bytearray, n: int) -> None:
        """Write `buf[:n]` (n may be 0), then give `buf` back for reuse."""
        self._put(memoryview(buf)[:n], buf)

    def write(self, data: bytes) -> None:
        """Write an immutable piece (a held-back byte, a run of zeros) in its turn."""
        self._put(data, None)

    def finish(self) -> None:
        """Everything given is written, or its error raised."""
        self.stop()
        self._raise_error()

    def stop(self) -> None:
        """Wait for the thread to end; safe to call twice and after an error."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None

    def _put(self, data: bytes | memoryview, buf: bytearray | None) -> None:
        if self._thread is not None:
            self._todo.put((data, buf))
            return
        if data:
            write_all(self._dst, data)
        if buf is not None:
            self._free.put(buf)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            data, buf = item
            if self._error is None and data:
                try:
                    write_all(self._dst, data)
                except BaseException as e:  # handed to the caller's thread
                    self._error = e
            if buf is not None:
                self._free.put(buf)


class _Unpadder:
    """Writes plaintext out while holding back the possible padding: one byte and a zero count."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer
        self._held: int | None = None
        self._zeros = 0
        self.written = 0

    def feed(self, buf: bytearray, n: int) -> None:
        """Take the plaintext `buf[:n]`; `buf` goes back to the writer."""
        data = memoryview(buf)[:n]
        end = n
        if n == 0 or data[end - 1] == 0:
            end = _without_trailing_zeros(data)
            if end == 0:
                self._zeros += n
                self._writer.submit(buf, 0)
                return
        self._flush_held()
        # Only a 0x80 can be the marker: any other last byte is message, written now with the rest,
        # so the common batch costs one write, not a 1 MiB write plus a 1-byte one.
        if data[end - 1] == MARKER:
            self._held, keep = MARKER, end - 1
        else:
            self._held, keep = None, end
        self._writer.submit(buf, keep)
        self.written += keep
        self._zeros = n - end

    def finish(self) -> None:
        if self._held != MARKER:
            raise PayloadError("the payload's padding is malformed")

    def _flush_held(self) -> None:
        if self._held is not None:
            self._writer.write(bytes([self._held]))
            self.written += 1
        while self._zeros:
            step = min(self._zeros, CHUNK)
            self._writer.write(_ZEROS[:step])
            self.written += step
            self._zeros -= step


def _without_trailing_zeros(data: memoryview) -> int:
    """How long `data` is without its trailing zero bytes, looking back a chunk at a time (a batch
    of 1 MiB ending in padding need not be copied whole)."""
    end = len(data)
    while end:
        start = max(0, end - CHUNK)
        kept = len(bytes(data[start:end]).rstrip(b"\x00"))
        if kept:
            return start + kept
        end = start
    return 0


def open_payload(src: BinaryIO, dst: BinaryIO, key: bytes) -> int:
    """Decrypt, authenticate and unpad the payload from `src` into `dst`. Returns bytes written.

    Whether a chunk is the last one is known only once what follows it has been read: the first
    LARGE_AFTER chunks are read one ahead into two buffers taken in turn (`_open_small`), the rest
    BATCH at a time with the last chunk of each full read carried over to the next (`_open_large`).
    """
    aead = AESGCM(key)
    writer = _Writer(dst)
    unpadder = _Unpadder(writer)
    try:
        counter, rest = _open_small(aead, src, writer, unpadder)
        if rest is not None:
            _open_large(aead, src, rest, counter, writer, unpadder)
        unpadder.finish()
        writer.finish()
        return unpadder.written
    finally:
        writer.stop()


def _open_large(
    aead: AESGCM, src: BinaryIO, rest: memoryview, counter: int, writer: _Writer, unpadder: _Unpadder
) -> None:
    """Open the rest of a large payload, from chunk `counter`, whose first sealed bytes `rest` holds."""
    sealed = bytearray(BATCH * SEALED_CHUNK)
    sealed[: len(rest)] = rest
    have = len(rest)
    writer.go_large()
    while True:
        view = memoryview(sealed)
        n = have + read_full(src, view[have:])
        at_end = n < len(sealed)
        sizes = _chunk_sizes(n, counter) if at_end else [SEALED_CHUNK] * (BATCH - 1)
        _open_chunks(aead, view, sizes, counter, at_end, writer, unpadder)
        if at_end:
            return
        counter += len(sizes)
        sealed[:SEALED_CHUNK] = view[len(sealed) - SEALED_CHUNK :]  # disjoint: one plain copy
        have = SEALED_CHUNK


def _open_small(
    aead: AESGCM, src: BinaryIO, writer: _Writer, unpadder: _Unpadder
) -> tuple[int, memoryview | None]:
    """Open up to LARGE_AFTER chunks one by one, each read one chunk ahead. Returns how many were
    opened and, if the payload goes on, the sealed bytes read ahead (None: it ended)."""
    current, ahead = bytearray(SEALED_CHUNK), bytearray(SEALED_CHUNK)
    n = read_full(src, memoryview(current))
    counter = 0
    while counter < LARGE_AFTER:
        m = read_full(src, memoryview(ahead)) if n == SEALED_CHUNK else 0
        last = m == 0
        sizes = _chunk_sizes(n, counter) if last else [SEALED_CHUNK]
        _open_chunks(aead, memoryview(current), sizes, counter, last, writer, unpadder)
        counter += 1
        if last:
            return counter, None
        current, ahead, n = ahead, current, m
    return counter, memoryview(current)[:n]


def _open_chunks(
    aead: AESGCM,
    view: memoryview,
    sizes: list[int],
    counter: int,
    at_end: bool,
    writer: _Writer,
    unpadder: _Unpadder,
) -> None:
    """Open the sealed chunks of `sizes` at the start of `view`, numbered from `counter`, into one
    buffer for the unpadder; with `at_end` the last of them is the payload's last chunk."""
    plain = writer.take(sum(sizes))
    offset = 0
    for i, size in enumerate(sizes):
        last = at_end and i == len(sizes) - 1
        chunk = view[i * SEALED_CHUNK : i * SEALED_CHUNK + size]
        out = memoryview(plain)[offset : offset + size - TAG]
        try:
            aead.decrypt_into(_nonce(counter + i, last), chunk, None, out)
        except InvalidTag:  # what this read opened so far is dropped: dst keeps a true prefix
            raise PayloadError(_diagnose(aead, counter + i, last, chunk, out)) from None
        offset += size - TAG
    unpadder.feed(plain, offset)


def _chunk_sizes(n: int, counter: int) -> list[int]:
    """The sizes of the sealed chunks in the final `n` bytes of the payload; refuses a cut-short one."""
    if n == 0 and counter == 0:
        raise PayloadError("the envelope has no payload")
    full, rest = divmod(n, SEALED_CHUNK)
    if rest == 0:
        return [SEALED_CHUNK] * full
    if rest <= TAG:
        raise PayloadError("the payload is truncated (a chunk is cut short)")
    return [SEALED_CHUNK] * full + [rest]


def _diagnose(aead: AESGCM, counter: int, last: bool, sealed: memoryview, out: memoryview) -> str:
    """Say why a chunk failed: a chunk that opens with the other flag tells truncation or extra data."""
    try:
        aead.decrypt_into(_nonce(counter, not last), sealed, None, out)
    except InvalidTag:
        if last:  # the file ends inside this chunk: cut short, or extended, or altered
            return f"the last chunk ({counter}) of the payload fails authentication (cut, added to, altered)"
        return f"chunk {counter} of the payload fails authentication (altered, reordered or corrupt)"
    if last:
        return "the payload is truncated (it ends at a chunk boundary before its last chunk)"
    return "the payload has trailing data after its last chunk"
