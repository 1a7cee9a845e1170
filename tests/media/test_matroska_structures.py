"""Matroska structures (metadata/matroska.py) in small hand-built files (matroska_build.py): a Void is
exactly as long as what it replaces, a CRC-32 is recomputed, Seek entries to removed elements are
voided, 8-byte and unknown sizes are read, CodecPrivate comment headers are emptied, and what cannot be
cleaned safely is refused.
"""

from __future__ import annotations

import struct
import zlib

import pytest

import metadata
from metadata import matroska
from tests.media.matroska_build import (
    BUILT,
    built_crc,
    built_flac,
    built_seek,
    built_wide,
    built_xiph,
    cluster,
    ebml_header,
    el,
    info,
    segment,
    track,
)
from tests.media.matroska_corpus import PLACE
from tests.media.parity import py_clean


@pytest.mark.parametrize("total", [*range(2, 140), 16383, 16384, 16385, 16386, 1 << 21, (1 << 21) + 3])
def test_void_is_exactly_as_long(total: int) -> None:
    v = matroska.void(total)
    eid, size, length = matroska._header(v, 0)
    assert (eid, len(v), length + size) == (matroska.VOID, total, total) and not any(v[length:])


def test_crc_recomputed_when_its_master_changes() -> None:
    cleaned = py_clean(built_crc())
    assert b"Secret Title" not in cleaned.data and b"Lavf" not in cleaned.data
    at = cleaned.data.index(matroska.INFO.to_bytes(4, "big"))
    _, size, length = matroska._header(cleaned.data, at)
    body = cleaned.data[at + length : at + length + size]
    assert body[:2] == b"\xbf\x84" and body[2:6] == struct.pack("<I", zlib.crc32(body[6:]))


def test_seek_entries_to_removed_elements_are_voided() -> None:
    data = built_seek()
    cleaned = py_clean(data)
    assert matroska.CUES.to_bytes(4, "big") in cleaned.data  # the Seek entry to Cues stays
    assert matroska.TAGS.to_bytes(4, "big") in data and matroska.TAGS.to_bytes(4, "big") not in cleaned.data
    assert b"something unknown" not in cleaned.data and len(cleaned.data) == len(data)
    assert ("other", "Segment/0x1ABCDEF0") in cleaned.found and ("text", "Tags/COMMENT") in cleaned.found


def test_eight_byte_sizes_and_unknown_sizes() -> None:
    data = built_wide()
    cleaned = py_clean(data)
    assert b"Secret Title" not in cleaned.data and b"Camera Track" not in cleaned.data
    assert cleaned.mime == "video/webm" and len(cleaned.data) == len(data)


def test_comment_headers_in_codec_private_are_emptied() -> None:
    for name, markers in (("xiph", [b"Samsung", b"Ivan", PLACE]), ("flac", [b"libFLAC", b"Ivan", b"JFIF"])):
        data = BUILT[name]()
        cleaned = py_clean(data)
        assert len(cleaned.data) == len(data)
        for marker in markers:
            assert marker in data and marker not in cleaned.data, (name, marker)
        assert py_clean(cleaned.data).found == []
    assert ("place", "Vorbis comment/LOCATION") in py_clean(built_xiph()).found
    assert ("other", "FLAC block 6") in py_clean(built_flac()).found


def test_a_void_with_leftovers_is_zeroed_and_trailing_data_dropped() -> None:
    data = (
        ebml_header()
        + el(matroska.VOID, b"old title")
        + segment(info(), el(matroska.TRACKS, track(b"A_OPUS")))
    )
    cleaned = py_clean(data + b"junk after the segment")
    assert b"old title" not in cleaned.data and b"junk" not in cleaned.data
    assert len(cleaned.data) == len(data) and ("other", "trailing data") in cleaned.found


UNKNOWN_CHILD = el(0x4321, b"x")


@pytest.mark.parametrize(
    "data",
    [
        ebml_header() + segment(info(), el(matroska.TRACKS, track(b"A_OPUS"))) * 2,  # two Segments
        ebml_header() + segment(el(matroska.TAGS, b"", unknown=True), el(matroska.TRACKS, track(b"A_OPUS"))),
        ebml_header()
        + segment(el(matroska.TRACKS, track(b"A_OPUS")), el(matroska.CLUSTER, UNKNOWN_CHILD, unknown=True)),
        ebml_header() + segment(info()),  # no Tracks
        ebml_header() + segment(el(matroska.TRACKS, track(b"A_OPUS"))) + cluster(),  # Segment too short
        ebml_header(b"notmkv") + segment(el(matroska.TRACKS, track(b"A_OPUS"))),
        (ebml_header() + segment(info(), el(matroska.TRACKS, track(b"A_OPUS"))))[:-5],  # cut inside Tracks
        ebml_header() + segment(el(matroska.TRACKS, track(b"A_VORBIS", b"\x02\x01"))),  # Xiph lacing cut
    ],
)
def test_refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_clean(data)
