"""Ogg files shaped like what phones write (ogg_corpus.py), cleaned by metadata/ogg.py: an Android
Opus recording, a Vorbis comment spanning pages, Theora video with Vorbis, FLAC in Ogg with a PICTURE
block. Each loses its markers, keeps every page in place, and decodes to the same samples and frames;
the reference libraries (libvorbisfile, libtheoradec, libFLAC) read the emptied headers.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
from pathlib import Path

import pytest

from tests.media.ogg_corpus import DATE, PERSON, PLACE, corpus_files, packets, pages
from tests.media.parity import decoded_md5, py_clean
from tests.media.test_flac import libflac_read

MARKERS = [PLACE.encode(), PERSON.encode(), DATE.encode(), b"Lavf", b"Lavc"]


def probe(path: Path) -> dict:
    run = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_name,nb_read_packets,duration:stream_tags:format_tags:format=duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(run.stdout)


def without_tags(info: dict) -> dict:
    """What ffprobe says of the sound and video, without the tags and the cover picture we drop."""
    streams = [s for s in info["streams"] if s["codec_name"] not in ("png", "mjpeg")]
    return {"streams": [{k: v for k, v in s.items() if k != "tags"} for s in streams],
            "format": {k: v for k, v in info["format"].items() if k != "tags"}}  # fmt: skip


def tags(info: dict) -> list:
    return [s.get("tags") for s in info["streams"]] + [info["format"].get("tags")]


def layout(page: bytes) -> bytes:
    """A page without its checksum and body: version, flags, granule, serial, sequence, lacing."""
    return page[4:22] + page[26 : 27 + page[26]]


class _Comment(ctypes.Structure):  # vorbis_comment and th_comment have the same fields
    _fields_ = [("user_comments", ctypes.c_void_p), ("comment_lengths", ctypes.c_void_p),
                ("comments", ctypes.c_int), ("vendor", ctypes.c_char_p)]  # fmt: skip


class _Packet(ctypes.Structure):  # ogg_packet
    _fields_ = [("packet", ctypes.c_char_p), ("bytes", ctypes.c_long), ("b_o_s", ctypes.c_long),
                ("e_o_s", ctypes.c_long), ("granulepos", ctypes.c_int64),
                ("packetno", ctypes.c_int64)]  # fmt: skip


def vorbisfile_read(path: Path) -> tuple[int, bytes, int]:
    """The reference Vorbis reader, libvorbisfile, over a file: the comments and vendor it found in the
    first Vorbis stream, and the samples it decoded."""
    lib = ctypes.CDLL("libvorbisfile.so.3")
    lib.ov_comment.restype = ctypes.POINTER(_Comment)
    state = ctypes.create_string_buffer(16384)  # an OggVorbis_File, with room to spare
    assert lib.ov_fopen(str(path).encode(), state) == 0
    comment = lib.ov_comment(state, -1).contents
    found = comment.comments, comment.vendor
    buffer, samples, section = ctypes.create_string_buffer(8192), 0, ctypes.c_int()
    while (n := lib.ov_read(state, buffer, len(buffer), 0, 2, 1, ctypes.byref(section))) > 0:
        samples += n
    assert n == 0, n  # 0 is the end; a negative number an error
    lib.ov_clear(state)
    return *found, samples


def theora_headers(packets: list[bytes]) -> tuple[int, bytes]:
    """libtheoradec reads a Theora stream's three headers: the comments and vendor it found."""
    lib = ctypes.CDLL("libtheoradec.so.1")
    info, comment, setup = ctypes.create_string_buffer(1024), _Comment(), ctypes.c_void_p()
    lib.th_info_init(info)
    lib.th_comment_init(ctypes.byref(comment))
    for number, data in enumerate(packets):
        packet = _Packet(data, len(data), int(number == 0), 0, 0, number)
        headers = ctypes.byref(comment), ctypes.byref(setup), ctypes.byref(packet)
        assert lib.th_decode_headerin(info, *headers) > 0
    found = comment.comments, comment.vendor
    lib.th_setup_free(setup)
    lib.th_comment_clear(ctypes.byref(comment))
    lib.th_info_clear(info)
    return found


