"""WAV (RIFF/WAVE, and RF64): only the chunks that say how to play the sound survive.

A WAV file is a list of chunks; a player needs `fmt ` (the sample format), `data` (the samples) and,
for compressed formats, `fact` (the sample count). Everything else is description: LIST/INFO (title,
artist, date, software), bext (the broadcast extension: originator, date and time of the recording),
iXML, id3, _PMX (XMP), cart, axml, JUNK... All of it is dropped and the RIFF size rewritten.

Streaming recorders write the header before they know the length, so a data size of 0 or 0xFFFFFFFF,
or one that runs past the end, means "to the end of the file": it is clamped to what is there (whole
sample frames) and written out. RF64 (files over 4 GiB) keeps its ds64 chunk, rewritten with no table.
"""

from __future__ import annotations

import struct

from . import Finding, Plan
from ._source import Copy, Piece, Source
from .errors import CannotClean
from .mp3 import PLACE

KEEP = (b"fmt ", b"data", b"fact")
MAX_READ = 1 << 20  # a LIST or bext chunk larger than this is dropped without reading its fields
MAX_FMT = 1 << 16
UNKNOWN = 0xFFFFFFFF
INFO_KINDS = {
    "IART": "person", "IENG": "person", "ICOP": "person", "ICMS": "person", "ITCH": "person",
    "ICRD": "time", "IDIT": "time", "ISFT": "software", "ISRC": "other",
}  # fmt: skip  # any other INFO field is text (INAM, ICMT, IPRD, IKEY...)


def plan(source: Source) -> Plan:
    head = source.read_at(0, 12) if source.size >= 12 else b""
    if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise CannotClean("not a RIFF/WAVE file")
    riff_end = 8 + struct.unpack_from("<I", head, 4)[0]
    walk = _Walk(source, riff_end if 12 <= riff_end <= source.size else None, head[:4] == b"RF64")
    walk.run()
    return walk.plan()


