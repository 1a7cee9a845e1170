"""MP3 and ADTS AAC (a phone's .aac voice note): the tags around the frames are dropped, the frames kept.

Neither stream has a container: tags are glued before the first frame (ID3v2, possibly several) and
after the last one (APEv2, Lyrics3, an appended ID3v2 with its footer, "TAG+" and the 128-byte ID3v1).
The tags are found by their own sizes and footers, never by walking the frames, so a long recording
costs two small reads: the front, and one window at the end (the end tags must fit in it). The first
Xing/Info/LAME frame stays: it describes the stream (frame count, gapless delays), not its maker.
A FLAC file behind an ID3v2 tag (sniff calls it mp3 by its first bytes) goes to flac.plan_blocks once
the tag is passed.
"""

from __future__ import annotations

import re
import struct

from . import Finding, Plan
from ._source import Copy, Source
from .errors import CannotClean

MAX_TAG = 16 << 20  # an ID3v2 tag larger than this is dropped without reading its frames
TAIL = 2 << 20  # the end tags must fit in the last 2 MiB
# ISO 6709 ("+42.6931+023.3219") or "lat, lon"; decimals required, so a date ("2026-05-01") is not a place.
PLACE = re.compile(r"[+-]\d{1,2}\.\d+[+-]\d{1,3}\.\d+|-?\d{1,2}\.\d{3,}, ?-?\d{1,3}\.\d{3,}")
PLACE_NAMES = re.compile(r"locat|gps|geo|latitude|longitude", re.IGNORECASE)
V22 = {"TT2": "TIT2", "TP1": "TPE1", "TP2": "TPE2", "TYE": "TYER", "TDA": "TDAT", "COM": "COMM",
       "PIC": "APIC", "GEO": "GEOB", "TSS": "TSSE", "TEN": "TENC", "TXX": "TXXX", "ULT": "USLT"}  # fmt: skip
ID3_KINDS = {
    **dict.fromkeys(("TPE1", "TPE2", "TPE3", "TPE4", "TCOM", "TEXT", "TOLY", "TOPE", "TOWN", "TPUB", "TCOP"),
                    "person"),
    **dict.fromkeys(("TDRC", "TYER", "TDAT", "TIME", "TDRL", "TDEN", "TDTG", "TDOR", "TORY", "TRDA"), "time"),
    **dict.fromkeys(("TSSE", "TENC"), "software"),
    **dict.fromkeys(("COMM", "USLT", "SYLT"), "text"),
}  # fmt: skip  # other T... frames are text, anything else (APIC, GEOB, PRIV, W...) other
APE_KINDS = {
    **dict.fromkeys(("artist", "album artist", "composer", "conductor", "publisher", "copyright"), "person"),
    **dict.fromkeys(("year", "record date", "date"), "time"),
    **dict.fromkeys(("encoder", "tool", "tool name", "encoded by"), "software"),
}  # fmt: skip


def plan(source: Source) -> Plan:
    found: list[Finding] = []
    start, first = _front_tags(source, found)
    if start + 4 > source.size:
        raise CannotClean("no audio frame after the ID3 tags")
    head = first + source.read_at(start + len(first), 4 - len(first))
    if head == b"fLaC":  # a FLAC file behind an ID3v2 tag: sniff calls it mp3 by its first bytes
        from .flac import plan_blocks

        return plan_blocks(source, start + 4, found)
    mime = _frame_mime(head)
    if mime is None:
        raise CannotClean("the audio does not start with an MP3 or ADTS frame")
    end = _tail_tags(source, start + 4, found)
    return Plan(mime, [Copy(start, end)], found)


def _front_tags(source: Source, found: list[Finding]) -> tuple[int, bytes]:
    """Where the audio starts, after the ID3v2 tags at the front (their frames added to `found`), and
    the bytes of it already read to look for one more tag (a forward-only source cannot go back)."""
    pos = 0
    while pos + 10 <= source.size:
        magic = source.read_at(pos, 3)
        if magic != b"ID3":
            return pos, magic
        head = magic + source.read_at(pos + 3, 7)
        length = _id3_length(head)
        if pos + length > source.size:
            raise CannotClean("an ID3v2 tag runs past the end of the file")
        if length - 10 <= MAX_TAG:
            found.extend(_id3_frames(head, source.read_at(pos + 10, _syncsafe(head[6:10]))))
        else:
            found.append(Finding("other", "ID3v2"))
        pos += length
    return pos, b""


def _id3_length(head: bytes) -> int:
    """The whole tag: header, body (syncsafe size) and, in ID3v2.4, a footer."""
    if head[3] == 0xFF or head[4] == 0xFF or any(b & 0x80 for b in head[6:10]):
        raise CannotClean("an ID3v2 header with an invalid version or size")
    footer = 10 if head[3] >= 4 and head[5] & 0x10 else 0
    return 10 + _syncsafe(head[6:10]) + footer


def _syncsafe(b: bytes) -> int:
    return (b[0] & 0x7F) << 21 | (b[1] & 0x7F) << 14 | (b[2] & 0x7F) << 7 | (b[3] & 0x7F)


