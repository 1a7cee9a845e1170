"""ISO BMFF boxes: reading their headers and bodies under limits, and naming what a dropped one was.

Shared by bmff.py (movies) and heif.py (photos), which are the same container read two ways.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import Finding
from ._source import Source
from .errors import CannotClean

MAX_MOOV = 64 << 20  # the movie header (sample tables): a larger one is refused
MAX_TOP = 1 << 18  # top-level boxes (an hour of one fragment a frame at 30 fps has 216 000)
MAX_CHILDREN = 1 << 16  # boxes in one container read into memory
MAX_ZEROED = 64 << 20  # bytes of timed-metadata samples (or photo items) overwritten in place
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
QUIET = {b"free", b"skip", b"wide"}  # padding: dropped without a finding
BOX_KINDS = {
    b"prft": "time",
    b"PICT": "thumbnail",
    b"thum": "thumbnail",
    b"thmb": "thumbnail",
}  # dropped unread

# -- boxes ----------------------------------------------------------------------------------------


@dataclass
class Box:
    kind: bytes
    start: int
    body: int  # where the payload starts (after size, type, largesize, usertype)
    end: int
    user: bytes = b""  # the usertype of a uuid box
    head: bytes = b""  # the header as read (top-level boxes), so a box is never read twice

    @property
    def name(self) -> str:
        return name(self.kind)


def top_header(source: Source, pos: int) -> Box:
    """The header of the top-level box at `pos` (size 0: to the end of the file)."""
    head = source.read_at(pos, 8)
    size, kind = struct.unpack(">I4s", head)
    if size == 1:
        head += source.read_at(pos + 8, 8)
        size = struct.unpack_from(">Q", head, 8)[0]
    elif size == 0:
        size = source.size - pos
    user = b""
    if kind == b"uuid":
        user = source.read_at(pos + len(head), 16)
        head += user
    body = pos + len(head)
    if size < body - pos or pos + size > source.size:
        raise CannotClean(f"the box {name(kind)!r} at {pos} has a size out of bounds")
    return Box(kind, pos, body, pos + size, user, head)


def read_body(source: Source, box: Box, cap: int, what: str) -> bytes:
    if box.end - box.body > cap:
        raise CannotClean(f"the {what} box is larger than we read ({max(1, cap >> 20)} MiB)")
    return source.read_at(box.body, box.end - box.body)


def read_whole(source: Source, box: Box, cap: int) -> bytearray:
    """A top-level box, header and body, whose header has been read already."""
    return bytearray(box.head + read_body(source, box, cap, box.name))


def box_at(data: bytes, pos: int, end: int) -> Box:
    """The box at `pos` inside `data[:end]` (size 0: to the end of its container)."""
    if pos + 8 > end:
        raise CannotClean("a box header runs past its container")
    size, kind = struct.unpack_from(">I4s", data, pos)
    body = pos + 8
    if size == 1:
        if body + 8 > end:
            raise CannotClean("a box header runs past its container")
        size = struct.unpack_from(">Q", data, body)[0]
        body += 8
    elif size == 0:
        size = end - pos
    user = b""
    if kind == b"uuid":
        user = bytes(data[body : body + 16])
        body += 16
    if size < body - pos or pos + size > end:
        raise CannotClean(f"the box {name(kind)!r} has a size out of bounds")
    return Box(kind, pos, body, pos + size, user)


def children(data: bytes, start: int, end: int) -> list[Box]:
    """The boxes in `data[start:end]`; up to 7 zero bytes at the end (QuickTime's terminator) pass."""
    out, pos = [], start
    while end - pos >= 8:
        if len(out) == MAX_CHILDREN:
            raise CannotClean("too many boxes in one container")
        box = box_at(data, pos, end)
        out.append(box)
        pos = box.end
    if any(data[pos:end]):
        raise CannotClean("stray bytes after the last box of a container")
    return out


def child(data: bytes, start: int, end: int, kind: bytes) -> Box | None:
    return next((b for b in children(data, start, end) if b.kind == kind), None)


def path(data: bytes, box: Box, kinds: tuple[bytes, ...]) -> Box | None:
    """The first box down the chain `kinds` from `box`."""
    for kind in kinds:
        found = child(data, box.body, box.end, kind)
        if found is None:
            return None
        box = found
    return box


def meta_children(data: bytes, box: Box) -> list[Box]:
    """A meta box is a full box in ISO files, a plain container in QuickTime's: hdlr comes first."""
    if box.end - box.body < 12:
        return []
    start = box.body if data[box.body + 4 : box.body + 8] == b"hdlr" else box.body + 4
    return children(data, start, box.end)


def name(kind: bytes) -> str:
    return "".join(ch if " " <= ch <= "~" or ch == "©" else "?" for ch in kind.decode("latin-1"))


def u32(data: bytes, at: int) -> int:
    return struct.unpack_from(">I", data, at)[0]


def need(end: int, limit: int, what: str) -> None:
    if end > limit:
        raise CannotClean(f"the {what} box is cut short")


def other(box: Box, path: str) -> Finding:
    """A dropped box we do not read: what its type says it is (prft: the wall-clock time of capture)."""
    where = f"{path}/{box.name}" if path else box.name
    if box.kind in BOX_KINDS:
        return Finding(BOX_KINDS[box.kind], where)
    if box.kind == b"uuid":
        return Finding("other", where, "XMP" if box.user == XMP_UUID else box.user.hex())
    if box.kind == b"XMP_":
        return Finding("other", where, "XMP")
    return Finding("other", where)


def text(raw: bytes) -> str:
    raw = bytes(raw[:512])
    if raw[:2] == b"\xfe\xff":
        return raw[2:].decode("utf-16-be", "replace").split("\0", 1)[0]
    if raw[:2] == b"\xff\xfe":
        return raw[2:].decode("utf-16-le", "replace").split("\0", 1)[0]
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
