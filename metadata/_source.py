"""Where a cleaner reads from and what it writes: a random-access or forward-only source, and a
result made of pieces (ranges of the source and small new byte strings).

A cleaner never copies the file: it decides which ranges of the original survive and which small
parts are rewritten (a shrunken `moov`, a page with a new checksum, a zeroed tag). The same list of
pieces becomes a stream here (sealed on the no-JS path without a second copy of a 200 MiB video) and a
`Blob` of slices in the browser (clean.mjs), so the two implementations can be compared byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from .errors import CannotClean

COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Copy:
    """The bytes [start, end) of the source, unchanged."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


Piece = Copy | bytes


class Source(Protocol):
    """What cleaners read. `read_at` returns exactly `n` bytes or raises CannotClean (a file cut short)."""

    size: int

    def read_at(self, offset: int, n: int) -> bytes: ...


class BytesSource:
    """A file held in memory (the no-JS path's request buffer, the viewer's photo): random access."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.view = memoryview(data).cast("B")
        self.size = len(self.view)

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise CannotClean("the file ends inside a part it announces")
        return bytes(self.view[offset : offset + n])

    def slice(self, start: int, end: int) -> memoryview:
        return self.view[start:end]


class ForwardSource:
    """A stream read once from front to back (the viewer's decrypting pipe): a cleaner may skip
    forward but never read before what it has passed, so planning a large video costs no memory.
    Reading behind the current position raises CannotClean; every cleaner here reads forward only."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream, self.size, self.position = stream, size, 0

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < self.position or n < 0 or offset + n > self.size:
            raise CannotClean("the file ends inside a part it announces")
        self._skip(offset - self.position)
        data = _read_exactly(self.stream, n)
        self.position = offset + n
        return data

    def _skip(self, n: int) -> None:
        while n > 0:
            got = self.stream.read(min(n, COPY_CHUNK))
            if not got:
                raise CannotClean("the file ends inside a part it announces")
            n -= len(got)


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        got = stream.read(left)
        if not got:
            raise CannotClean("the file ends inside a part it announces")
        parts.append(got)
        left -= len(got)
    return b"".join(parts)


def merged(pieces: Iterable[Piece]) -> list[Piece]:
    """Adjacent copies joined and empty pieces dropped, so equal plans compare equal."""
    out: list[Piece] = []
    for p in pieces:
        if len(p) == 0:
            continue
        last = out[-1] if out else None
        if isinstance(p, Copy) and isinstance(last, Copy) and last.end == p.start:
            out[-1] = Copy(last.start, p.end)
        elif isinstance(p, bytes | bytearray) and isinstance(last, bytes):
            out[-1] = last + bytes(p)
        else:
            out.append(p if isinstance(p, Copy) else bytes(p))
    return out


def size_of(pieces: Sequence[Piece]) -> int:
    return sum(len(p) for p in pieces)


def iter_pieces(source: BytesSource, pieces: Sequence[Piece]) -> Iterator[memoryview | bytes]:
    """The cleaned file in chunks of at most COPY_CHUNK, views into the source where unchanged."""
    for p in pieces:
        if isinstance(p, Copy):
            for at in range(p.start, p.end, COPY_CHUNK):
                yield source.slice(at, min(at + COPY_CHUNK, p.end))
        else:
            yield p


class PiecesReader(io.RawIOBase):
    """A read-only stream over the pieces: what the sealer reads, chunk by chunk, without a copy of
    the whole cleaned file ever existing."""

    def __init__(self, source: BytesSource, pieces: Sequence[Piece]) -> None:
        self._chunks = iter_pieces(source, pieces)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out):
            if not self._pending:
                nxt = next(self._chunks, None)
                if nxt is None:
                    break
                self._pending = memoryview(nxt).cast("B")
            n = min(len(out) - filled, len(self._pending))
            out[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled
