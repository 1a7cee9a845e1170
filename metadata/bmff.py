"""ISO BMFF (MP4, MOV, 3GP, M4A) and HEIF/AVIF photos: what the boxes say about their maker, taken out.

A phone's video says where, when and with what it was made, in boxes beside the samples:
- `udta` (in `moov` or a `trak`): QuickTime `©xyz` (an ISO 6709 position), `©mak`/`©mod` (make and
  model), `©day`, `©nam`, `©ART`, `©too`; 3GPP `loci` (a position), `auth`, `titl`, `perf`, `dscp`;
  Samsung's `smta`; an iTunes `meta`/`ilst` (title, artist, date, cover picture);
- `meta` with Apple's `mdta` keys (com.apple.quicktime.location.ISO6709, .make, .model, .software,
  .creationdate), `uuid` boxes (XMP and vendors' own), `XMP_`;
- the creation and modification times of `mvhd`, `tkhd` and `mdhd`, to the second;
- timed-metadata tracks (handler `meta`, sample entries `mebx`, `camm`, `gpmd`) that carry a position
  for every frame, in samples inside `mdat`.
We drop every such box and every box we do not know (`free`/`skip`/`wide` too: they may hold old
data), zero the three times, remove timed-metadata tracks and zero their samples' bytes in `mdat` (so
no position stays behind as dead bytes). What playback needs stays bit for bit: `ftyp`, the track
tables, `mdat`, fragments (`moof`, `sidx`, `mfra`). When bytes before `mdat` disappear, every chunk
offset (`stco`/`co64`, and `saio` outside fragments), explicit fragment base offset (`tfhd`), fragment
index entry (`tfra`) and segment index size (`sidx`) is moved by one monotone map from old offsets to
new ones; an offset that would land in something we dropped or rebuilt refuses the file instead.
Subtitle and timecode tracks go the same way as timed metadata (dashcams and drones write their
position and speed as subtitles; a camera's timecode often runs on the time of day). Kept although
they could say something: sample-entry names (the codec's, "HEVC").

`moov` (tables only) is read into memory under MAX_MOOV; `mdat` is never read. Python reads strictly
front to back (the viewer plans over a decrypting pipe): the layout is learned from box headers in
order, and the new offsets are patched into the rebuilt `moov` once every box has been seen. Not
handled, so refused: a timed-metadata, subtitle or timecode track in a fragmented file (its samples
are in the fragments), metadata boxes inside a fragment, `ssix`, a compressed `cmov`; HEIF image
sequences (a `moov`).
HEIF/AVIF photos are heif.py's.
"""

from __future__ import annotations

import bisect
import itertools
import re
import struct
import sys
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import HEIF_BRANDS, Finding, Plan, heif
from . import _boxes as boxes
from ._boxes import MAX_MOOV, MAX_TOP, MAX_ZEROED, QUIET
from ._source import Copy, Piece, Source
from .errors import CannotClean

MAX_FRAGMENT = 16 << 20  # a moof, sidx or mfra box
MAX_FTYP = 4096
MAX_READ = 1 << 20  # a dropped top-level box is read for its findings up to this size
MAX_ENTRIES = 1 << 22  # chunk offsets in one table, and sample sizes
MAX_RANGES = 1 << 18  # timed-metadata chunks to zero (one a frame for an hour at 60 fps is 216 000)
ZERO_CHUNK = 1 << 20
# Boxes kept as they are, per container; anything else in moov/trak/mdia/minf/stbl is dropped.
MOOV_KEEP = {b"mvhd", b"trak", b"mvex", b"iods", b"pssh"}
TRAK_KEEP = {b"tkhd", b"edts", b"tref", b"mdia", b"tapt", b"trgr", b"load", b"txas", b"clip", b"matt"}
MDIA_KEEP = {b"mdhd", b"hdlr", b"minf", b"elng"}
MINF_KEEP = {b"vmhd", b"smhd", b"hmhd", b"nmhd", b"sthd", b"gmhd", b"dinf", b"hdlr", b"stbl"}
STBL_KEEP = {b"stsd", b"stts", b"ctts", b"cslg", b"stss", b"stsh", b"sdtp", b"stsc", b"stsz", b"stz2",
             b"stco", b"co64", b"sgpd", b"sbgp", b"subs", b"saiz", b"saio", b"senc", b"stps",
             b"padb"}  # fmt: skip