def _frame_mime(h: bytes) -> str | None:
    """audio/mpeg for an MPEG audio frame header, audio/aac for an ADTS one, None for anything else."""
    if h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return None
    if (h[1] >> 1) & 3 == 0:  # layer bits 00: ADTS (12 sync bits), or nothing
        return "audio/aac" if h[1] & 0xF0 == 0xF0 and (h[2] >> 2) & 0xF <= 12 else None
    if (h[1] >> 3) & 3 == 1 or h[2] >> 4 == 15 or (h[2] >> 2) & 3 == 3:
        return None
    return "audio/mpeg"


# -- the end of the file --------------------------------------------------------------------------


def _tail_tags(source: Source, floor: int, found: list[Finding]) -> int:
    """Where the audio ends, before the tags at the end; `floor` is the first byte they may use."""
    base = max(floor, source.size - TAIL)
    window = source.read_at(base, source.size - base)
    end = len(window)  # in the window
    for _ in range(32):  # each tag shrinks the end; a hostile file cannot make this loop long
        start = _tag_before(window, end, found)
        if start is None:
            break
        if start < 0:
            raise CannotClean("a tag at the end of the file is too large or overlaps the audio")
        end = start
    else:
        raise CannotClean("too many tags at the end of the file")
    return base + _before_cut_tag(window, end, found)


def _before_cut_tag(w: bytes, end: int, found: list[Finding]) -> int:
    """Where the audio ends when a copy broke off inside a final ID3v1 tag: its "TAG" and whatever
    title and artist made it are within the last 127 bytes. An MPEG frame that happens to hold "TAG"
    there loses at most its last 127 bytes, which a player skips as a damaged last frame."""
    at = w.rfind(b"TAG", max(0, end - 127), end)
    if at < 0:
        return end
    found.append(Finding("text", "ID3v1 (cut short)", w[at + 3 : end].split(b"\0", 1)[0].decode("latin-1")))
    return at


def _tag_before(w: bytes, end: int, found: list[Finding]) -> int | None:
    """Where the tag that ends at `end` starts (negative: before the window), or None for no tag."""
    if end >= 128 and w[end - 128 : end - 125] == b"TAG":
        found.extend(_id3v1(w[end - 128 : end]))
        if end >= 355 and w[end - 355 : end - 351] == b"TAG+":
            found.extend(_id3v1_extended(w[end - 355 : end - 128]))
            return end - 355
        return end - 128
    if end >= 32 and w[end - 32 : end - 24] == b"APETAGEX":
        return _ape(w, end, found)
    if end >= 15 and w[end - 9 : end] == b"LYRICS200":
        digits = w[end - 15 : end - 9]
        if not digits.isdigit():
            raise CannotClean("a Lyrics3v2 block with an invalid size")
        start = end - 15 - int(digits)
        if start < 0 or w[start : start + 11] != b"LYRICSBEGIN":
            return -1
        found.append(Finding("text", "Lyrics3v2"))
        return start
    if end >= 9 and w[end - 9 : end] == b"LYRICSEND":
        start = w.rfind(b"LYRICSBEGIN", max(0, end - 5100 - 9), end - 9)
        if start >= 0:
            found.append(Finding("text", "Lyrics3"))
        return start
    if end >= 20 and w[end - 10 : end - 7] == b"3DI":
        start = end - _id3_length(w[end - 10 : end])
        if start < 0 or w[start : start + 3] != b"ID3":
            return -1
        found.extend(_id3_frames(w[start : start + 10], w[start + 10 : end - 10]))
        return start
    return None


def _ape(w: bytes, end: int, found: list[Finding]) -> int:
    """An APEv2 tag (or APEv1, the same footer) ending at `end`: its start, its items as findings."""
    size, count, flags = struct.unpack_from("<III", w, end - 20)
    if size < 32:
        raise CannotClean("an APE tag with an invalid size")
    start = end - size - (32 if flags & 0x80000000 else 0)
    if start < 0:
        return -1
    pos = end - size
    for _ in range(min(count, 10_000)):
        if pos + 8 > end - 32:
            break
        length, item_flags = struct.unpack_from("<II", w, pos)
        nul = w.find(b"\0", pos + 8, end - 32)
        if nul < 0:
            break
        key = _where_name(w[pos + 8 : nul])
        value = w[nul + 1 : nul + 1 + min(length, 256)]
        binary = item_flags & 6 != 0
        text = "" if binary else value.decode("utf-8", "replace")
        kind = APE_KINDS.get(key.lower(), "other" if binary else "text")
        found.append(Finding(_placed(kind, key, text), f"APEv2/{key}", text))
        pos = nul + 1 + length
    return start


def _id3v1(tag: bytes) -> list[Finding]:
    fields = [("text", "title", tag[3:33]), ("person", "artist", tag[33:63]), ("text", "album", tag[63:93]),
              ("time", "year", tag[93:97]), ("text", "comment", tag[97:127])]  # fmt: skip
    return _latin_fields("ID3v1", fields)


