"""The ISO BMFF rewrite's offsets (metadata/bmff.py): what becomes of each top-level box, the monotone
map from old file offsets to new ones, the fragments (moof, sidx, mfra/tfra) patched through it at
their length, and the byte ranges of timed metadata zeroed inside the mdat that is copied."""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

from . import _boxes as boxes
from ._boxes import MAX_ZEROED
from ._source import Copy, Piece
from .errors import CannotClean

ZERO_CHUNK = 1 << 20
IN_FRAGMENT_METADATA = {b"udta", b"meta", b"uuid", b"XMP_"}


@dataclass
class _Part:
    """A top-level box and what becomes of it: copied, rewritten to the same length, rebuilt, dropped."""

    box: boxes.Box
    fate: str  # "copy", "same" (patched in place), "moov" (rebuilt), "drop"
    data: bytearray | None = None
    new_start: int = 0
    moved: list[tuple[int, int, int]] = field(default_factory=list)  # moov: (old start, old end, new start)

    @property
    def new_length(self) -> int:
        if self.fate == "drop":
            return 0
        if self.fate == "moov" and self.data is not None:
            return len(self.data)
        return self.box.end - self.box.start


class _Map:
    """Old file offsets to new ones: monotone, linear inside every box kept at its length."""

    def __init__(self, parts: list[_Part], size: int) -> None:
        self.parts, self.size = parts, size
        self.starts = [p.box.start for p in parts]
        self.total = sum(p.new_length for p in parts)

    def __call__(self, old: int, data: bool = False) -> int:
        """The new offset of `old`; `data`: it must point at bytes we keep (a chunk, a fragment's data)."""
        if old == self.size and not data:
            return self.total
        i = bisect.bisect_right(self.starts, old) - 1
        if i < 0 or old >= self.parts[i].box.end:
            raise CannotClean("an offset points outside the boxes of the file")
        part = self.parts[i]
        if part.fate in ("copy", "same"):
            return part.new_start + old - part.box.start
        if old == part.box.start and not data:
            return part.new_start
        if part.fate == "moov":  # a box kept whole inside moov (saio may point at senc there)
            j = bisect.bisect_right(part.moved, (old, 1 << 64)) - 1
            if j >= 0 and old < part.moved[j][1]:
                start, _, new = part.moved[j]
                return part.new_start + new + old - start
        raise CannotClean(f"an offset points into the {part.box.name} box, which we rewrite")


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _check_zero(zero: list[tuple[int, int]], parts: list[_Part]) -> list[tuple[int, int]]:
    """The ranges to zero that lie in the payload of an mdat we keep (those inside a box we drop go with
    it); anything else, or too much in all, refuses the file."""
    if sum(e - s for s, e in zero) > MAX_ZEROED:
        raise CannotClean("too many bytes of timed metadata to overwrite")
    starts = [p.box.start for p in parts]
    kept = []
    for start, end in zero:
        part = parts[max(0, bisect.bisect_right(starts, start) - 1)]
        box = part.box
        if box.kind == b"mdat" and box.body <= start and end <= box.end:
            kept.append((start, end))
        elif not (part.fate == "drop" and box.start <= start and end <= box.end):
            raise CannotClean("metadata samples or items outside the media data")
    return kept


def _zeroed(start: int, end: int, zero: list[tuple[int, int]]) -> list[Piece]:
    """The range [start, end) as copies, with the zero ranges inside it as zero bytes."""
    pieces: list[Piece] = []
    at = start
    for zs, ze in zero:
        if ze <= at or zs >= end:
            continue
        pieces.append(Copy(at, max(at, zs)))
        zs = max(zs, at)
        for chunk in range(zs, min(ze, end), ZERO_CHUNK):
            pieces.append(bytes(min(ZERO_CHUNK, min(ze, end) - chunk)))
        at = min(ze, end)
    pieces.append(Copy(at, end))
    return [p for p in pieces if len(p)]


def _patch_top(part: _Part, offsets: _Map) -> None:
    data = part.data
    assert data is not None
    box = boxes.box_at(data, 0, len(data))
    if box.kind == b"moof":
        _patch_moof(data, box, offsets)
    elif box.kind == b"sidx":
        _patch_sidx(data, box, part.box.end, offsets)
    else:
        for tfra in boxes.children(data, box.body, box.end):
            if tfra.kind == b"tfra":
                _patch_tfra(data, tfra, offsets)


def _patch_moof(data: bytearray, moof: boxes.Box, offsets: _Map) -> None:
    """A fragment keeps its length; only an explicit base data offset (absolute) moves."""
    for box in boxes.children(data, moof.body, moof.end):
        if box.kind in IN_FRAGMENT_METADATA:
            raise CannotClean("metadata inside a movie fragment")
        if box.kind != b"traf":
            continue
        for sub in boxes.children(data, box.body, box.end):
            if sub.kind in IN_FRAGMENT_METADATA:
                raise CannotClean("metadata inside a track fragment")
            if sub.kind == b"tfhd" and sub.end - sub.body >= 8 and boxes.u32(data, sub.body) & 1:
                boxes.need(sub.body + 16, sub.end, "tfhd")
                old = struct.unpack_from(">Q", data, sub.body + 8)[0]
                struct.pack_into(">Q", data, sub.body + 8, offsets(old, data=True))


def _patch_sidx(data: bytearray, sidx: boxes.Box, anchor: int, offsets: _Map) -> None:
    """A segment index: its first offset (from its end) and every referenced size, through the map."""
    version = data[sidx.body] if sidx.end > sidx.body else 0
    wide = 8 if version else 4
    head = sidx.body + 12 + 2 * wide
    boxes.need(head + 4, sidx.end, "sidx")
    first_at = sidx.body + 12 + wide
    fmt = ">Q" if wide == 8 else ">I"
    first = anchor + struct.unpack_from(fmt, data, first_at)[0]
    count = struct.unpack_from(">H", data, head + 2)[0]
    boxes.need(head + 4 + 12 * count, sidx.end, "sidx")
    new_anchor = offsets(anchor)
    struct.pack_into(fmt, data, first_at, offsets(first) - new_anchor)
    at = first
    for i in range(count):
        pos = head + 4 + 12 * i
        word = boxes.u32(data, pos)
        size = word & 0x7FFFFFFF
        new_size = offsets(at + size) - offsets(at)
        struct.pack_into(">I", data, pos, (word & 0x80000000) | new_size)
        at += size


def _patch_tfra(data: bytearray, tfra: boxes.Box, offsets: _Map) -> None:
    """The random-access index of a fragmented file: each entry names a moof by its file offset."""
    boxes.need(tfra.body + 16, tfra.end, "tfra")
    version = data[tfra.body]
    sizes = boxes.u32(data, tfra.body + 8)
    extra = ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
    wide = 8 if version == 1 else 4
    count = boxes.u32(data, tfra.body + 12)
    step = 2 * wide + extra
    boxes.need(tfra.body + 16 + step * count, tfra.end, "tfra")
    fmt = ">Q" if wide == 8 else ">I"
    for i in range(count):
        at = tfra.body + 16 + step * i + wide
        struct.pack_into(fmt, data, at, offsets(struct.unpack_from(fmt, data, at)[0]))
