"""Ogg (Opus, Vorbis, Theora, FLAC-in-Ogg): every logical stream's comment header is emptied in place.

An Ogg file is a sequence of pages, each with a checksum, carrying the packets of one or more logical
streams. What the maker's software writes about a recording is in each stream's comment header, a
Vorbis comment list ("OpusTags", Vorbis's packet 3, Theora's 0x81 packet, FLAC-in-Ogg's VORBIS_COMMENT
block): the encoder's vendor string, ENCODER, DATE, ARTIST, LOCATION, TITLE, a cover picture. We
replace the list with an empty one (no vendor, no fields) and fill the rest of the packet with zeros,
so the packet keeps its length and every page its layout: page sequence numbers, granule positions
and all later pages stay byte for byte, and only the pages that carry the comment get a new checksum.
The zeros are harmless to each codec: Vorbis stops at the framing bit, Opus allows data after the list
(a leading 0 bit says it may be discarded), Theora and FLAC readers stop at the end of the list.
FLAC-in-Ogg's other header blocks (PICTURE, APPLICATION, CUESHEET, PADDING) become zeroed PADDING of
the same size; STREAMINFO and SEEKTABLE are kept. Packets sharing a page with a comment (Vorbis's
setup header usually does) are kept exactly.

A Skeleton stream (fishead/fisbone) is dropped whole: it is optional, its fisbone message headers are
free text (names, titles, roles) and its fishead may carry a UTC time; no other stream refers to it.
Any other codec (Speex, Kate, Dirac, ...), a page that belongs to no stream, a page with a bad checksum
among the headers or bytes that are not a page make the file refused. A page cut short at the very end
(a recorder stopped mid-write) is dropped, and said so.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from . import Finding, Plan
from ._source import Copy, Piece, Source
from .errors import CannotClean
from .flac import INVALID, PADDING, SEEKTABLE, STREAMINFO, VORBIS_COMMENT, block_finding, comment_findings

WINDOW = 256 << 10  # pages are read through a window this large: one read serves many small pages
MAX_REWRITTEN = 8 << 20  # rewritten header pages are new bytes held in memory: at most this many
MAX_STREAMS = 64
MAX_HEAD = 64  # bytes kept of a header packet that is not rewritten, to check what it is
HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, sequence, crc, segments
CONTINUED, BOS, EOS = 1, 2, 4


@dataclass(frozen=True)
class Codec:
    label: str
    headers: int  # header packets (FLAC: until the block marked last)
    magics: tuple[bytes, ...]  # what each header packet starts with (b"" for FLAC's blocks)
    comment: bytes  # the new comment packet's start; the rest of it is zeros
    framing: bool = False


CODECS = {
    b"\x01vorbis": Codec("Vorbis", 3, (b"\x01vorbis", b"\x03vorbis", b"\x05vorbis"),
                         b"\x03vorbis" + bytes(8) + b"\1", framing=True),
    b"OpusHead": Codec("Opus", 2, (b"OpusHead", b"OpusTags"), b"OpusTags"),
    b"\x80theora": Codec("Theora", 3, (b"\x80theora", b"\x81theora", b"\x82theora"), b"\x81theora"),
    b"\x7fFLAC": Codec("FLAC", 0, (b"\x7fFLAC",), b""),
}  # fmt: skip
SKELETON = b"fishead\0"


@dataclass
class _Packet:
    """A header packet being read: what becomes of it, and its first bytes (all of a comment)."""

    rewrite: bytes | None  # the new packet's start (the rest zeros), or None: kept as it is
    keep: tuple[int, int] = (0, 0)  # bytes of the original kept in the rewritten packet (FLAC's length)
    data: bytearray = field(default_factory=bytearray)
    length: int = 0


@dataclass
class _Stream:
    codec: Codec | None  # None: a Skeleton, dropped
    index: int = 0  # header packets completed
    packet: _Packet | None = None  # the packet that continues on the next page
    done: bool = False
    ended: bool = False


def plan(source: Source) -> Plan:
    walk = _Walk(source)
    walk.run()
    return Plan("video/ogg" if walk.video else "audio/ogg", walk.pieces, walk.found)


class _Window:
    """Reads front to back through one buffer, so a ForwardSource never has to go back."""

    def __init__(self, source: Source) -> None:
        self.source, self.base, self.buffer = source, 0, b""

    def read(self, offset: int, n: int) -> bytes:
        end = self.base + len(self.buffer)
        if offset + n > end:
            if offset + n > self.source.size:
                raise CannotClean("the file ends inside an Ogg page")
            if offset >= end:
                self.buffer = self.source.read_at(offset, min(max(n, WINDOW), self.source.size - offset))
            else:
                more = min(max(offset + n - end, WINDOW), self.source.size - end)
                self.buffer = self.buffer[offset - self.base :] + self.source.read_at(end, more)
            self.base = offset
        return self.buffer[offset - self.base : offset - self.base + n]


class _Walk:
    """One pass over the pages, front to back."""

    def __init__(self, source: Source) -> None:
        self.source, self.window = source, _Window(source)
        self.streams: dict[int, _Stream] = {}
        self.pieces: list[Piece] = []
        self.found: list[Finding] = []
        self.rewritten = 0
        self.video = False  # a Theora stream began (in any link of a chain)

    def run(self) -> None:
        pos, size = 0, self.source.size
        while pos < size:
            nxt = self._page(pos)
            if nxt is None:
                self.found.append(Finding("other", "a page cut short", f"{size - pos} bytes"))
                break
            pos = nxt
        if not any(s.codec for s in self.streams.values()):
            raise CannotClean("an Ogg file without an audio or video stream")
        if not all(s.done for s in self.streams.values()):
            raise CannotClean("an Ogg stream ends inside its headers")

    def _page(self, pos: int) -> int | None:
        """The page at `pos` into the pieces; where the next one starts, or None: it is cut short."""
        head = self.window.read(pos, min(HEADER.size + 255, self.source.size - pos))  # the longest lacing too
        if not b"OggS".startswith(head[:4]):
            raise CannotClean("bytes that are not an Ogg page")
        if len(head) < HEADER.size:
            return None
        _, version, flags, _, serial, _, _, segments = HEADER.unpack_from(head)
        if version != 0:
            raise CannotClean("an Ogg page of an unknown version")
        start = pos + HEADER.size + segments
        if start > self.source.size:
            return None
        lacing = head[HEADER.size : HEADER.size + segments]
        end = start + sum(lacing)
        if end > self.source.size:
            return None
        stream = self.streams.get(serial)
        in_headers = flags & BOS or (stream is not None and not stream.done)
        page = self.window.read(pos, end - pos) if in_headers else b""  # at most 64 KiB
        stream = self._stream(flags, serial, page[start - pos : start - pos + 8])
        if stream.codec is None:
            pass  # a Skeleton page: dropped
        elif stream.done:
            self._add(Copy(pos, end))
        else:
            self._add(self._header_page(stream, pos, bytearray(page), flags, lacing))
        stream.ended = bool(flags & EOS)
        return end

    def _stream(self, flags: int, serial: int, first: bytes) -> _Stream:
        """The stream a page belongs to; a new one on a first page (`first`: its first packet's start)."""
        stream = self.streams.get(serial)
        if flags & BOS:
            if stream is not None and not stream.ended:
                raise CannotClean("two Ogg streams with one serial number")
            if len(self.streams) >= MAX_STREAMS and stream is None:
                raise CannotClean("too many Ogg streams")
            self.streams[serial] = stream = self._begin(first)
        elif stream is None or stream.ended:
            raise CannotClean("an Ogg page of a stream that has not begun or has ended")
        return stream

    def _begin(self, first: bytes) -> _Stream:
        if first == SKELETON:
            self.found.append(Finding("other", "Skeleton"))
            return _Stream(None, done=True)
        codec = next((c for magic, c in CODECS.items() if first.startswith(magic)), None)
        if codec is None:
            raise CannotClean("an Ogg stream of a codec we cannot clean")
        self.video |= codec.label == "Theora"
        return _Stream(codec)

    def _add(self, piece: Piece) -> None:
        last = self.pieces[-1] if self.pieces else None
        if isinstance(piece, Copy) and isinstance(last, Copy) and last.end == piece.start:
            self.pieces[-1] = Copy(last.start, piece.end)
        else:
            self.pieces.append(piece)

    # -- the pages that carry a stream's headers ------------------------------------------------------

    def _header_page(self, stream: _Stream, pos: int, page: bytearray, flags: int, lacing: bytes) -> Piece:
        crc = struct.unpack_from("<I", page, 22)[0]
        page[22:26] = bytes(4)
        if crc_of(page) != crc:
            raise CannotClean("an Ogg header page with a bad checksum")
        if bool(flags & CONTINUED) != (stream.packet is not None):
            raise CannotClean("an Ogg page that does not continue the packet it should")
        changed, at, run = False, HEADER.size + len(lacing), 0
        for i, value in enumerate(lacing):
            run += value
            if value < 255 or i == len(lacing) - 1:
                changed |= self._fragment(stream, page, at, run, complete=value < 255)
                at, run = at + run, 0
                if stream.done:
                    break  # the rest of the page is the stream's first audio or video packets
        if not changed:
            return Copy(pos, pos + len(page))
        self.rewritten += len(page)
        if self.rewritten > MAX_REWRITTEN:
            raise CannotClean("Ogg comment headers too large to rewrite")
        struct.pack_into("<I", page, 22, crc_of(page))
        return bytes(page)

    def _fragment(self, stream: _Stream, page: bytearray, at: int, n: int, complete: bool) -> bool:
        """One packet's bytes on this page; True when they were rewritten."""
        packet = stream.packet or self._packet(stream, page[at : at + n])
        original = bytes(page[at : at + n])
        offset = packet.length
        if packet.rewrite is not None:
            page[at : at + n] = _new_bytes(packet, offset, original)
            packet.data += original
        elif len(packet.data) < MAX_HEAD:
            packet.data += original[: MAX_HEAD - len(packet.data)]
        packet.length += n
        stream.packet = None if complete else packet
        if complete:
            self._complete(stream, packet)
        return packet.rewrite is not None

    def _packet(self, stream: _Stream, first: bytearray) -> _Packet:
        """What becomes of the header packet that starts with `first`."""
        codec = stream.codec
        assert codec is not None
        if codec.label != "FLAC" or stream.index == 0:
            return _Packet(codec.comment if stream.index == 1 else None)
        kind = first[0] & 0x7F if first else INVALID
        if kind == VORBIS_COMMENT:
            return _Packet(first[:1], keep=(1, 4))
        if kind == SEEKTABLE:
            return _Packet(None)
        return _Packet(bytes([first[0] & 0x80 | PADDING]) if first else b"", keep=(1, 4))

    def _complete(self, stream: _Stream, packet: _Packet) -> None:
        codec = stream.codec
        assert codec is not None
        data = bytes(packet.data)
        if codec.label == "FLAC":
            self._flac_packet(stream, data, packet.length)
        else:
            if not data.startswith(codec.magics[stream.index]):
                raise CannotClean(f"an Ogg {codec.label} stream with a broken header")
            if stream.index == 1:
                if packet.length < len(codec.magics[1]) + 8 + codec.framing:
                    raise CannotClean(f"an Ogg {codec.label} comment header too short")
                skip = len(codec.magics[1])
                self.found.extend(comment_findings(codec.label, data[skip:], framing=codec.framing))
            stream.done = stream.index + 1 == codec.headers
        stream.index += 1

    def _flac_packet(self, stream: _Stream, data: bytes, length: int) -> None:
        """FLAC-in-Ogg: the mapping packet (with STREAMINFO), then one metadata block per packet."""
        if stream.index == 0:
            if length != 51 or data[9:13] != b"fLaC" or data[13] & 0x7F != STREAMINFO or data[5] != 1:
                raise CannotClean("an Ogg FLAC stream with a broken first header")
            stream.done = bool(data[13] & 0x80)
            return
        if length < 4 or len(data) < 4:  # an empty packet has no block header to read
            raise CannotClean("an Ogg FLAC metadata block of a broken size or type")
        kind, size = data[0] & 0x7F, int.from_bytes(data[1:4], "big")
        if size != length - 4 or kind in (STREAMINFO, INVALID):
            raise CannotClean("an Ogg FLAC metadata block of a broken size or type")
        if kind == VORBIS_COMMENT:
            self.found.extend(comment_findings("FLAC", data[4:]))
        elif kind == SEEKTABLE and size % 18:
            raise CannotClean("an Ogg FLAC SEEKTABLE of a broken size")
        elif kind not in (PADDING, SEEKTABLE):
            self.found.append(block_finding("FLAC/", kind))
        if stream.index >= 1024:
            raise CannotClean("too many Ogg FLAC metadata blocks")
        stream.done = bool(data[0] & 0x80)


def _new_bytes(packet: _Packet, offset: int, original: bytes) -> bytes:
    """Bytes [offset, offset + len(original)) of the rewritten packet: its new start, then zeros, with
    the original's bytes in `keep` (a FLAC block's length stays the same)."""
    n = len(original)
    out = bytearray(n)
    start = packet.rewrite[offset : offset + n] if packet.rewrite else b""
    out[: len(start)] = start
    lo, hi = max(packet.keep[0], offset), min(packet.keep[1], offset + n)
    if lo < hi:
        out[lo - offset : hi - offset] = original[lo - offset : hi - offset]
    return bytes(out)


# Ogg's CRC is zlib's polynomial, not reflected, with no initial or final inversion. zlib computes the
# reflected one; over bit-reversed bytes, started from 0 instead of ~0, it gives the bit-reversed Ogg CRC.
_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc_of(page: bytes | bytearray) -> int:
    """The checksum of an Ogg page whose checksum field is zeroed."""
    reflected = zlib.crc32(bytes(page).translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)