def cleaned_to(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def assert_clean(original: bytes, cleaned: bytes, markers: list[bytes]) -> None:
    for marker in markers:
        assert marker in original, marker  # else the test proves nothing
        assert marker not in cleaned, marker


def assert_same_pages(original: bytes, cleaned: bytes) -> int:
    """Every page keeps its place and layout; only comment pages change. The number that changed."""
    before, after = pages(original), pages(cleaned)
    assert [layout(p) for p in before] == [layout(p) for p in after]
    return sum(a != b for a, b in zip(before, after, strict=True))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corpus_files(tmp_path_factory)


def test_android_opus_loses_its_tags_and_decodes_the_same(corpus: dict[str, Path], tmp_path: Path) -> None:
    path = corpus["android.opus.ogg"]
    original = path.read_bytes()
    out = py_clean(original)
    assert out.mime == "audio/ogg"
    assert_clean(original, out.data, [*MARKERS, b"Voice 001", b"METADATA_BLOCK_PICTURE"])
    kinds = {where: kind for kind, where in out.found}
    assert kinds["Opus/LOCATION"] == "place" and kinds["Opus/ARTIST"] == "person"
    assert kinds["Opus/DATE"] == "time" and kinds["Opus/vendor"] == "software"
    assert kinds["Opus/METADATA_BLOCK_PICTURE"] == "thumbnail" and kinds["Opus/TITLE"] == "text"
    assert len(out.data) == len(original)
    assert assert_same_pages(original, out.data) == 1
    cleaned = cleaned_to(tmp_path, "clean.ogg", out.data)
    assert decoded_md5(cleaned) == decoded_md5(path)
    assert without_tags(probe(cleaned)) == without_tags(probe(path))
    assert tags(probe(cleaned)) == [None, None]


def test_a_comment_over_several_pages_keeps_the_page_layout(corpus: dict[str, Path], tmp_path: Path) -> None:
    path = corpus["long.vorbis.ogg"]
    original = path.read_bytes()
    comment = next(p for _, p, _ in packets(original) if p.startswith(b"\x03vorbis"))
    assert len(comment) > 65_025  # more than one page can hold
    out = py_clean(original)
    assert_clean(original, out.data, [*MARKERS, b"x" * 1000])
    changed = assert_same_pages(original, out.data)
    assert changed >= 2
    setup = next(p for _, p, _ in packets(original) if p.startswith(b"\x05vorbis"))
    assert setup in out.data  # the setup header shares the comment's last page, kept exactly
    cleaned = cleaned_to(tmp_path, "clean.ogg", out.data)
    assert decoded_md5(cleaned) == decoded_md5(path)
    assert without_tags(probe(cleaned)) == without_tags(probe(path))


def test_theora_and_vorbis_both_lose_their_comments(corpus: dict[str, Path], tmp_path: Path) -> None:
    path = corpus["theora.ogg"]
    original = path.read_bytes()
    out = py_clean(original)
    assert out.mime == "video/ogg"
    assert_clean(original, out.data, MARKERS)
    wheres = {w for _, w in out.found}
    assert wheres >= {"Theora/LOCATION", "Vorbis/LOCATION", "Theora/vendor", "Vorbis/vendor"}
    assert_same_pages(original, out.data)
    cleaned = cleaned_to(tmp_path, "clean.ogg", out.data)
    assert decoded_md5(cleaned, "0:v") == decoded_md5(path, "0:v")
    assert decoded_md5(cleaned, "0:a") == decoded_md5(path, "0:a")
    assert without_tags(probe(cleaned)) == without_tags(probe(path))
    assert tags(probe(cleaned)) == [None, None, None]


@pytest.mark.parametrize("name", ["flac.oga", "picture.flac.oga"])
def test_flac_in_ogg_keeps_streaminfo_and_pads_the_rest(corpus: dict, tmp_path: Path, name: str) -> None:
    path = corpus[name]
    original = path.read_bytes()
    out = py_clean(original)
    markers = [*MARKERS[:4], b"Holiday", b"image/png"] if name.startswith("picture") else MARKERS[:4]
    assert_clean(original, out.data, markers)
    assert ("person", "FLAC/ARTIST") in out.found
    if name.startswith("picture"):
        assert ("thumbnail", "FLAC/PICTURE") in out.found
        blocks = [p for _, p, _ in packets(out.data)][1:3]
        assert [b[0] for b in blocks] == [4, 0x80 | 1]  # the comment kept (emptied), the picture now PADDING
    assert_same_pages(original, out.data)
    cleaned = cleaned_to(tmp_path, "clean.oga", out.data)
    assert decoded_md5(cleaned) == decoded_md5(path)


@pytest.mark.parametrize("name", ["long.vorbis.ogg", "theora.ogg"])
def test_the_reference_libraries_read_the_emptied_headers(corpus: dict, tmp_path: Path, name: str) -> None:
    original = corpus[name].read_bytes()
    cleaned = cleaned_to(tmp_path, "clean.ogg", py_clean(original).data)
    comments, vendor, samples = vorbisfile_read(cleaned)
    assert (comments, vendor) == (0, b"")
    before = vorbisfile_read(corpus[name])
    assert before[:2] != (0, b"") and before[2] == samples
    assert samples > 0 or name == "theora.ogg"  # vorbisfile decodes no Vorbis multiplexed with video
    if name == "theora.ogg":
        items = packets(cleaned.read_bytes())
        serial = next(s for s, p, _ in items if p.startswith(b"\x80theora"))
        assert theora_headers([p for s, p, _ in items if s == serial][:3]) == (0, b"")


@pytest.mark.parametrize("name", ["flac.oga", "picture.flac.oga"])
def test_libflac_reads_the_padded_flac_headers(corpus: dict, tmp_path: Path, name: str) -> None:
    cleaned = cleaned_to(tmp_path, "clean.oga", py_clean(corpus[name].read_bytes()).data)
    types, samples, errors, md5 = libflac_read(cleaned, ogg=True)
    assert types == ([0, 4] if name == "flac.oga" else [0, 4, 1])  # the picture now PADDING
    assert (errors, md5) == ([], True) and samples == libflac_read(corpus[name], ogg=True)[1] > 0