def _id3v1_extended(tag: bytes) -> list[Finding]:
    fields = [("text", "title", tag[4:64]), ("person", "artist", tag[64:124]),
              ("text", "album", tag[124:184])]  # fmt: skip
    return _latin_fields("ID3v1+", fields)


def _latin_fields(where: str, fields: list[tuple[str, str, bytes]]) -> list[Finding]:
    found = []
    for kind, name, raw in fields:
        value = raw.split(b"\0", 1)[0].decode("latin-1").strip()
        if value:
            found.append(Finding(_placed(kind, "", value), f"{where}/{name}", value))
    return found


# -- ID3v2 frames, for the findings ---------------------------------------------------------------


def _id3_frames(head: bytes, body: bytes) -> list[Finding]:
    """One finding per frame of an ID3v2 tag (head: its 10-byte header, body: what follows)."""
    major, flags = head[3], head[5]
    if major not in (2, 3, 4) or (major == 2 and flags & 0x40):
        return [Finding("other", "ID3v2")]  # an unknown version, or a compressed ID3v2.2 tag
    if flags & 0x80 and major < 4:
        body = body.replace(b"\xff\x00", b"\xff")  # the whole tag was unsynchronised
    pos = _extended_header(major, flags, body)
    id_len, head_len = (3, 6) if major == 2 else (4, 10)
    found: list[Finding] = []
    while pos + head_len <= len(body) and len(found) < 1000:
        frame_id = body[pos : pos + id_len]
        if not re.fullmatch(rb"[A-Z0-9]+", frame_id):
            break  # padding, or garbage: the tag is dropped whole either way
        size = _frame_size(major, body[pos + id_len : pos + head_len])
        data = body[pos + head_len : pos + head_len + size]
        fid = frame_id.decode()
        fid = V22.get(fid, fid) if major == 2 else fid
        frame_flags = body[pos + 9] if major > 2 else 0
        found.append(_frame_finding(fid, _frame_data(major, frame_flags, data)))
        pos += head_len + size
    return found or [Finding("other", "ID3v2")]


def _extended_header(major: int, flags: int, body: bytes) -> int:
    if not flags & 0x40 or len(body) < 4:
        return 0
    if major == 3:
        return 4 + struct.unpack_from(">I", body)[0]  # its size leaves out its own 4 bytes
    return _syncsafe(body[:4])


def _frame_size(major: int, b: bytes) -> int:
    if major == 2:
        return b[0] << 16 | b[1] << 8 | b[2]
    return _syncsafe(b[:4]) if major == 4 else struct.unpack_from(">I", b)[0]


def _frame_data(major: int, flags: int, data: bytes) -> bytes | None:
    """The frame's content ready to decode, or None when it is compressed or encrypted."""
    if (major == 3 and flags & 0xC0) or (major == 4 and flags & 0x0C):
        return None
    if major == 4 and flags & 0x01:
        data = data[4:]  # a data length indicator
    if major == 4 and flags & 0x02:
        data = data.replace(b"\xff\x00", b"\xff")
    return data


def _frame_finding(fid: str, data: bytes | None) -> Finding:
    kind = ID3_KINDS.get(fid, "text" if fid.startswith("T") else "other")
    value, label = "", ""
    if (data and fid.startswith("T")) or (data and fid in ("COMM", "USLT")):
        enc, rest = data[0], data[1:]
        if fid in ("COMM", "USLT"):
            rest = rest[3:]  # the language
        if fid in ("TXXX", "COMM", "USLT"):
            label, rest = _split(enc, rest)
            label = _decode(enc, label)
        value = _decode(enc, rest[:512])
    return Finding(_placed(kind, label, value), f"ID3v2/{fid}", value)


def _split(enc: int, data: bytes) -> tuple[bytes, bytes]:
    """A terminated string and what follows it (UTF-16 ends with two NULs on an even offset)."""
    if enc in (1, 2):
        for i in range(0, len(data) - 1, 2):
            if data[i] == 0 and data[i + 1] == 0:
                return data[:i], data[i + 2 :]
        return data, b""
    nul = data.find(b"\0")
    return (data, b"") if nul < 0 else (data[:nul], data[nul + 1 :])


def _decode(enc: int, data: bytes) -> str:
    if enc == 1:
        if data[:2] == b"\xfe\xff":
            return data[2:].decode("utf-16-be", "replace")
        if data[:2] == b"\xff\xfe":
            return data[2:].decode("utf-16-le", "replace")
        return data.decode("utf-16-le", "replace")  # no byte order mark: little-endian, as players read it
    if enc == 2:
        return data.decode("utf-16-be", "replace")
    return data.decode("utf-8" if enc == 3 else "latin-1", "replace")


def _placed(kind: str, label: str, value: str) -> str:
    """A field that holds a position (a TXXX "location", an ISO 6709 string) is a place."""
    return "place" if PLACE_NAMES.search(label) or PLACE.search(value) else kind


def _where_name(key: bytes) -> str:
    return "".join(ch for ch in key.decode("latin-1") if " " <= ch <= "~")[:40]
