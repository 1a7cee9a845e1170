"""Import with reading and opening overlapped (docs/viewer.md, "Import").

The importer's thread reads the bundle and hashes each item (the signed manifest's SHA-256); two
worker threads take each attachment envelope's bytes from memory as they go by: one writes them into
the vault's file, one opens them (AES-GCM and the plaintext's SHA-256, against the report's list).
Hashing, AES-GCM and file writes release the GIL, so the bundle is read once and its bytes are worked
on by all three at the same time, not one pass after another. The plaintext never leaves
the worker: it is hashed, counted, its first bytes kept (to tell the media type), and dropped.

Memory is bounded: every envelope's bytes wait in a `Pipe`, and all pipes together hold at most
`IN_FLIGHT` bytes; the reader waits when the worker is behind.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import crypto
from crypto import DecryptionKey

IN_FLIGHT = 32 << 20  # bytes read but not yet opened, across every pipe
HEAD = 64  # plaintext bytes kept to tell the media type


class Aborted(Exception):
    """The import gave up (a refused bundle, an error): the worker stops where it is."""


class _Budget:
    """How many bytes may wait in pipes: the reader takes, the worker gives back."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self._free = limit
        self._limit = limit

    def take(self, n: int) -> None:
        n = min(n, self._limit)
        with self._cond:
            while self._free < n:
                self._cond.wait()
            self._free -= n

    def give(self, n: int) -> None:
        with self._cond:
            self._free = min(self._limit, self._free + n)
            self._cond.notify_all()


class Pipe:
    """One envelope's bytes, from the reader to the worker: `put`/`close` on one side, a file for
    `crypto.unseal` (`read`, `readinto`) on the other."""

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self._cond = threading.Condition()
        self._chunks: collections.deque[memoryview] = collections.deque()
        self._eof = self._done = self._aborted = False

    # -- the reader's side --

    def put(self, data: bytes) -> None:
        if self._done:  # the worker already knows this envelope does not open: drop the rest
            return
        self._budget.take(len(data))
        with self._cond:
            if self._done:
                self._budget.give(len(data))
                return
            self._chunks.append(memoryview(data))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._cond.notify()

    # -- the worker's side --

    def readinto(self, b) -> int:
        view, filled = memoryview(b).cast("B"), 0
        with self._cond:
            while not self._chunks and not self._eof and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise Aborted
            while self._chunks and filled < len(view):
                chunk = self._chunks[0]
                n = min(len(chunk), len(view) - filled)
                view[filled : filled + n] = chunk[:n]
                filled += n
                if n == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[n:]
        self._budget.give(filled)
        return filled

    def read(self, n: int = -1) -> bytes:
        buf = bytearray(n if n >= 0 else 1 << 20)
        return bytes(buf[: self.readinto(buf)])

    def finish(self) -> None:
        """The worker is done with this envelope: whatever still waits is given back."""
        with self._cond:
            self._done = True
            left = sum(len(c) for c in self._chunks)
            self._chunks.clear()
        self._budget.give(left)


@dataclass
class Opened:
    """What opening an attachment's envelope found out."""

    opened: bool
    problem: str = ""
    not_for_us: bool = False
    size: int | None = None
    sha256: str | None = None
    head: bytes = b""


class _Inspecting:
    """Where an attachment's plaintext goes on import: hashed, counted, its first bytes kept, dropped."""

    def __init__(self) -> None:
        self.hash, self.size, self.head = hashlib.sha256(), 0, b""

    def write(self, data) -> int:
        if len(self.head) < HEAD:
            self.head += bytes(data[: HEAD - len(self.head)])
        self.hash.update(data)  # hashlib releases the GIL for anything over 2 KiB
        self.size += len(data)
        return len(data)


def _open(pipe: Pipe, keys: Sequence[DecryptionKey]) -> Opened:
    """Open one envelope from memory: does it open with our key, what is in it."""
    plain = _Inspecting()
    try:
        crypto.unseal(pipe, plain, keys)
    except crypto.NoMatch:
        return Opened(False, "Sealed to other officers, not to you.", not_for_us=True)
    except crypto.EnvelopeError as e:
        return Opened(False, f"The envelope is damaged ({e.expect}).")
    finally:
        pipe.finish()
    return Opened(True, size=plain.size, sha256=plain.hash.hexdigest(), head=plain.head)


def _write(pipe: Pipe, make_file: Callable) -> Path | None:
    """Write one envelope into its vault file (`make_file()`); returns the file if this import made it."""
    out = None
    try:
        out = make_file()
        buf = bytearray(1 << 20)
        while n := pipe.readinto(buf):
            out.write(memoryview(buf)[:n])
        return out.keep()
    except BaseException:
        if out is not None:
            out.discard()
        raise
    finally:
        pipe.finish()


@dataclass
class Feed:
    """Where the reader puts one envelope's bytes: to the writer and to the opener, the same bytes."""

    pipes: tuple[Pipe, Pipe]
    opened: Future[Opened]
    written: Future[Path | None]

    def put(self, data: bytes) -> None:
        for pipe in self.pipes:
            pipe.put(data)

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.close()


class Opener:
    """Two worker threads, each taking the envelopes in the order they are handed over: one writes
    them into the vault, one opens them. Both wait on the disk or on C code that drops the GIL."""

    def __init__(self, keys: Sequence[DecryptionKey], in_flight: int | None = None) -> None:
        self._keys = list(keys)
        self._budget = _Budget(in_flight or IN_FLIGHT)
        self._opener = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sealview-open")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sealview-write")
        self._pipes: list[Pipe] = []

    def start(self, make_file: Callable) -> Feed:
        """A feed for one envelope: `make_file()` gives its vault file; the futures say whether it
        opened and which file was made."""
        to_open, to_write = Pipe(self._budget), Pipe(self._budget)
        self._pipes = [p for p in self._pipes if not p._done]
        self._pipes += [to_open, to_write]
        return Feed(
            (to_open, to_write),
            self._opener.submit(_open, to_open, self._keys),
            self._writer.submit(_write, to_write, make_file),
        )

    def __enter__(self) -> Opener:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None:
            for pipe in self._pipes:
                pipe.abort()
        for pool in (self._opener, self._writer):
            pool.shutdown(wait=True, cancel_futures=exc_type is not None)