TIMED = {b"meta", b"camm", b"gpmd", b"mebx"}  # handlers and sample entries of timed metadata
# Tracks beside the picture and sound that are removed like timed metadata, samples zeroed: dashcams
# and drones write their GPS position and speed as subtitles, and a camera's timecode track often runs
# on the time of day. (kind of finding, what to call it) by handler or sample entry.
SIDE_TRACKS = {
    **dict.fromkeys((b"text", b"sbtl", b"subt", b"clcp", b"tx3g", b"wvtt", b"stpp", b"c608"),
                    ("text", "subtitles")),
    b"tmcd": ("time", "timecode"),
}  # fmt: skip
IN_FRAGMENT_METADATA = {b"udta", b"meta", b"uuid", b"XMP_"}
ITEM_BOXES = {
    b"hdlr",
    b"keys",
    b"iinf",
    b"iloc",
    b"pitm",
    b"iprp",
    b"iref",
    b"idat",
    b"dinf",
    b"ipro",
    b"grpl",
}

ATOM_KINDS = {
    **dict.fromkeys(("©xyz", "loci"), "place"),
    **dict.fromkeys(("©mak", "©mod", "manu", "modl"), "device"),
    **dict.fromkeys(("©day", "yrrc"), "time"),
    **dict.fromkeys(("©ART", "©aut", "auth", "perf", "aART", "©wrt", "©prd", "©cpy", "cprt", "©dir"),
                    "person"),
    **dict.fromkeys(("©too", "©swr", "©enc"), "software"),
    **dict.fromkeys(("©nam", "titl", "dscp", "©cmt", "©des", "desc", "ldes", "©inf", "kywd", "albm",
                     "©alb", "gnre", "©gen", "©lyr"), "text"),
    "covr": "thumbnail",
}  # fmt: skip  # anything else: other
KEY_KINDS = (
    ("place", re.compile(r"locat|direction|gps|xyz", re.I)),
    ("device", re.compile(r"make|model|camera|lens|serial", re.I)),
    ("software", re.compile(r"software|encoder", re.I)),
    ("time", re.compile(r"date|time", re.I)),
    ("person", re.compile(r"author|artist|owner|publisher|copyright|displayname", re.I)),
    ("text", re.compile(r"title|descri|comment|keyword|information|name", re.I)),
)
ASSET_TEXT = {b"titl", b"auth", b"perf", b"dscp", b"gnre", b"albm", b"cprt", b"kywd"}  # 3GPP strings


def plan(source: Source) -> Plan:
    if source.size < 8:
        raise CannotClean("too short for an ISO BMFF file")
    first = boxes.top_header(source, 0)
    if first.kind == b"ftyp":
        ftyp = boxes.read_body(source, first, MAX_FTYP, "ftyp")
        if len(ftyp) < 8:
            raise CannotClean("an ftyp box without its brands")
        if ftyp[:4] in HEIF_BRANDS:
            return heif.Photo(source, first, ftyp).plan()
        return _Movie(source, ftyp).plan(first)
    return _Movie(source, None).plan(first)


# -- the offset map -------------------------------------------------------------------------------


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


# -- movies ---------------------------------------------------------------------------------------


