"""HEIF/AVIF photos (the same container, one `meta` box of items) are cleaned in place: the Exif item and
the XMP item (found through `iinf` and `iloc`) are overwritten by an empty Exif block and an empty XMP
packet padded to the same length, so every size and offset stays valid and the picture decodes the
same; Chromium cannot decode HEIC, so re-encoding is not an option in the browser.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from dataclasses import dataclass, field

from . import Finding, Plan
from . import _boxes as boxes
from ._boxes import MAX_MOOV, MAX_TOP, MAX_ZEROED, QUIET
from ._source import Copy, Piece, Source
from .errors import CannotClean

MAX_ITEM = 4 << 20  # an Exif or XMP item of a photo is read for its findings up to this size
MAX_EXTENTS = 1 << 16  # items and their extents in a HEIF meta box
EMPTY_EXIF = b"\0\0\0\x06Exif\0\0MM\0*\0\0\0\x08\0\0\0\0\0\0"  # an Exif item with an empty IFD0
EMPTY_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'  # padded with spaces, as XMP packets are


# Exif tags (IFD0, the Exif IFD) by what they give away.
EXIF_TAGS = {
    0x010F: ("device", "Make"), 0x0110: ("device", "Model"), 0x0131: ("software", "Software"),
    0x0132: ("time", "DateTime"), 0x013B: ("person", "Artist"), 0x8298: ("person", "Copyright"),
    0x010E: ("text", "ImageDescription"), 0x9003: ("time", "DateTimeOriginal"),
    0x9004: ("time", "DateTimeDigitized"), 0xA430: ("person", "CameraOwnerName"),
    0xA431: ("device", "BodySerialNumber"), 0xA433: ("device", "LensMake"), 0xA434: ("device", "LensModel"),
    0xA435: ("device", "LensSerialNumber"), 0x9286: ("text", "UserComment"),
    0xA420: ("other", "ImageUniqueID"),
}  # fmt: skip
EXIF_IFD, GPS_IFD = 0x8769, 0x8825

# -- photos (HEIF, AVIF) --------------------------------------------------------------------------


@dataclass
class _Item:
    kind: str  # "Exif" or "XMP"
    extents: list[tuple[int, int]]  # file ranges
    content: bytearray = field(default_factory=bytearray)
    unread: bool = False  # too large to read for its findings (overwritten all the same)


class Photo:
    """A HEIF/AVIF picture: its Exif and XMP items overwritten in place, nothing moved."""

    def __init__(self, source: Source, ftyp: boxes.Box, brands: bytes) -> None:
        self.source, self.ftyp, self.brands = source, ftyp, brands
        self.found: list[Finding] = []
        self.zero: list[tuple[int, int, bytes]] = []  # (start, end, replacement) beside meta
        # where the items' bytes are (the picture's among them): starts in order, and how far they reach
        self.extent_starts: list[int] = []
        self.extent_reach: list[int] = []
        self.boxes = 0

    def plan(self) -> Plan:
        before = self._find_meta(self.ftyp.end)
        box = before.pop()
        meta = boxes.read_whole(self.source, box, MAX_MOOV)
        top = boxes.box_at(meta, 0, len(meta))
        items = exif_and_xmp_items(meta, top, box.start)
        extents = sorted(_file_extents(meta, top))
        self.extent_starts = [start for start, _ in extents]
        self.extent_reach = list(itertools.accumulate((end for _, end in extents), max))
        for earlier in before:
            self._blank_unless_items(earlier)
        pending = self._overwrite(meta, box, items)
        self._rest(box.end, pending)
        for item in items:
            self.found += _item_findings(item)
        if sum(e - s for s, e, _ in self.zero) > MAX_ZEROED:
            raise CannotClean("the photo's metadata items are too large")
        replaced = sorted([*self.zero, (box.start, box.end, bytes(meta))], key=lambda r: (r[0], r[1]))
        if any(b[0] < a[1] for a, b in itertools.pairwise(replaced)):
            raise CannotClean("a photo's metadata items overlap")
        pieces: list[Piece] = []
        at = 0
        for start, end, new in replaced:
            pieces += [Copy(at, start), new]
            at = end
        pieces.append(Copy(at, self.source.size))
        return Plan(self._mime(), pieces, self.found)

    def _find_meta(self, pos: int) -> list[boxes.Box]:
        """The boxes from `pos` to the meta box, which comes last."""
        seen = []
        while pos + 8 <= self.source.size:
            box = self._header(pos)
            seen.append(box)
            if box.kind == b"meta":
                return seen
            if box.kind not in (b"mdat", b"free", b"skip", b"wide"):
                raise CannotClean(f"a {box.name} box before the photo's meta box")
            pos = box.end
        raise CannotClean("a HEIF file without its meta box")

    def _overwrite(self, meta: bytearray, box: boxes.Box, items: list[_Item]) -> list[tuple[int, int, _Item]]:
        """Overwrites the items inside meta (idat) now; returns the extents after it, to read in order."""
        pending = []
        for item in items:
            replacement = _replacement(item.kind, sum(e - s for s, e in item.extents))
            used = 0
            for start, end in item.extents:
                new = replacement[used : used + end - start]
                used += end - start
                if box.start <= start and end <= box.end:
                    item.content += meta[start - box.start : end - box.start]
                    meta[start - box.start : end - box.start] = new
                elif start >= box.end:
                    pending.append((start, end, item))
                    self.zero.append((start, end, new))
                else:
                    raise CannotClean("a photo's metadata item before or across its meta box")
        if sum(e - s for s, e, _ in self.zero) > MAX_ZEROED:
            raise CannotClean("the photo's metadata items are too large")
        return sorted(pending, key=lambda p: p[0])

    def _rest(self, pos: int, pending: list[tuple[int, int, _Item]]) -> None:
        """The boxes after meta, header by header, reading the pending items' bytes on the way (forward):
        an item must lie inside one box's payload."""
        pending.reverse()  # taken from the end, first in file order
        while True:
            while pending and pending[-1][0] < pos:
                start, end, item = pending.pop()
                if end > pos:
                    raise CannotClean("a photo's metadata item across two boxes")
                if len(item.content) + end - start <= MAX_ITEM:
                    item.content += self.source.read_at(start, end - start)
                else:
                    item.unread = True
            if pos + 8 > self.source.size:
                if pending:
                    raise CannotClean("a photo's metadata item outside its boxes")
                return
            if pending and pending[-1][0] < pos + 8:
                raise CannotClean("a photo's metadata item over a box header")
            box = self._header(pos)
            if box.kind in (b"moov", b"meta"):
                raise CannotClean(f"a second {box.name} box in a photo (an image sequence?)")
            self._blank_unless_items(box)
            pos = box.end

    def _header(self, pos: int) -> boxes.Box:
        self.boxes += 1
        if self.boxes > MAX_TOP:
            raise CannotClean("too many top-level boxes")
        return boxes.top_header(self.source, pos)

    def _blank_unless_items(self, box: boxes.Box) -> None:
        """A box beside meta that holds no item: a decoder never reads it, so its payload is zeroed (uuid,
        XMP_, a motion photo's video in `mpvd`, old bytes in `free`)."""
        before = bisect.bisect_left(self.extent_starts, box.end) - 1
        if box.kind == b"mdat" or (before >= 0 and self.extent_reach[before] > box.body):
            return
        if box.end - box.body > MAX_ZEROED:
            raise CannotClean(f"a {box.name} box too large to overwrite")
        if box.kind not in QUIET:
            self.found.append(boxes.other(box, ""))
        if box.end > box.body:
            self.zero.append((box.body, box.end, bytes(box.end - box.body)))

    def _mime(self) -> str:
        compatible = {self.brands[i : i + 4] for i in range(8, len(self.brands) - 3, 4)}
        major = self.brands[:4]
        if major in (b"avif", b"avis") or (major in (b"mif1", b"msf1") and b"avif" in compatible):
            return "image/avif"
        return "image/heic"


