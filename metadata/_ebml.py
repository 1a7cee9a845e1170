"""EBML, the element format under Matroska and WebM (metadata/matroska.py's readers): element headers
parsed out of a forward read-ahead window, the children of a master held in memory, and the Void
element that overwrites one of the same length."""

from __future__ import annotations

from collections.abc import Iterator

from ._source import Source
from .errors import CannotClean

WINDOW = 1 << 16  # element headers are parsed out of reads this large, not one read each
MAX_VOID = 16 << 20  # the largest element we overwrite (the Void's zeros are new bytes in memory)
EBML, VOID, CRC32 = 0x1A45DFA3, 0xEC, 0xBF  # EBML's own: the header, Void, CRC-32 (Matroska's are there)
WIDTHS = bytes(9 - b.bit_length() for b in range(256))  # an EBML integer's length by its first byte
ONES = [(1 << (7 * w)) - 1 for w in range(9)]  # the value bits of a w-byte EBML integer, all set


class _Window:
    """Forward reads through a read-ahead buffer: many element headers come out of one source read."""

    def __init__(self, source: Source) -> None:
        self.source, self.start, self.data = source, 0, b""

    def get(self, pos: int, n: int) -> bytes:
        """Up to n bytes at pos (fewer where the file ends). Never reads behind the last read."""
        n = min(n, self.source.size - pos)
        if n <= 0:
            return b""
        end = self.start + len(self.data)
        if self.start <= pos and pos + n <= end:
            return self.data[pos - self.start : pos - self.start + n]
        if pos < self.start:
            raise CannotClean("the Matroska walk went backwards")  # a bug, not a file: never expected
        kept = self.data[pos - self.start :] if pos < end else b""
        more = min(max(n, WINDOW) - len(kept), self.source.size - pos - len(kept))
        self.data, self.start = kept + self.source.read_at(pos + len(kept), more), pos
        return self.data[:n]

    def exactly(self, pos: int, n: int) -> bytes:
        data = self.get(pos, n)
        if len(data) != n:
            raise CannotClean("the file ends inside a Matroska element")
        return data


def _header(data: bytes, at: int) -> tuple[int, int | None, int] | None:
    """(ID, size or None when unknown, header length) of the element at data[at:]; None when the data
    ends inside the header. Called for every block of a MediaRecorder file: kept lean."""
    n = len(data)
    if at >= n:
        return None
    id_width = WIDTHS[data[at]]
    if id_width > 4:
        raise CannotClean("a Matroska element ID longer than 4 bytes")
    at_size = at + id_width
    if at_size >= n:
        return None
    eid = data[at] if id_width == 1 else int.from_bytes(data[at:at_size], "big")
    if eid & ONES[id_width] == ONES[id_width]:  # all ones is reserved (all zeros too, but 0x80 is used)
        raise CannotClean("a reserved Matroska element ID")
    size_width = WIDTHS[data[at_size]]
    if size_width > 8:
        raise CannotClean("a Matroska element size longer than 8 bytes")
    if at_size + size_width > n:
        return None
    ones = ONES[size_width]
    size = (
        data[at_size] if size_width == 1 else int.from_bytes(data[at_size : at_size + size_width], "big")
    ) & ones
    return eid, None if size == ones else size, id_width + size_width


def _children(data: bytes, lo: int, hi: int) -> Iterator[tuple[int, int, int, int]]:
    """(ID, start, body, end) of each child in data[lo:hi], which must hold them exactly."""
    pos = lo
    while pos < hi:
        h = _header(data, pos)
        if h is None or h[1] is None or pos + h[2] + h[1] > hi:
            raise CannotClean("a Matroska element does not fit in its parent")
        eid, size, length = h
        yield eid, pos, pos + length, pos + length + size
        pos += length + size


def void(total: int) -> bytes:
    """An EBML Void element of exactly `total` bytes (header and zeros), the smallest size field that
    makes the lengths add up (a 1-byte size of 127 would read as "unknown", so 129 bytes take 2)."""
    if total > MAX_VOID:
        raise CannotClean(f"a Matroska element of {total} bytes to remove is too large")
    for width in range(1, 9):
        body = total - 1 - width
        if 0 <= body <= (1 << (7 * width)) - 2:
            return bytes([VOID]) + (body | 1 << (7 * width)).to_bytes(width, "big") + bytes(body)
    raise CannotClean("a Matroska element too short to overwrite")  # only under 2 bytes: never
