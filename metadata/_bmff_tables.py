"""ISO BMFF sample tables (metadata/bmff.py's readers): a track's handler and sample entry, its chunk
offsets (stco, co64, saio) and where its samples lie in the file (stsc, stsz), read from the moov in
memory. A table that announces more than it holds refuses the file."""

from __future__ import annotations

import itertools
import struct
import sys
from array import array

from . import _boxes as boxes
from .errors import CannotClean

MAX_ENTRIES = 1 << 22  # chunk offsets in one table, and sample sizes
MAX_RANGES = 1 << 18  # timed-metadata chunks to zero (one a frame for an hour at 60 fps is 216 000)


def _track_kind(data: bytes, trak: boxes.Box) -> tuple[bytes, bytes]:
    """(handler type, first sample entry's format) of a track; b"" where absent."""
    hdlr = boxes.path(data, trak, (b"mdia", b"hdlr"))
    handler = bytes(data[hdlr.body + 8 : hdlr.body + 12]) if hdlr and hdlr.end - hdlr.body >= 12 else b""
    stsd = boxes.path(data, trak, (b"mdia", b"minf", b"stbl", b"stsd"))
    entry = b""
    if stsd is not None and stsd.end - stsd.body >= 16:
        entry = bytes(data[stsd.body + 12 : stsd.body + 16])
    return handler, entry


def _table_shape(data: bytes, box: boxes.Box) -> tuple[int, int]:
    """(where the entries start in the body, their width) of stco, co64 or saio; the count is just before."""
    if box.end - box.body < 4:
        raise CannotClean(f"the {box.name} box is cut short")
    if box.kind != b"saio":
        return 8, 4 if box.kind == b"stco" else 8
    version, flags = data[box.body], boxes.u32(data, box.body) & 0xFFFFFF
    return (16 if flags & 1 else 8), (8 if version else 4)


def _offsets(data: bytes, box: boxes.Box, width: int) -> array:
    skip, _ = _table_shape(data, box)
    if box.end - box.body < skip:
        raise CannotClean(f"the {box.name} box is cut short")
    count = boxes.u32(data, box.body + skip - 4)
    if skip + count * width > box.end - box.body or count > MAX_ENTRIES:
        raise CannotClean(f"the {box.name} box announces more entries than it holds")
    return _numbers(data[box.body + skip : box.body + skip + count * width], width)


def _numbers(raw: bytes, width: int) -> array:
    """Big-endian unsigned integers of `width` bytes, in an array (4 or 8 bytes each, not a Python int)."""
    values = array("I" if width == 4 else "Q", bytes(raw))
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _big_endian(values: array) -> bytes:
    if sys.byteorder == "little":
        values.byteswap()
    return values.tobytes()


def _sample_ranges(data: bytes, trak: boxes.Box) -> list[tuple[int, int]]:
    """The byte ranges of a track's samples in the file, chunk by chunk (stco/co64 + stsc + stsz)."""
    stbl = boxes.path(data, trak, (b"mdia", b"minf", b"stbl"))
    if stbl is None:
        return []
    by_kind = {b.kind: b for b in boxes.children(data, stbl.body, stbl.end)}
    table = by_kind.get(b"stco") or by_kind.get(b"co64")
    if table is None:
        return []
    chunks = _offsets(data, table, 4 if table.kind == b"stco" else 8)
    if not chunks:
        return []
    if b"stsc" not in by_kind or b"stsz" not in by_kind:
        raise CannotClean("a timed-metadata track without its sample tables")
    per_chunk = _samples_per_chunk(data, by_kind[b"stsc"], len(chunks))
    fixed, sizes = _sample_sizes(data, by_kind[b"stsz"])
    ranges, sample = [], 0
    for offset, n in zip(chunks, per_chunk, strict=False):
        if fixed:
            length = fixed * n
        else:
            if sample + n > len(sizes):
                raise CannotClean("the sample tables disagree")
            length = sum(sizes[sample : sample + n])
        sample += n
        if length:
            ranges.append((offset, offset + length))
            if len(ranges) > MAX_RANGES:
                raise CannotClean("too many timed-metadata samples to overwrite")
    return ranges


def _samples_per_chunk(data: bytes, stsc: boxes.Box, chunks: int) -> array:
    count = boxes.u32(data, stsc.body + 4) if stsc.end - stsc.body >= 8 else 0
    if count == 0 or 8 + 12 * count > stsc.end - stsc.body:
        raise CannotClean("the stsc box is empty or cut short")
    runs = [struct.unpack_from(">II", data, stsc.body + 8 + 12 * i) for i in range(count)]
    if runs[0][0] != 1 or any(b[0] <= a[0] for a, b in itertools.pairwise(runs)):
        raise CannotClean("the stsc runs are out of order")
    out = array("I")
    for i, (first, n) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else chunks
        out.extend(itertools.repeat(n, max(0, min(last, chunks) - first + 1)))
    return out


def _sample_sizes(data: bytes, stsz: boxes.Box) -> tuple[int, array]:
    if stsz.end - stsz.body < 12:
        raise CannotClean("the stsz box is cut short")
    fixed, count = struct.unpack_from(">II", data, stsz.body + 4)
    if fixed:
        return fixed, array("I")
    if 12 + 4 * count > stsz.end - stsz.body:
        raise CannotClean("the stsz box announces more samples than it holds")
    return 0, _numbers(data[stsz.body + 12 : stsz.body + 12 + 4 * count], 4)