def _replacement(kind: str, length: int) -> bytes:
    """What takes an item's place: an empty Exif block or XMP packet, padded to the same length."""
    head, pad = (EMPTY_EXIF, b"\0") if kind == "Exif" else (EMPTY_XMP, b" ")
    if length < len(head):
        return bytes(length)
    return head + pad * (length - len(head))


def exif_and_xmp_items(meta: bytes, top: boxes.Box, base: int) -> list[_Item]:
    """The Exif and XMP items of a meta box `top` in `meta` (whose first byte is at file offset `base`),
    with their extents in the file."""
    if top.end - top.body < 4:
        raise CannotClean("the meta box is cut short")
    by_kind = {}
    for box in boxes.children(meta, top.body + 4, top.end):
        by_kind.setdefault(box.kind, box)
    kinds = item_kinds(meta, by_kind.get(b"iinf"))
    if not kinds:
        return []
    if b"iloc" not in by_kind:
        raise CannotClean("a HEIF meta box without item locations")
    locations = _item_locations(meta, by_kind[b"iloc"])
    idat = by_kind.get(b"idat")
    items = []
    for item_id, kind in kinds.items():
        if item_id not in locations:
            raise CannotClean("a metadata item without a location")
        method, extents = locations[item_id]
        if method == 1:
            if idat is None:
                raise CannotClean("an item in an idat box that is not there")
            extents = [(base + idat.body + s, base + idat.body + e) for s, e in extents]
            if any(e > base + idat.end for _, e in extents):
                raise CannotClean("an item runs past its idat box")
        elif method != 0:
            raise CannotClean("a metadata item built from other items")
        items.append(_Item(kind, extents))
    return items


