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
HEIF/AVIF photos are heif.py's. Beside this file: _bmff_tables.py reads the sample tables,
_bmff_findings.py says what the dropped boxes held, _bmff_offsets.py maps old offsets to new ones and
patches the fragments through the map.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from . import HEIF_BRANDS, Finding, Plan, heif
from . import _boxes as boxes
from ._bmff_findings import _box_findings, _dead_items, _mac_time
from ._bmff_offsets import _check_zero, _Map, _merge_ranges, _Part, _patch_top, _zeroed
from ._bmff_tables import _big_endian, _offsets, _sample_ranges, _table_shape, _track_kind
from ._boxes import MAX_MOOV, MAX_TOP, QUIET
from ._source import Piece, Source
from .errors import CannotClean

MAX_FRAGMENT = 16 << 20  # a moof, sidx or mfra box
MAX_FTYP = 4096
MAX_READ = 1 << 20  # a dropped top-level box is read for its findings up to this size
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
