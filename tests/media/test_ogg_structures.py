"""Ogg structures (metadata/ogg.py) in files put together from the test files' pages (ogg_corpus.py):
a Skeleton stream is dropped, every link of a chained file is cleaned, a page cut short at the end is
dropped and said, and what cannot be cleaned safely is refused.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import metadata
from tests.media.ogg_corpus import PERSON, corpus_files, packets, page, pages
from tests.media.parity import py_clean


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corpus_files(tmp_path_factory)


def test_a_skeleton_stream_is_dropped(corpus: dict[str, Path]) -> None:
    plain = corpus["android.opus.ogg"].read_bytes()
    opus = pages(plain)
    fishead = b"fishead\0" + struct.pack("<HHqqqq", 3, 0, 0, 1, 0, 1) + b"20260501T101112.000Z"
    fisbone = b"fisbone\0" + struct.pack("<IIIqqqIB3x", 44, 0x5EC, 2, 48000, 1, 0, 3840, 0)
    fisbone += f"Content-Type: audio/opus\r\nName: {PERSON}\r\n".encode()
    skeleton = [page(7, 0, 0, 2, fishead), page(7, 1, 0, 0, fisbone), page(7, 2, 0, 4, b"")]
    data = skeleton[0] + opus[0] + skeleton[1] + skeleton[2] + b"".join(opus[1:])
    out = py_clean(data)
    assert out.data == py_clean(plain).data
    assert ("other", "Skeleton") in out.found


def test_a_chained_file_loses_the_comments_of_every_link(corpus: dict[str, Path]) -> None:
    first, second = corpus["android.opus.ogg"].read_bytes(), corpus["flac.oga"].read_bytes()
    out = py_clean(first + second)
    assert out.data == py_clean(first).data + py_clean(second).data
    assert {"Opus/LOCATION", "FLAC/LOCATION"} <= {w for _, w in out.found}
    assert py_clean(first + corpus["theora.ogg"].read_bytes()).mime == "video/ogg"


def test_a_page_cut_short_at_the_end_is_dropped_and_said(corpus: dict[str, Path]) -> None:
    original = corpus["android.opus.ogg"].read_bytes()
    last = pages(original)[-1]
    cut = original[: len(original) - len(last) // 2]
    out = py_clean(cut)
    assert out.data == py_clean(original).data[: len(original) - len(last)]
    assert ("other", "a page cut short") in out.found


def _refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_clean(data)


def test_what_we_cannot_promise_is_refused(corpus: dict[str, Path]) -> None:
    original = corpus["android.opus.ogg"].read_bytes()
    first = pages(original)
    _refused(page(9, 0, 0, 2, b"Speex   " + bytes(72)) + original)  # a codec we do not clean
    bad = bytearray(original)
    bad[len(first[0]) + 40] ^= 1  # inside the comment page: its checksum no longer matches
    _refused(bytes(bad))
    _refused(original[: len(first[0]) + 100])  # cut inside the comment header
    _refused(first[0] + page(5, 0, 0, 0, b"stray") + b"".join(first[1:]))  # a page of no stream
    _refused(first[0] + b"junk" + b"".join(first[1:]))  # bytes between pages
    _refused(first[0] + first[0] + b"".join(first[1:]))  # two first pages of one stream
    _refused(b"".join(first[2:]))  # no first page at all
    opus_head = packets(original)[0][1]
    broken = page(1, 0, 0, 2, opus_head) + page(1, 1, 0, 0, b"OpusTags\xff\xff\xff\x7f" + bytes(8))
    _refused(broken)  # a vendor string longer than its packet