def _file_extents(meta: bytes, top: boxes.Box) -> list[tuple[int, int]]:
    """The file ranges of every item stored by file offset (construction method 0)."""
    iloc = next((b for b in boxes.children(meta, top.body + 4, top.end) if b.kind == b"iloc"), None)
    if iloc is None:
        return []
    locations = _item_locations(meta, iloc).values()
    return [extent for method, extents in locations if method == 0 for extent in extents]


def item_kinds(meta: bytes, iinf: boxes.Box | None) -> dict[int, str]:
    """item_ID → "Exif" or "XMP" for the items that are metadata."""
    if iinf is None:
        return {}
    if iinf.end - iinf.body < 6:
        raise CannotClean("the iinf box is cut short")
    start = iinf.body + (6 if meta[iinf.body] == 0 else 8)
    out: dict[int, str] = {}
    for infe in boxes.children(meta, start, iinf.end):
        if infe.kind != b"infe":
            continue
        item_id, kind = _infe(meta[infe.body : infe.end])
        if kind:
            out[item_id] = kind
    return out


def _infe(body: bytes) -> tuple[int, str]:
    """(item_ID, "Exif"/"XMP"/"") of an item info entry."""
    if len(body) < 8:
        raise CannotClean("an infe box is cut short")
    version = body[0]
    if version < 2:
        content = body[6:].split(b"\0")  # name, content type, encoding
        is_xmp = len(content) > 1 and content[1] == b"application/rdf+xml"
        return struct.unpack_from(">H", body, 4)[0], "XMP" if is_xmp else ""
    if version == 2:
        item_id, at = struct.unpack_from(">H", body, 4)[0], 8
    else:
        if len(body) < 14:
            raise CannotClean("an infe box is cut short")
        item_id, at = boxes.u32(body, 4), 10
    item_type = body[at : at + 4]
    if item_type == b"Exif":
        return item_id, "Exif"
    if item_type == b"mime":
        parts = body[at + 4 :].split(b"\0")
        if len(parts) > 1 and parts[1].strip() == b"application/rdf+xml":
            return item_id, "XMP"
    return item_id, ""


