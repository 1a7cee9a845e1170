"""AMR and AMR-WB storage files (RFC 4867 section 5): nothing to remove, so the file is kept whole.

The format is a magic line ("#!AMR\\n", "#!AMR-WB\\n", or the multichannel "#!AMR_MC1.0\\n" and
"#!AMR-WB_MC1.0\\n" followed by a channel description) and then speech frames, each a one-byte header
and a payload whose size the header's frame type fixes. There is no place for a tag, a date or a device
name: phones that add those write AMR inside a 3GP container instead (bmff.py). We check the magic, the
channel description and that the first frame header is one a decoder accepts (padding bits clear, a
frame type with a known size, its payload present), so what we pass on really is AMR; the rest is copied.
"""

from __future__ import annotations

from . import Plan
from ._source import Copy, Source
from .errors import CannotClean

# Payload bytes by frame type (None: reserved); RFC 4867 table 1a/1b. 15 is NO_DATA, WB 14 SPEECH_LOST.
NB_SIZES = (12, 13, 15, 17, 19, 20, 26, 31, 5, None, None, None, None, None, None, 0)
WB_SIZES = (17, 23, 32, 36, 40, 46, 50, 58, 60, 5, None, None, None, None, 0, 0)
MAGICS = (  # longest first: "#!AMR" starts every one of them
    (b"#!AMR-WB_MC1.0\n", "audio/amr-wb", WB_SIZES, True),
    (b"#!AMR_MC1.0\n", "audio/amr", NB_SIZES, True),
    (b"#!AMR-WB\n", "audio/amr-wb", WB_SIZES, False),
    (b"#!AMR\n", "audio/amr", NB_SIZES, False),
)


def plan(source: Source) -> Plan:
    head = source.read_at(0, min(source.size, 20))
    match = next((m for m in MAGICS if head.startswith(m[0])), None)
    if match is None:
        raise CannotClean("not an AMR file")
    magic, mime, sizes, multichannel = match
    pos = len(magic)
    if multichannel:
        pos += 4
        described = int.from_bytes(head[len(magic) : pos], "big") if len(head) >= pos else 0
        if described >> 4 or not described & 0xF:  # 28 reserved bits, then the channel count
            raise CannotClean("an AMR channel description we do not know")
    if pos >= len(head):
        raise CannotClean("an AMR file without a frame")
    frame = head[pos]
    size = sizes[frame >> 3 & 0xF]
    if frame & 0x83 or size is None or pos + 1 + size > source.size:
        raise CannotClean("an AMR file whose first frame is not one")
    return Plan(mime, [Copy(0, source.size)], [])
