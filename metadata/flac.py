"""FLAC: the metadata blocks before the frames are dropped, except the two a player needs.

A native FLAC file is "fLaC", a list of metadata blocks, then the audio frames. What a recorder or a
tagger writes about its maker lives in the blocks: VORBIS_COMMENT (the encoder's vendor string, and
fields such as ARTIST, DATE, LOCATION, ENCODER), PICTURE (cover art, or a photo), APPLICATION (any
program's private data), CUESHEET (a disc's catalogue number and track ISRCs), PADDING (room left for
tags, which may still hold old ones). We keep STREAMINFO (the sample format, which decoders need) and
SEEKTABLE (its offsets count from the first frame, and the frames do not move relative to each other, so
it stays valid); every other block is dropped and the last-block flag moved to the last kept one. An
ID3v2 tag that some taggers put before "fLaC" (sniff then says mp3, and mp3.py hands the rest to
plan_blocks here), and ID3v1/APE tags glued after the frames, are dropped too, found as mp3.py finds
them. The frames themselves are copied untouched.

The Vorbis comment parser here also serves ogg.py: Vorbis, Opus, Theora and FLAC-in-Ogg carry the same
comment list.
"""

from __future__ import annotations

import re
import struct

from . import Finding, Plan
from ._source import Copy, Piece, Source
from .errors import CannotClean
from .mp3 import _tail_tags

STREAMINFO, PADDING, APPLICATION, SEEKTABLE, VORBIS_COMMENT, CUESHEET, PICTURE = range(7)
INVALID = 127
MAX_BLOCKS = 1024
MAX_COMMENT = 1 << 20  # a VORBIS_COMMENT block larger than this is dropped without reading its fields
MAX_FINDINGS = 1000  # findings from one comment list; the rest are dropped all the same
BLOCKS = {
    APPLICATION: ("other", "APPLICATION"),
    CUESHEET: ("other", "CUESHEET"),
    PICTURE: ("thumbnail", "PICTURE"),
}

# Vorbis comment field names (upper case) and what they say; any other field is text.
COMMENT_KINDS = {
    **dict.fromkeys(("ARTIST", "PERFORMER", "COMPOSER", "ALBUMARTIST", "ALBUM ARTIST", "CONDUCTOR",
                     "LYRICIST", "AUTHOR", "ENCODED-BY", "ENCODED_BY", "ENCODEDBY", "COPYRIGHT",
                     "ORGANIZATION", "CONTACT", "PUBLISHER", "OWNER"), "person"),
    **dict.fromkeys(("DATE", "CREATION_TIME", "YEAR", "ORIGINALDATE", "ORIGINALYEAR", "RELEASEDATE",
                     "RECORDINGDATE"), "time"),
    **dict.fromkeys(("ENCODER", "ENCODER_OPTIONS", "ENCODING", "SOFTWARE", "HANDLER_NAME", "VENDOR_ID"),
                    "software"),
    **dict.fromkeys(("METADATA_BLOCK_PICTURE", "COVERART", "COVERARTMIME"), "thumbnail"),
    **dict.fromkeys(("MAKE", "MODEL", "DEVICE", "MANUFACTURER"), "device"),
}  # fmt: skip
PLACE_NAME = re.compile(r"locat|gps|geo|latitude|longitude|xyz", re.IGNORECASE)
DEVICE_NAME = re.compile(r"make|model|manufacturer", re.IGNORECASE)
# An ISO 6709 position ("+42.6931+023.3219") or a "lat, lon" pair; decimals required, so a date is not one.
ISO6709 = r"[+-][0-9]{1,2}\.[0-9]+[+-][0-9]{1,3}\.[0-9]+"
PLACE = re.compile(ISO6709 + r"|-?[0-9]{1,2}\.[0-9]{3,}, ?-?[0-9]{1,3}\.[0-9]{3,}")


def plan(source: Source) -> Plan:
    """A file that starts with "fLaC"; one behind an ID3v2 tag reaches plan_blocks through mp3.py (sniff
    calls it mp3), which reads past the tag first: a forward-only source cannot be read twice."""
    if source.size < 4 or source.read_at(0, 4) != b"fLaC":
        raise CannotClean("not a FLAC file")
    return plan_blocks(source, 4, [])


