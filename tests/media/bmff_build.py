"""Hand-made ISO BMFF shapes that ffmpeg does not write, built from files it does write: a timed-metadata
track (iPhone `mebx`, GoPro `gpmd`, Google `camm`) with a position in every sample, 64-bit chunk
offsets (co64), a 64-bit mdat header, an mdat of size 0 ("to the end of the file"), and a box slipped
between the fragments of a file with a segment index (sidx and tfra moved to match).

A tiny box walker of its own, so a bug in metadata/bmff.py cannot hide itself in the test files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts", b"dinf"}


@dataclass
class Box:
    kind: bytes
    start: int
    body: int
    end: int


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags) + payload)


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if size == 1:
            size, body = struct.unpack_from(">Q", data, pos + 8)[0], pos + 16
        elif size == 0:
            size = end - pos
        out.append(Box(kind, pos, body, pos + size))
        pos += size
    return out


def find(data: bytes, kind: bytes) -> Box:
    return next(b for b in boxes(data) if b.kind == kind)


# -- a timed-metadata track -----------------------------------------------------------------------


def sample_entry(entry: bytes) -> bytes:
    """A metadata sample entry; mebx names its keys (as the iPhone's location track does)."""
    extra = b""
    if entry == b"mebx":
        key = box(b"keyd", b"mdta" + b"com.apple.quicktime.location.ISO6709")
        extra = box(b"keys", box(struct.pack(">I", 1), key))
    return box(entry, bytes(6) + struct.pack(">H", 1) + extra)


def timed_trak(handler: bytes, entry: bytes, offsets: list[int], sizes: list[int], track_id: int) -> bytes:
    """A metadata track, one sample per chunk, the samples at `offsets`."""
    n = len(sizes)
    tkhd = full(
        b"tkhd", struct.pack(">IIIIIQHHHH36sII", 0, 0, track_id, 0, 1000, 0, 0, 0, 0, 0, bytes(36), 0, 0)
    )
    mdhd = full(b"mdhd", struct.pack(">IIIIHH", 0, 0, 1000, 1000, 0x55C4, 0))
    hdlr = full(b"hdlr", b"mhlr" + handler + bytes(12) + b"\0")
    dinf = box(b"dinf", full(b"dref", struct.pack(">I", 1) + full(b"url ", b"", flags=1)))
    stbl = box(
        b"stbl",
        full(b"stsd", struct.pack(">I", 1) + sample_entry(entry))
        + full(b"stts", struct.pack(">III", 1, n, 1000 // max(n, 1)))
        + full(b"stsc", struct.pack(">IIII", 1, 1, 1, 1))
        + full(b"stsz", struct.pack(f">II{n}I", 0, n, *sizes))
        + full(b"stco", struct.pack(f">I{n}I", n, *offsets)),
    )
    minf = box(b"minf", full(b"nmhd", b"") + dinf + stbl)
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr + minf))


def with_timed_track(
    data: bytes, samples: list[bytes], handler: bytes = b"meta", entry: bytes = b"mebx"
) -> bytes:
    """A moov-last file with a second mdat (the samples) before moov, and a track that points into it."""
    moov = find(data, b"moov")
    assert moov.end == len(data), "the moov box must come last"
    at = moov.start + 8
    offsets = []
    for s in samples:
        offsets.append(at)
        at += len(s)
    mdat = box(b"mdat", b"".join(samples))
    trak = timed_trak(handler, entry, offsets, [len(s) for s in samples], track_id=9)
    body = data[moov.body : moov.end] + trak
    return data[: moov.start] + mdat + box(b"moov", body)


# -- offsets and headers --------------------------------------------------------------------------


def _rebuild(data: bytes, start: int, end: int, leaf) -> bytes:
    out = b""
    for b in boxes(data, start, end):
        if b.kind in CONTAINERS:
            out += box(b.kind, _rebuild(data, b.body, b.end, leaf))
        else:
            out += leaf(b, data[b.start : b.end])
    return out


def with_co64(data: bytes) -> bytes:
    """A moov-first file with every stco turned into co64 (moov grows: every offset moves with it)."""
    moov = find(data, b"moov")
    assert moov.start < find(data, b"mdat").start, "the moov box must come first"

    def widen(b: Box, raw: bytes, shift: int) -> bytes:
        if b.kind != b"stco":
            return raw
        n = struct.unpack_from(">I", raw, 12)[0]
        offsets = struct.unpack_from(f">{n}I", raw, 16)
        return full(b"co64", struct.pack(f">I{n}Q", n, *(o + shift for o in offsets)))

    grown = box(b"moov", _rebuild(data, moov.body, moov.end, lambda b, raw: widen(b, raw, 0)))
    shift = len(grown) - (moov.end - moov.start)
    grown = box(b"moov", _rebuild(data, moov.body, moov.end, lambda b, raw: widen(b, raw, shift)))
    return data[: moov.start] + grown + data[moov.end :]


def with_large_mdat(data: bytes) -> bytes:
    """A faststart file whose `free` or `wide` + mdat header (8 + 8 bytes) become one largesize header."""
    mdat = find(data, b"mdat")
    free = next(b for b in boxes(data) if b.end == mdat.start)
    assert free.kind in (b"free", b"wide") and free.end - free.start == 8
    header = struct.pack(">I4sQ", 1, b"mdat", mdat.end - free.start)
    return data[: free.start] + header + data[mdat.body :]


def with_open_mdat(data: bytes) -> bytes:
    """The last box, mdat, with size 0: "to the end of the file", as a recorder writes before it stops."""
    mdat = find(data, b"mdat")
    assert mdat.end == len(data)
    return data[: mdat.start] + struct.pack(">I", 0) + data[mdat.start + 4 :]


def with_box_between_fragments(data: bytes, extra: bytes) -> bytes:
    """`extra` inserted before the second moof, the segment indexes and tfra entries moved to match."""
    top = boxes(data)
    at = [b for b in top if b.kind == b"moof"][1].start
    out = bytearray(data[:at] + extra + data[at:])
    for b in top:
        if b.kind == b"sidx":
            _grow_sidx(out, b, at, len(extra))
        elif b.kind == b"mfra":
            for t in boxes(data, b.body, b.end):
                if t.kind == b"tfra":
                    _shift_tfra(out, t.start + (len(extra) if t.start >= at else 0), at, len(extra))
    return bytes(out)


def _grow_sidx(out: bytearray, b: Box, at: int, grow: int) -> None:
    version = out[b.body]
    wide = 8 if version else 4
    first = b.end + struct.unpack_from(">Q" if wide == 8 else ">I", out, b.body + 12 + wide)[0]
    head = b.body + 12 + 2 * wide
    count = struct.unpack_from(">H", out, head + 2)[0]
    pos = first
    for i in range(count):
        word = struct.unpack_from(">I", out, head + 4 + 12 * i)[0]
        size = word & 0x7FFFFFFF
        if pos < at <= pos + size:  # the inserted box joins the subsegment that ends where it goes
            struct.pack_into(">I", out, head + 4 + 12 * i, word + grow)
        pos += size


def _shift_tfra(out: bytearray, start: int, at: int, grow: int) -> None:
    body = start + 8
    version = out[body]
    wide = 8 if version == 1 else 4
    sizes = struct.unpack_from(">I", out, body + 8)[0]
    step = 2 * wide + ((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3
    count = struct.unpack_from(">I", out, body + 12)[0]
    fmt = ">Q" if wide == 8 else ">I"
    for i in range(count):
        pos = body + 16 + step * i + wide
        old = struct.unpack_from(fmt, out, pos)[0]
        if old >= at:
            struct.pack_into(fmt, out, pos, old + grow)


# -- a HEIF photo with its Exif inside the meta box -----------------------------------------------


def heif_with_exif_in_idat(data: bytes) -> bytes:
    """A HEIF file (one meta with an iloc of version 0, then mdat) rewritten so the Exif item lives in an
    idat box inside meta (construction method 1, iloc version 1); its old bytes in mdat are zeroed."""
    meta = find(data, b"meta")
    children = boxes(data, meta.body + 4, meta.end)
    exif_id = _item_id(data, next(b for b in children if b.kind == b"iinf"), b"Exif")
    items = _iloc_v0(data, next(b for b in children if b.kind == b"iloc"))
    exif_start, exif_length = items[exif_id]
    exif = data[exif_start : exif_start + exif_length]
    others = [c for c in children if c.kind != b"iloc"]
    rest = b"".join(data[c.start : c.end] for c in others)

    def meta_box(shift: int) -> bytes:
        entries = b""
        for item_id, (start, length) in items.items():
            method, offset = (1, 0) if item_id == exif_id else (0, start + shift)
            entries += struct.pack(">HHHIHII", item_id, method, 0, 0, 1, offset, length)
        iloc = full(b"iloc", struct.pack(">BBH", 0x44, 0x40, len(items)) + entries, version=1)
        return full(b"meta", iloc + rest + box(b"idat", exif))

    shift = len(meta_box(0)) - (meta.end - meta.start)
    out = bytearray(data[: meta.start] + meta_box(shift) + data[meta.end :])
    moved = exif_start + shift
    out[moved : moved + exif_length] = bytes(exif_length)
    return bytes(out)


def _item_id(data: bytes, iinf: Box, item_type: bytes) -> int:
    for infe in boxes(data, iinf.body + 6, iinf.end):
        if data[infe.body + 8 : infe.body + 12] == item_type:
            return struct.unpack_from(">H", data, infe.body + 4)[0]
    raise KeyError(item_type)


def _iloc_v0(data: bytes, iloc: Box) -> dict[int, tuple[int, int]]:
    """item_ID → (file offset, length) from an iloc of version 0, 4-byte fields, one extent per item."""
    assert data[iloc.body] == 0 and data[iloc.body + 4 : iloc.body + 6] == b"\x44\x40"
    count = struct.unpack_from(">H", data, iloc.body + 6)[0]
    out, at = {}, iloc.body + 8
    for _ in range(count):
        item_id, _ref, base, extents, offset, length = struct.unpack_from(">HHIHII", data, at)
        assert extents == 1
        out[item_id] = (base + offset, length)
        at += 18
    return out


# -- a movie with a metadata item (an ISO meta box of items, as in HEIF) ---------------------------


def item_meta(item_type: bytes, start: int, length: int) -> bytes:
    """A meta box with one item of `item_type` whose bytes are at [start, start + length) of the file."""
    hdlr = full(b"hdlr", bytes(4) + b"pict" + bytes(13))
    infe = full(b"infe", struct.pack(">HH", 1, 0) + item_type + b"\0", version=2)
    iinf = full(b"iinf", struct.pack(">H", 1) + infe)
    iloc = full(b"iloc", struct.pack(">BBH", 0x44, 0x00, 1) + struct.pack(">HHHII", 1, 0, 1, start, length))
    return full(b"meta", hdlr + iinf + iloc)


def with_item_in_mdat(data: bytes, payload: bytes, in_moov: bool) -> bytes:
    """A moov-last file with `payload` in a second mdat and a meta box whose Exif item points at it, at the
    top level (before moov) or inside moov: dropping the meta would leave the payload behind."""
    moov = find(data, b"moov")
    assert moov.end == len(data), "the moov box must come last"
    mdat = box(b"mdat", payload)
    meta = item_meta(b"Exif", moov.start + 8, len(payload))
    if in_moov:
        return data[: moov.start] + mdat + box(b"moov", data[moov.body : moov.end] + meta)
    return data[: moov.start] + mdat + meta + data[moov.start :]


def heif_with_box_before_meta(data: bytes, extra: bytes) -> bytes:
    """`extra` between ftyp and meta of a HEIF file (iloc version 0, 4-byte fields): every item moves."""
    meta = find(data, b"meta")
    iloc = next(b for b in boxes(data, meta.body + 4, meta.end) if b.kind == b"iloc")
    out = bytearray(data)
    count = struct.unpack_from(">H", out, iloc.body + 6)[0]
    for i in range(count):
        at = iloc.body + 8 + 18 * i + 10  # item_ID, reference, base offset, extent count: then the offset
        struct.pack_into(">I", out, at, struct.unpack_from(">I", out, at)[0] + len(extra))
    return bytes(out[: meta.start] + extra + out[meta.start :])