class _Movie:
    """A video or audio file: one pass over the top-level boxes, then the rebuilt moov and patches."""

    def __init__(self, source: Source, ftyp: bytes | None) -> None:
        self.source, self.ftyp = source, ftyp
        self.parts: list[_Part] = []
        self.found: list[Finding] = []
        self.moov: _Part | None = None
        self.dead: list[tuple[int, int]] = []  # bytes of dropped metadata items, to zero

    def plan(self, first: boxes.Box) -> Plan:
        box: boxes.Box | None = first
        while box is not None:
            self._top(box)
            box = self._next(box.end)
        if self.moov is None or self.moov.data is None:
            raise CannotClean("no moov box: nothing says how to play the samples")
        fragmented = any(p.box.kind == b"moof" for p in self.parts)
        movie = _MoovWriter(self.moov.data, self.found, self.moov.box.start)
        self.moov.data = movie.build()
        self.moov.moved = [
            (self.moov.box.start + s, self.moov.box.start + e, new) for s, e, new in movie.moved
        ]
        if movie.removed and (fragmented or movie.fragmented):
            # its samples live in the fragments, which we keep at their length
            raise CannotClean("a timed-metadata track in a fragmented file")
        offsets = self._layout()
        movie.patch(offsets)
        for part in self.parts:
            if part.fate == "same":
                _patch_top(part, offsets)
        return Plan(self._mime(movie), self._pieces(movie.zero + self.dead), self.found)

    def _next(self, pos: int) -> boxes.Box | None:
        left = self.source.size - pos
        if left == 0:
            return None
        if left < 8:
            self.found.append(Finding("other", "trailing data", f"{left} bytes"))
            return None
        return boxes.top_header(self.source, pos)

    def _top(self, box: boxes.Box) -> None:
        if len(self.parts) == MAX_TOP:
            raise CannotClean("too many top-level boxes")
        kind = box.kind
        if kind == b"ftyp" and box.start == 0:
            self.parts.append(_Part(box, "copy"))
        elif kind == b"moov":
            if self.moov is not None:
                raise CannotClean("two moov boxes")
            self.moov = _Part(box, "moov", boxes.read_whole(self.source, box, MAX_MOOV))
            self.parts.append(self.moov)
        elif kind in (b"mdat", b"styp"):
            self.parts.append(_Part(box, "copy"))
        elif kind in (b"moof", b"sidx", b"mfra"):
            self.parts.append(_Part(box, "same", boxes.read_whole(self.source, box, MAX_FRAGMENT)))
        elif kind == b"ssix":
            raise CannotClean("a subsegment index (ssix), which we do not rewrite")
        else:
            self.parts.append(_Part(box, "drop"))
            self._dropped(box)

    def _dropped(self, box: boxes.Box) -> None:
        """Findings of a top-level box we drop (read only when small)."""
        if box.kind in QUIET:
            return
        if box.kind == b"meta":  # read whatever its size: its items may have left bytes in mdat
            data = bytes(boxes.read_whole(self.source, box, MAX_FRAGMENT))
            self.found.extend(_box_findings(data, boxes.box_at(data, 0, len(data)), ""))
            self.dead += _dead_items(data, boxes.box_at(data, 0, len(data)), box.start)
        elif box.kind == b"udta" and box.end - box.body <= MAX_READ:
            data = bytes(boxes.read_whole(self.source, box, MAX_READ))
            self.found.extend(_box_findings(data, boxes.box_at(data, 0, len(data)), ""))
        else:
            self.found.append(boxes.other(box, ""))

    def _layout(self) -> _Map:
        at = 0
        for part in self.parts:
            part.new_start = at
            at += part.new_length
        return _Map(self.parts, self.source.size)

    def _pieces(self, zero: list[tuple[int, int]]) -> list[Piece]:
        zero = _check_zero(_merge_ranges(zero), self.parts)
        pieces: list[Piece] = []
        first = 0  # both lists are in file order: walk them together
        for part in self.parts:
            if part.fate == "copy":
                while first < len(zero) and zero[first][1] <= part.box.start:
                    first += 1
                last = first
                while last < len(zero) and zero[last][0] < part.box.end:
                    last += 1
                pieces += _zeroed(part.box.start, part.box.end, zero[first:last])
            elif part.fate != "drop" and part.data is not None:
                pieces.append(bytes(part.data))
        return pieces

    def _mime(self, movie: _MoovWriter) -> str:
        major = self.ftyp[:4] if self.ftyp else b"qt  "
        if major == b"qt  ":
            return "video/quicktime"
        if major[:3] in (b"3gp", b"3g2"):
            return "video/3gpp"
        if major in (b"M4A ", b"M4B ", b"M4P ") or not movie.video:
            return "audio/mp4"
        return "video/mp4"


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