def _item_locations(meta: bytes, iloc: boxes.Box) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """item_ID → (construction method, [(start, end)]) from an iloc box."""
    body = memoryview(meta)[iloc.body : iloc.end]
    reader = _Fields(body)
    version = reader.take(1)
    reader.take(3)
    sizes = reader.take(2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    if any(s not in (0, 4, 8) for s in (offset_size, length_size, base_size, index_size)) or version > 2:
        raise CannotClean("an iloc box with field sizes we do not know")
    count = reader.take(4 if version == 2 else 2)
    if count > MAX_EXTENTS:
        raise CannotClean("an iloc box with too many items")
    out, total = {}, 0
    for _ in range(count):
        item_id = reader.take(4 if version == 2 else 2)
        method = reader.take(2) & 15 if version in (1, 2) else 0
        reader.take(2)  # data reference index
        base = reader.take(base_size)
        extents, n = [], reader.take(2)
        total += n
        if total > MAX_EXTENTS:
            raise CannotClean("an iloc box with too many extents")
        for _ in range(n):
            reader.take(index_size)
            offset, length = reader.take(offset_size), reader.take(length_size)
            if length == 0:
                raise CannotClean("an item extent of unknown length")
            extents.append((base + offset, base + offset + length))
        out[item_id] = (method, extents)
    return out


class _Fields:
    """Big-endian unsigned fields read one after another, CannotClean past the end."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> int:
        if self.at + n > len(self.data):
            raise CannotClean("a box is cut short")
        value = int.from_bytes(self.data[self.at : self.at + n], "big")
        self.at += n
        return value


def _item_findings(item: _Item) -> list[Finding]:
    data = bytes(item.content)
    if item.unread:
        return [Finding("other", f"meta/{item.kind}", "too large to read")]
    if data == _replacement(item.kind, len(data)):
        return []  # what we put there: a file cleaned twice has nothing left to find
    if item.kind == "XMP":
        return [Finding("other", "meta/XMP", "XMP")]
    if len(data) < 4:
        return [Finding("other", "meta/Exif")]
    tiff = 4 + boxes.u32(data, 0)
    if data[tiff : tiff + 4] not in (b"MM\0*", b"II*\0"):
        at = data.find(b"MM\0*", 4, 64)
        tiff = at if at >= 0 else data.find(b"II*\0", 4, 64)
    found = _exif_findings(data, tiff) if tiff >= 0 else []
    return found or [Finding("other", "meta/Exif")]


def _exif_findings(data: bytes, tiff: int) -> list[Finding]:
    """The identifying tags of a TIFF block (IFD0, Exif IFD, GPS IFD); lenient: a bad entry ends it."""
    order = "<" if data[tiff : tiff + 2] == b"II" else ">"
    found: list[Finding] = []
    try:
        ifd0 = struct.unpack_from(order + "I", data, tiff + 4)[0]
        entries = _ifd(data, tiff, ifd0, order)
        for tag, kind, value in _tagged(data, tiff, entries, order):
            found.append(Finding(kind, f"meta/Exif/{EXIF_TAGS[tag][1]}", value))
        if EXIF_IFD in entries:
            sub = _ifd(data, tiff, entries[EXIF_IFD][2], order)
            for tag, kind, value in _tagged(data, tiff, sub, order):
                found.append(Finding(kind, f"meta/Exif/{EXIF_TAGS[tag][1]}", value))
        if GPS_IFD in entries:
            found.append(Finding("place", "meta/Exif/GPS", _gps(data, tiff, entries[GPS_IFD][2], order)))
    except (struct.error, IndexError):
        pass
    return found


def _ifd(data: bytes, tiff: int, offset: int, order: str) -> dict[int, tuple[int, int, int]]:
    """tag → (type, count, value or offset) of the IFD at `offset` (from the TIFF header)."""
    at = tiff + offset
    count = struct.unpack_from(order + "H", data, at)[0]
    out = {}
    for i in range(min(count, 512)):
        tag, kind, n, value = struct.unpack_from(order + "HHII", data, at + 2 + 12 * i)
        out[tag] = (kind, n, value)
    return out


def _tagged(data: bytes, tiff: int, entries: dict, order: str) -> list[tuple[int, str, str]]:
    out = []
    for tag, (kind, n, value) in entries.items():
        if tag not in EXIF_TAGS:
            continue
        text = ""
        if kind in (2, 7) and n:  # ASCII, UNDEFINED
            raw = (
                struct.pack(order + "I", value)[:n]
                if n <= 4
                else data[tiff + value : tiff + value + min(n, 256)]
            )
            text = raw.split(b"\0", 1)[0].decode("latin-1")
        out.append((tag, EXIF_TAGS[tag][0], text))
    return out


def _gps(data: bytes, tiff: int, offset: int, order: str) -> str:
    """Latitude, longitude of a GPS IFD as decimal degrees, or "" when they are not there."""
    entries = _ifd(data, tiff, offset, order)
    coords = []
    for ref_tag, tag in ((1, 2), (3, 4)):
        if tag not in entries or entries[tag][1] != 3:
            return ""
        at = tiff + entries[tag][2]
        parts = struct.unpack_from(order + "6I", data, at)
        deg = sum(parts[2 * i] / parts[2 * i + 1] / 60**i for i in range(3) if parts[2 * i + 1])
        ref = struct.pack(order + "I", entries[ref_tag][2])[:1] if ref_tag in entries else b"N"
        coords.append(-deg if ref in (b"S", b"W") else deg)
    return f"{coords[0]:.5f}, {coords[1]:.5f}"
