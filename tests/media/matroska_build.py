"""Small Matroska files built by hand (for test_matroska_*.py), for the structural cases no tool writes
on demand: a CRC-32 element, Seek entries to what cleaning removes, 8-byte sizes everywhere, unknown
sizes, and comment headers (Vorbis, FLAC) inside CodecPrivate. BUILT names each file's builder.
"""

from __future__ import annotations

import struct
import zlib

from metadata import _matroska_tags, matroska


def size_field(n: int | None, width: int | None = None) -> bytes:
    """An EBML size: the shortest width, or `width` bytes; None is "unknown" (all ones)."""
    width = width or next(w for w in range(1, 9) if n is None or n < (1 << (7 * w)) - 1)
    value = (1 << (7 * width)) - 1 if n is None else n
    return (value | 1 << (7 * width)).to_bytes(width, "big")


def el(eid: int, *parts: bytes, width: int | None = None, unknown: bool = False) -> bytes:
    body = b"".join(parts)
    return (
        eid.to_bytes((eid.bit_length() + 7) // 8, "big")
        + size_field(None if unknown else len(body), width)
        + body
    )


def uint(eid: int, n: int) -> bytes:
    return el(eid, n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def ebml_header(doc_type: bytes = b"webm") -> bytes:
    return el(matroska.EBML, uint(0x4286, 1), uint(0x42F7, 1), uint(0x42F2, 4), uint(0x42F3, 8),
              el(0x4282, doc_type), uint(0x4287, 4), uint(0x4285, 2))  # fmt: skip


def track(codec: bytes, private: bytes = b"", kind: int = 2) -> bytes:
    return el(matroska.TRACK_ENTRY, uint(0xD7, 1), uint(0x73C5, 7), uint(0x83, kind), el(0x86, codec),
              el(0x63A2, private) if private else b"")  # fmt: skip


def cluster(width: int | None = None) -> bytes:
    return el(matroska.CLUSTER, uint(0xE7, 0), el(0xA3, b"\x81\x00\x00\x80" + bytes(40)), width=width)


def segment(*children: bytes, unknown: bool = False) -> bytes:
    return el(matroska.SEGMENT, *children, unknown=unknown)


def info(*extra: bytes) -> bytes:
    return el(matroska.INFO, uint(0x2AD7B1, 1000000), el(0x4D80, b"Chrome"), el(0x5741, b"Chrome"), *extra)


def built_crc() -> bytes:
    body = uint(0x2AD7B1, 1000000) + el(0x4D80, b"Lavf") + el(0x7BA9, b"Secret Title")
    crc = el(matroska.CRC32, struct.pack("<I", zlib.crc32(body)))
    return ebml_header() + segment(
        el(matroska.INFO, crc, body), el(matroska.TRACKS, track(b"A_OPUS")), cluster()
    )


def built_seek() -> bytes:
    def seek(target: int) -> bytes:
        return el(matroska.SEEK, el(matroska.SEEK_ID, target.to_bytes(4, "big")), uint(0x53AC, 100))

    head = el(matroska.SEEKHEAD, seek(matroska.INFO), seek(matroska.TAGS), seek(matroska.CUES))
    tags = el(
        matroska.TAGS,
        el(_matroska_tags.TAG, el(_matroska_tags.SIMPLE_TAG, el(0x45A3, b"COMMENT"), el(0x4487, b"hi"))),
    )
    odd = el(0x1ABCDEF0, b"something unknown")  # an ID no Matroska version defines
    return ebml_header() + segment(head, info(), el(matroska.TRACKS, track(b"A_OPUS")), tags, odd, cluster())


def built_wide() -> bytes:
    """8-byte sizes everywhere, as some muxers write them, and an unknown-size Segment and Cluster."""
    entry = el(matroska.TRACK_ENTRY, uint(0xD7, 1), el(0x86, b"V_VP8", width=8), uint(0x83, 1),
               el(0x536E, b"Camera Track", width=8), width=8)  # fmt: skip
    tracks = el(matroska.TRACKS, entry, width=8)
    body = info(el(0x7BA9, b"Secret Title", width=8)) + tracks + cluster(width=8)
    return ebml_header() + segment(body, el(matroska.CLUSTER, uint(0xE7, 9), unknown=True), unknown=True)


def vorbis_comment(prefix: bytes, vendor: bytes, comments: list[bytes], framing: bool) -> bytes:
    out = prefix + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    out += b"".join(struct.pack("<I", len(c)) + c for c in comments)
    return out + (b"\x01" if framing else b"")


def built_xiph() -> bytes:
    ident, setup = b"\x01vorbis" + bytes(23), b"\x05vorbis" + bytes(40)
    comments = [b"TITLE=Secret Title", b"LOCATION=+42.6931+023.3219/", b"ARTIST=Ivan Petrov"]
    comment = vorbis_comment(b"\x03vorbis", b"Samsung Voice Recorder", comments, framing=True)
    private = bytes([2, len(ident), len(comment)]) + ident + comment + setup
    return ebml_header(b"matroska") + segment(
        info(), el(matroska.TRACKS, track(b"A_VORBIS", private)), cluster()
    )


def built_flac() -> bytes:
    streaminfo = b"\x00\x00\x00\x22" + bytes(34)
    comment = vorbis_comment(b"", b"reference libFLAC 1.4.2", [b"ARTIST=Ivan Petrov"], framing=False)
    picture = b"JFIF cover art of Ivan Petrov"
    blocks = streaminfo + b"\x04" + len(comment).to_bytes(3, "big") + comment
    blocks += b"\x86" + len(picture).to_bytes(3, "big") + picture
    return ebml_header() + segment(info(), el(matroska.TRACKS, track(b"A_FLAC", b"fLaC" + blocks)), cluster())


BUILT = {"crc": built_crc, "seek": built_seek, "wide": built_wide, "xiph": built_xiph, "flac": built_flac}