# -- the movie header -----------------------------------------------------------------------------


@dataclass
class _Table:
    """A chunk-offset table in the rebuilt moov: where its entries are, how wide, their old values."""

    at: int
    width: int
    offsets: array


class _MoovWriter:
    """The moov box rebuilt: kept boxes copied, times zeroed, metadata and timed-metadata tracks left out."""

    def __init__(self, data: bytearray, found: list[Finding], base: int) -> None:
        self.data, self.found, self.base = data, found, base  # base: the file offset of moov
        self.out = bytearray()
        self.tables: list[_Table] = []
        self.zero: list[tuple[int, int]] = []
        self.video = False
        self.fragmented = False
        self.tracks = 0  # every trak, so `where` names the original's track
        self.kept = 0
        self.removed = 0
        self.moved: list[tuple[int, int, int]] = []  # boxes copied whole: (start, end, where in out)

    def build(self) -> bytearray:
        moov = boxes.box_at(self.data, 0, len(self.data))
        self._container(moov, "moov", self._moov_child)
        if self.kept == 0:
            raise CannotClean("no track left to play")
        return self.out

    def patch(self, offsets: _Map) -> None:
        for table in self.tables:
            new = array("Q", (offsets(old, data=True) for old in table.offsets))
            if new and max(new) >= 1 << (8 * table.width):
                raise CannotClean("a chunk offset does not fit its table")
            packed = _big_endian(array("I" if table.width == 4 else "Q", new))
            self.out[table.at : table.at + len(packed)] = packed

    def _container(self, box: boxes.Box, path: str, child) -> None:
        start = len(self.out)
        self.out += struct.pack(">I4s", 0, box.kind)
        for sub in boxes.children(self.data, box.body, box.end):
            child(sub, path)
        struct.pack_into(">I", self.out, start, len(self.out) - start)

    def _keep(self, box: boxes.Box) -> None:
        self.moved.append((box.start, box.end, len(self.out)))
        self.out += self.data[box.start : box.end]

    def _drop(self, box: boxes.Box, path: str) -> None:
        if box.kind not in QUIET:
            self.found.extend(_box_findings(self.data, box, path))
        if box.kind == b"meta":
            self.zero += _dead_items(self.data, box, self.base)

    def _moov_child(self, box: boxes.Box, path: str) -> None:
        if box.kind == b"mvhd":
            self._times(box, f"{path}/mvhd")
        elif box.kind == b"trak":
            self._trak(box, path)
        elif box.kind in MOOV_KEEP:
            self.fragmented |= box.kind == b"mvex"
            self._keep(box)
        elif box.kind == b"cmov":
            raise CannotClean("a compressed movie header (cmov)")
        else:
            self._drop(box, path)

    def _trak(self, box: boxes.Box, path: str) -> None:
        self.tracks += 1
        here = f"{path}/trak[{self.tracks}]"
        handler, entry = _track_kind(self.data, box)
        side = SIDE_TRACKS.get(entry) or SIDE_TRACKS.get(handler)
        if handler in TIMED or entry in TIMED or side:
            kind, label = side or ("other", "timed metadata")
            self.found.append(Finding(kind, here, f"{label} ({boxes.name(entry or handler)})"))
            self.zero += _sample_ranges(self.data, box)
            self.removed += 1
            return
        self.kept += 1
        self.video |= handler == b"vide"
        self._container(box, here, self._trak_child)

    def _trak_child(self, box: boxes.Box, path: str) -> None:
        if box.kind == b"tkhd":
            self._times(box, f"{path}/tkhd")
        elif box.kind == b"mdia":
            self._container(box, f"{path}/mdia", self._mdia_child)
        elif box.kind in TRAK_KEEP:
            self._keep(box)
        else:
            self._drop(box, path)

    def _mdia_child(self, box: boxes.Box, path: str) -> None:
        if box.kind == b"mdhd":
            self._times(box, f"{path}/mdhd")
        elif box.kind == b"minf":
            self._container(box, f"{path}/minf", self._minf_child)
        elif box.kind in MDIA_KEEP:
            self._keep(box)
        else:
            self._drop(box, path)

    def _minf_child(self, box: boxes.Box, path: str) -> None:
        if box.kind == b"stbl":
            self._container(box, f"{path}/stbl", self._stbl_child)
        elif box.kind in MINF_KEEP:
            self._keep(box)
        else:
            self._drop(box, path)

    def _stbl_child(self, box: boxes.Box, path: str) -> None:
        if box.kind in (b"stco", b"co64", b"saio"):  # file offsets (saio's too, outside a fragment)
            skip, width = _table_shape(self.data, box)
            at = len(self.out) + (box.body - box.start) + skip
            self.tables.append(_Table(at, width, _offsets(self.data, box, width)))
            self._keep(box)
        elif box.kind in STBL_KEEP:
            self._keep(box)
        else:
            self._drop(box, path)

    def _times(self, box: boxes.Box, where: str) -> None:
        """Copies mvhd, tkhd or mdhd with its creation and modification times zeroed."""
        width = 8 if box.body < box.end and self.data[box.body] == 1 else 4
        if box.end - box.body < 4 + 2 * width:
            raise CannotClean(f"the {box.name} box is cut short")
        fmt = ">QQ" if width == 8 else ">II"
        created, modified = struct.unpack_from(fmt, self.data, box.body + 4)
        if created or modified:
            self.found.append(Finding("time", where, _mac_time(created or modified)))
        at = len(self.out) + (box.body - box.start) + 4
        self._keep(box)
        self.out[at : at + 2 * width] = bytes(2 * width)


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