def plan_blocks(source: Source, pos: int, found: list[Finding]) -> Plan:
    """The plan of a FLAC stream whose metadata blocks start at `pos` (just after "fLaC"); mp3.py calls
    this too, for a FLAC file behind an ID3v2 tag (sniff calls those mp3)."""
    kept: list[tuple[int, int, int]] = []  # (block type, body start, body length)
    for index in range(MAX_BLOCKS):
        head = source.read_at(pos, 4)
        last, kind, length = head[0] & 0x80, head[0] & 0x7F, int.from_bytes(head[1:4], "big")
        body = pos + 4
        if body + length > source.size:
            raise CannotClean("a FLAC metadata block runs past the end of the file")
        if (index == 0) != (kind == STREAMINFO) or kind == INVALID or (kind == STREAMINFO and length != 34):
            raise CannotClean("a FLAC file must start with one STREAMINFO block")
        if kind == SEEKTABLE and length % 18:
            raise CannotClean("a FLAC SEEKTABLE of a broken size")
        if kind in (STREAMINFO, SEEKTABLE):
            kept.append((kind, body, length))
        else:
            found.extend(_block_findings(source, kind, body, length))
        pos = body + length
        if last:
            break
    else:
        raise CannotClean("too many FLAC metadata blocks")
    return Plan("audio/flac", _pieces(source, kept, pos, found), found)


def _pieces(source: Source, kept: list[tuple[int, int, int]], audio: int, found: list[Finding]) -> list:
    floor = audio
    if audio < source.size:
        sync = source.read_at(audio, 2) if audio + 2 <= source.size else b""
        if len(sync) < 2 or sync[0] != 0xFF or sync[1] & 0xFE != 0xF8:
            raise CannotClean("the FLAC metadata blocks are not followed by a frame")
        floor = audio + 2
    end = _tail_tags(source, floor, found) if floor < source.size else source.size
    pieces: list[Piece] = [b"fLaC"]
    for i, (kind, body, length) in enumerate(kept):
        flag = 0x80 if i == len(kept) - 1 else 0
        pieces += [bytes([kind | flag]) + length.to_bytes(3, "big"), Copy(body, body + length)]
    pieces.append(Copy(audio, end))
    return pieces


def _block_findings(source: Source, kind: int, body: int, length: int) -> list[Finding]:
    if kind == VORBIS_COMMENT:
        if length > MAX_COMMENT:
            return [Finding("other", "VORBIS_COMMENT")]
        return comment_findings("VORBIS_COMMENT", source.read_at(body, length))
    return [block_finding("", kind)] if kind != PADDING else []


def block_finding(prefix: str, kind: int) -> Finding:
    """What a dropped block (not STREAMINFO, SEEKTABLE, VORBIS_COMMENT or PADDING) held."""
    what, name = BLOCKS.get(kind, ("other", f"block {kind}"))
    return Finding(what, prefix + name)


# -- Vorbis comments (here, and in Ogg's Vorbis, Opus, Theora and FLAC streams) --------------------


def comment_findings(label: str, data: bytes, framing: bool = False) -> list[Finding]:
    """One finding per field of a Vorbis comment list (`data` starts at the vendor string's length),
    the vendor string included. `framing`: a Vorbis header, whose list ends with a framing bit.
    Raises CannotClean when a length runs past the end or the count cannot fit."""
    vendor_length = _u32(data, 0)
    vendor = _value(data[4 : 4 + vendor_length])
    found = [Finding("software", f"{label}/vendor", vendor)] if vendor_length else []
    pos = 4 + vendor_length
    count = _u32(data, pos)
    pos += 4
    if count > (len(data) - pos) // 4:
        raise CannotClean("a Vorbis comment list with an impossible count")
    for _ in range(count):
        length = _u32(data, pos)
        if pos + 4 + length > len(data):
            raise CannotClean("a Vorbis comment runs past the end of its header")
        if len(found) < MAX_FINDINGS:
            found.append(_comment(label, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    rest = data[pos + 1 :] if framing else data[pos:]  # the framing bit's byte is not data
    if any(rest):
        found.append(Finding("other", f"{label}/trailing data"))
    return found


def _comment(label: str, entry: bytes) -> Finding:
    key, _, value = entry.partition(b"=")
    name = "".join(ch for ch in key[:40].decode("latin-1") if " " <= ch <= "~").upper()
    text = _value(value)
    kind = COMMENT_KINDS.get(name, "text")
    if PLACE_NAME.search(name) or PLACE.search(text):
        kind = "place"
    elif kind == "text" and DEVICE_NAME.search(name):
        kind = "device"
    return Finding(kind, f"{label}/{name}", text)


def _value(raw: bytes) -> str:
    return raw[:256].decode("utf-8", "replace")


def _u32(data: bytes, pos: int) -> int:
    if pos + 4 > len(data):
        raise CannotClean("a Vorbis comment list cut short")
    return struct.unpack_from("<I", data, pos)[0]