class _Walk:
    """One pass over the chunks, front to back, collecting the kept ones and the findings."""

    def __init__(self, source: Source, riff_end: int | None, rf64: bool) -> None:
        self.source, self.riff_end, self.rf64 = source, riff_end, rf64
        self.limit = source.size if riff_end is None else riff_end
        self.kept: list[tuple[bytes, int, int]] = []  # (id, body start, body length)
        self.found: list[Finding] = []
        self.block_align = 1
        self.ds64_data: int | None = None

    def run(self) -> None:
        pos, size = 12, self.source.size
        while pos + 8 <= self.limit:
            cid, length = struct.unpack("<4sI", self.source.read_at(pos, 8))
            body = pos + 8
            if cid == b"data":
                if self._data(body, length):
                    return  # the samples run to the end of the file: nothing after them is a chunk
                length = self.kept[-1][2]
            elif body + length > size:
                raise CannotClean(f"the WAV chunk {_name(cid)!r} runs past the end of the file")
            else:
                self._chunk(cid, body, length)
            pos = min(body + length + (length & 1), size)
        if pos < size:
            self.found.append(Finding("other", "trailing data", f"{size - pos} bytes"))

    def _data(self, body: int, length: int) -> bool:
        """Keeps the data chunk; True when its size was unknown or too large and it was clamped to the
        end of the file (whole sample frames only)."""
        if any(k[0] == b"data" for k in self.kept):
            raise CannotClean("a WAV file with two data chunks")
        if self.rf64 and length == UNKNOWN and self.ds64_data is not None:
            length = self.ds64_data
        unknown = length == UNKNOWN or (length == 0 and self.riff_end is None)
        if unknown or body + length > self.source.size:
            room = self.source.size - body
            self.kept.append((b"data", body, room - room % self.block_align))
            return True
        self.kept.append((b"data", body, length))
        return False

    def _chunk(self, cid: bytes, body: int, length: int) -> None:
        if cid == b"fmt ":
            self._fmt(body, length)
        elif cid == b"fact":
            if length > MAX_FMT or any(k[0] == b"fact" for k in self.kept):
                raise CannotClean("the WAV fact chunk is too large or repeated")
            self.kept.append((cid, body, length))
        elif cid == b"ds64" and self.rf64:
            self._ds64(body, length)
        elif cid == b"LIST":
            self._list(body, length)
        elif cid == b"bext":
            self._bext(body, length)
        else:
            self.found.append(Finding("other", _name(cid)))

    def _fmt(self, body: int, length: int) -> None:
        if any(k[0] == b"fmt " for k in self.kept) or not 14 <= length <= MAX_FMT:
            raise CannotClean("the WAV fmt chunk is missing its fields or repeated")
        fields = self.source.read_at(body, 14)
        self.block_align = max(1, struct.unpack_from("<H", fields, 12)[0])
        self.kept.append((b"fmt ", body, length))

    def _ds64(self, body: int, length: int) -> None:
        if length < 28 or length > MAX_FMT:
            raise CannotClean("the RF64 ds64 chunk is malformed")
        self.ds64_data = struct.unpack_from("<Q", self.source.read_at(body, 28), 8)[0]

    def _list(self, body: int, length: int) -> None:
        if length < 4 or length > MAX_READ:
            self.found.append(Finding("other", "LIST"))
            return
        data = self.source.read_at(body, length)
        form = _name(data[:4])
        if form != "INFO":
            self.found.append(Finding("other", f"LIST/{form}"))
            return
        self.found.extend(_info_fields(data))

    def _bext(self, body: int, length: int) -> None:
        if length < 346 or length > MAX_READ:
            self.found.append(Finding("other", "bext"))
            return
        self.found.extend(_bext_fields(self.source.read_at(body, length)))

    def plan(self) -> Plan:
        ids = [k[0] for k in self.kept]
        if b"fmt " not in ids or b"data" not in ids:
            raise CannotClean("a WAV file without its fmt or data chunk")
        pieces: list[Piece] = []
        for cid, body, length in self.kept:
            size_field = UNKNOWN if self.rf64 and cid == b"data" else length
            pieces += [struct.pack("<4sI", cid, size_field), Copy(body, body + length)]
            pieces += [b"\0"] if length & 1 else []
        total = 4 + sum(len(p) for p in pieces)
        if self.rf64:
            data_len = next(length for cid, _, length in self.kept if cid == b"data")
            ds64 = struct.pack("<4sIQQQI", b"ds64", 28, total + 36, data_len, 0, 0)
            head = struct.pack("<4sI4s", b"RF64", UNKNOWN, b"WAVE")
            return Plan("audio/wav", [head, ds64, *pieces], self.found)
        if total > UNKNOWN:
            raise CannotClean("a RIFF file over 4 GiB")
        return Plan("audio/wav", [struct.pack("<4sI4s", b"RIFF", total, b"WAVE"), *pieces], self.found)


def _info_fields(data: bytes) -> list[Finding]:
    """The fields of a LIST/INFO chunk (data starts with the form type), each a finding."""
    found, pos = [], 4
    while pos + 8 <= len(data):
        fid, length = struct.unpack_from("<4sI", data, pos)
        value = data[pos + 8 : pos + 8 + length]
        name = _name(fid)
        if value.strip(b"\0 "):
            text = _text(value)
            found.append(Finding(_placed(INFO_KINDS.get(name, "text"), text), f"LIST/INFO/{name}", text))
        pos += 8 + length + (length & 1)
    return found


def _bext_fields(data: bytes) -> list[Finding]:
    """Description, originator (a person or a device name), its reference, date and time, history."""
    fields = [
        ("text", "Description", data[0:256]),
        ("person", "Originator", data[256:288]),
        ("other", "OriginatorReference", data[288:320]),
        ("time", "OriginationDate", data[320:330] + b" " + data[330:338]),
        ("other", "UMID", data[348:412].hex().encode() if data[348:412].strip(b"\0") else b""),
        ("software", "CodingHistory", data[602:]),
    ]
    found = []
    for kind, name, raw in fields:
        value = _text(raw)
        if value.strip("0-: "):  # a zeroed date is not a finding
            found.append(Finding(_placed(kind, value), f"bext/{name}", value))
    return found


def _placed(kind: str, value: str) -> str:
    """A field that holds a position (an ISO 6709 string in a comment) is a place."""
    return "place" if PLACE.search(value) else kind


def _text(raw: bytes) -> str:
    """A NUL-terminated Latin-1 field; only its start (a finding shows 80 characters)."""
    return raw.split(b"\0", 1)[0][:256].decode("latin-1")


def _name(cid: bytes) -> str:
    return cid.decode("latin-1").rstrip(" ")
