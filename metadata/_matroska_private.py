"""Comment headers inside a Matroska track's CodecPrivate (metadata/matroska.py): Vorbis and Theora
comments rewritten in place as an empty comment of the same length, FLAC metadata blocks other than
STREAMINFO and SEEKTABLE turned into PADDING; what they said, as findings."""

from __future__ import annotations

import struct

from . import Finding
from ._matroska_tags import _tag_kind, _value, _where_name
from .errors import CannotClean


def _xiph_private(data: bytearray, lo: int, hi: int, found: list[Finding]) -> bool:
    """Vorbis or Theora: three headers in Xiph lacing; the second (comments) is rewritten as an empty
    comment of the same length, its vendor string NULs."""
    if hi - lo < 1 or data[lo] != 2:
        raise CannotClean("a Vorbis or Theora CodecPrivate without its three headers")
    pos, sizes = lo + 1, []
    for _ in range(2):
        size = 0
        while pos < hi and data[pos] == 255:
            size, pos = size + 255, pos + 1
        if pos >= hi:
            raise CannotClean("a Vorbis or Theora CodecPrivate cut short")
        sizes.append(size + data[pos])
        pos += 1
    start = pos + sizes[0]
    end = start + sizes[1]
    if end > hi or sizes[1] == 0:
        raise CannotClean("a Vorbis or Theora CodecPrivate cut short")
    prefix, framing = (b"\x03vorbis", 1) if data[start] == 3 else (b"\x81theora", 0)
    return _comment_header(data, start, end, prefix, framing, "Vorbis comment", found)


def _comment_header(data: bytearray, lo: int, hi: int, prefix: bytes, framing: int, where: str,
                    found: list[Finding]) -> bool:  # fmt: skip
    """A Vorbis comment (vendor, then NAME=value pairs) in data[lo:hi] after `prefix`, its findings
    added and itself replaced by one with no comments and a NUL vendor of the same length."""
    if bytes(data[lo : lo + len(prefix)]) != prefix or hi - lo < len(prefix) + 8 + framing:
        raise CannotClean(f"a malformed {where} header")
    pos = lo + len(prefix)
    vendor_end = pos + 4 + _u32(data, pos, hi)
    found_before = len(found)
    vendor = _value(bytes(data[pos + 4 : min(vendor_end, hi)]), "text")
    if vendor:
        found.append(Finding("software", f"{where}/vendor", vendor))
    pos = vendor_end
    count = _u32(data, pos, hi)
    pos += 4
    if count > (hi - pos) // 4:
        raise CannotClean(f"a {where} header with too many comments")
    for _ in range(count):
        length = _u32(data, pos, hi)
        if pos + 4 + length > hi:
            raise CannotClean(f"a {where} header cut short")
        name, _, raw = bytes(data[pos + 4 : pos + 4 + length]).partition(b"=")
        value = _value(raw, "text")
        if value:
            found.append(Finding(_tag_kind(_where_name(name), value), f"{where}/{_where_name(name)}", value))
        pos += 4 + length
    if pos + framing > hi:
        raise CannotClean(f"a {where} header cut short")
    if len(found) == found_before and count == 0 and pos + framing == hi:
        return False  # already empty: a cleaned file stays as it is
    body = hi - lo - len(prefix) - 8 - framing
    data[lo:hi] = prefix + struct.pack("<I", body) + bytes(body) + bytes(4) + b"\x01" * framing
    return True


def _u32(data: bytearray, pos: int, hi: int) -> int:
    if pos + 4 > hi:
        raise CannotClean("a comment header cut short")
    return struct.unpack_from("<I", data, pos)[0]


def _flac_private(data: bytearray, lo: int, hi: int, found: list[Finding]) -> bool:
    """FLAC's "fLaC" and metadata blocks: STREAMINFO and SEEKTABLE stay; every other block (comments,
    pictures, application data, cue sheets) becomes PADDING of the same length."""
    if bytes(data[lo : lo + 4]) != b"fLaC":
        raise CannotClean("a FLAC CodecPrivate without its fLaC marker")
    pos, changed, last = lo + 4, False, False
    while not last:
        if pos + 4 > hi:
            raise CannotClean("a FLAC CodecPrivate cut short")
        last, kind = data[pos] & 0x80 != 0, data[pos] & 0x7F
        body, end = pos + 4, pos + 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
        if end > hi:
            raise CannotClean("a FLAC metadata block runs past its CodecPrivate")
        if kind == 4:
            copy = bytearray(data[body:end])
            _comment_header(copy, 0, len(copy), b"", 0, "FLAC comment", found)
        elif kind not in (0, 1, 3):
            found.append(Finding("other", f"FLAC block {kind}"))
        if kind not in (0, 3) and (kind != 1 or any(data[body:end])):
            data[pos] = (data[pos] & 0x80) | 1
            data[body:end] = bytes(end - body)
            changed = True
        pos = end
    return changed