def _mac_time(seconds: int) -> str:
    """A QuickTime time (seconds since 1904) as a date, or the number when it is absurd."""
    if seconds > 8_000_000_000:
        return str(seconds)
    return (datetime(1904, 1, 1) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


# -- fragments ------------------------------------------------------------------------------------


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


# -- findings in metadata boxes -------------------------------------------------------------------


def _box_findings(data: bytes, box: boxes.Box, path: str) -> list[Finding]:
    """What a dropped box held. Its content is parsed leniently: it goes whatever it says."""
    try:
        if box.kind == b"udta":
            return _udta_findings(data, box, _join(path, "udta"))
        if box.kind == b"meta":
            return _meta_findings(data, box, _join(path, "meta"))
    except (CannotClean, struct.error, IndexError):
        pass
    return [boxes.other(box, path)]


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _udta_findings(data: bytes, udta: boxes.Box, path: str) -> list[Finding]:
    found = []
    for box in boxes.children(data, udta.body, udta.end):
        if box.kind == b"meta":
            found += _meta_findings(data, box, f"{path}/meta")
        elif box.kind in (b"XMP_", b"uuid") or box.kind in QUIET:
            found += [] if box.kind in QUIET else [boxes.other(box, path)]
        else:
            kind = _atom_kind(box.name)
            found.append(Finding(kind, f"{path}/{box.name}", _atom_value(data, box)))
    return found


def _atom_kind(name: str) -> str:
    return ATOM_KINDS.get(name, "other")


def _key_kind(key: str) -> str:
    return next((kind for kind, pattern in KEY_KINDS if pattern.search(key)), "other")


def _meta_findings(data: bytes, meta: boxes.Box, path: str) -> list[Finding]:
    """An iTunes (mdir) or Apple (mdta) metadata box: one finding per item of its ilst."""
    children = boxes.meta_children(data, meta)
    keys = _keys(data, next((b for b in children if b.kind == b"keys"), None))
    found = []
    for box in children:
        if box.kind == b"ilst":
            for item in boxes.children(data, box.body, box.end):
                index = boxes.u32(data, item.start + 4)
                if keys and 1 <= index <= len(keys):
                    name = keys[index - 1]
                    kind = _key_kind(name)
                else:
                    name = _freeform_name(data, item) if item.kind == b"----" else item.name
                    kind = _atom_kind(name) if item.kind != b"----" else _key_kind(name)
                found.append(Finding(kind, f"{path}/{name}", _atom_value(data, item)))
        elif box.kind == b"iinf":
            found += [
                Finding("other", f"{path}/{kind}", kind) for kind in heif.item_kinds(data, box).values()
            ]
        elif box.kind not in ITEM_BOXES and box.kind not in QUIET:
            found.append(boxes.other(box, path))
    return found


def _dead_items(data: bytes, meta: boxes.Box, base: int) -> list[tuple[int, int]]:
    """The file ranges of the Exif and XMP items of a meta box we drop: outside it (in mdat) their bytes
    would stay behind, unreferenced, so they are zeroed; inside it (idat) they go with it. A box we cannot
    read has no items anyone could find."""
    try:
        items = heif.exif_and_xmp_items(data, meta, base)
    except (CannotClean, struct.error, IndexError):
        return []
    inside = (base + meta.start, base + meta.end)
    return [(s, e) for item in items for s, e in item.extents if not (inside[0] <= s and e <= inside[1])]


def _keys(data: bytes, box: boxes.Box | None) -> list[str]:
    """The names of an mdta keys box (each entry: size, namespace, name)."""
    if box is None or box.end - box.body < 8:
        return []
    names, pos = [], box.body + 8
    for _ in range(min(boxes.u32(data, box.body + 4), 4096)):
        if pos + 8 > box.end:
            break
        size = boxes.u32(data, pos)
        if size < 8 or pos + size > box.end:
            break
        names.append(data[pos + 8 : pos + size].decode("utf-8", "replace"))
        pos += size
    return names


def _freeform_name(data: bytes, item: boxes.Box) -> str:
    name = boxes.child(data, item.body, item.end, b"name")
    return boxes.text(data[name.body + 4 : name.end]) if name else "----"


def _atom_value(data: bytes, box: boxes.Box) -> str:
    """A short readable value of a metadata atom, as its kind of box stores it."""
    body = data[box.body : box.end]
    if body[4:8] == b"data" and len(body) >= 16:
        size = min(boxes.u32(body, 0), len(body))
        return boxes.text(body[16:size]) if body[11] in (0, 1) else ""
    if box.kind == b"loci":
        return _loci(body)
    if box.kind.startswith(b"\xa9") and len(body) >= 4:
        return boxes.text(body[4 : 4 + struct.unpack_from(">H", body)[0]])
    if box.kind in ASSET_TEXT and len(body) > 6:
        return boxes.text(body[6:])
    if box.kind == b"yrrc" and len(body) >= 6:
        return str(struct.unpack_from(">H", body, 4)[0])
    return ""


def _loci(body: bytes) -> str:
    """A 3GPP location: language, name, role, then longitude, latitude, altitude in 16.16 fixed point."""
    end = _string_end(body, 6)
    if end + 10 > len(body):
        return boxes.text(body[6:])
    lon, lat = struct.unpack_from(">ii", body, end + 2)  # after the name's NUL and the role byte
    return f"{lat / 65536:+.4f}{lon / 65536:+.4f} {boxes.text(body[6:end])}".strip()


def _string_end(body: bytes, start: int) -> int:
    """The end of a NUL-terminated 3GPP string at `start` (UTF-16 with a byte-order mark, or UTF-8)."""
    if body[start : start + 2] in (b"\xfe\xff", b"\xff\xfe"):
        for i in range(start + 2, len(body) - 1, 2):
            if body[i] == 0 and body[i + 1] == 0:
                return i + 1
        return len(body)
    nul = body.find(b"\0", start)
    return len(body) if nul < 0 else nul
