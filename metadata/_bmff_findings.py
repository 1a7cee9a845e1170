"""What ISO BMFF metadata boxes said (metadata/bmff.py drops them): udta atoms, iTunes and Apple `meta`
items and their keys, 3GPP strings and `loci` positions, QuickTime times, as findings for the officer;
and the file ranges of a dropped meta box's Exif and XMP items, to zero. Read leniently: a box goes
whatever it says."""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta

from . import Finding, heif
from . import _boxes as boxes
from ._boxes import QUIET
from .errors import CannotClean

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


def _mac_time(seconds: int) -> str:
    """A QuickTime time (seconds since 1904) as a date, or the number when it is absurd."""
    if seconds > 8_000_000_000:
        return str(seconds)
    return (datetime(1904, 1, 1) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


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
