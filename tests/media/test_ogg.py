"""Ogg (metadata/ogg.py and clean/ogg.mjs): comment headers emptied in place, every page kept.

Files are made here by ffmpeg, shaped like what an Android recorder writes (Opus with ENCODER, DATE,
LOCATION, ARTIST), plus the awkward cases: a Vorbis comment spanning pages, Theora video with Vorbis,
FLAC in Ogg with a PICTURE block, a Skeleton stream, a chained file. Each must lose its markers, decode
to the same samples and frames, and come out the same from Python, JavaScript and a forward-only read.
"""

from __future__ import annotations

import base64
import ctypes
import io
import json
import random
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import metadata
from metadata.ogg import crc_of
from tests.media.parity import decoded_md5, forward_plan, js_clean, js_outcome, py_clean, py_outcome
from tests.media.test_flac import libflac_read

PLACE = "+42.6931+023.3219"
PERSON = "Ivan Petrov"
DATE = "2026-05-01T10:11:12"
MARKERS = [PLACE.encode(), PERSON.encode(), DATE.encode(), b"Lavf", b"Lavc"]


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


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


def pages(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        segments = data[pos + 26]
        end = pos + 27 + segments + sum(data[pos + 27 : pos + 27 + segments])
        out.append(data[pos:end])
        pos = end
    return out


def layout(page: bytes) -> bytes:
    """A page without its checksum and body: version, flags, granule, serial, sequence, lacing."""
    return page[4:22] + page[26 : 27 + page[26]]


def packets(data: bytes) -> list[tuple[int, bytes, int]]:
    """(serial, packet, granule of the page where it ends) for every packet, in order."""
    out, open_ = [], {}
    for page in pages(data):
        granule, serial = struct.unpack_from("<qI", page, 6)
        segments = page[26]
        at, run = 27 + segments, b""
        run = open_.pop(serial, b"")
        for value in page[27 : 27 + segments]:
            run += page[at : at + value]
            at += value
            if value < 255:
                out.append((serial, run, granule))
                run = b""
        if run:
            open_[serial] = run
    return out


def page(serial: int, sequence: int, granule: int, flags: int, packet: bytes) -> bytes:
    """One page holding one whole packet (under 64 KiB)."""
    lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    raw = bytearray(head + lacing + packet)
    struct.pack_into("<I", raw, 22, crc_of(raw))
    return bytes(raw)


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


# -- the corpus -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ogg")
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    video = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
    png = _png()
    block = struct.pack(">II", 3, 9) + b"image/png" + struct.pack(">IIIIII", 0, 8, 8, 24, 0, len(png)) + png
    picture = base64.b64encode(block).decode()
    tags = ["-metadata", f"LOCATION={PLACE}", "-metadata", f"ARTIST={PERSON}", "-metadata", f"DATE={DATE}"]
    files = {
        "android.opus.ogg": [*sine, "-c:a", "libopus", *tags, "-metadata:s:a:0", "TITLE=Voice 001",
                             "-metadata", f"METADATA_BLOCK_PICTURE={picture}"],
        "long.vorbis.ogg": [*sine, "-c:a", "libvorbis", *tags, "-metadata", "COMMENT=" + "x" * 70_000],
        "theora.ogg": [*video, *sine, "-c:v", "libtheora", "-c:a", "libvorbis", *tags],
        "flac.oga": [*sine, "-c:a", "flac", *tags],
    }  # fmt: skip
    out = {}
    for name, args in files.items():
        ffmpeg(*args, tmp / name)
        out[name] = tmp / name
    out["picture.flac.oga"] = _with_picture(out["flac.oga"], tmp)
    return out


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _with_picture(path: Path, tmp: Path) -> Path:
    """The FLAC-in-Ogg file with a PICTURE block after its comment, as taggers add cover art: packets
    re-paged one per page (ffmpeg cannot write one)."""
    items = packets(path.read_bytes())
    serial = items[0][0]
    mapping, comment = bytearray(items[0][1]), bytearray(items[1][1])
    assert comment[0] & 0x80, "the comment block was the last one"
    comment[0] &= 0x7F
    mapping[7:9] = (int.from_bytes(mapping[7:9], "big") + 1).to_bytes(2, "big")
    body = struct.pack(">II", 3, 9) + b"image/png" + struct.pack(">I", 7) + b"Holiday" + bytes(16)
    body += struct.pack(">I", 4) + b"\x89PNG"
    picture = bytes([0x80 | 6]) + len(body).to_bytes(3, "big") + body
    header = [bytes(mapping), bytes(comment), picture]
    out = b"".join(page(serial, i, 0, 2 if i == 0 else 0, p) for i, p in enumerate(header))
    audio = [(p, g) for _, p, g in items[2:]]
    for i, (p, g) in enumerate(audio):
        out += page(serial, 3 + i, g, 4 if i == len(audio) - 1 else 0, p)
    target = tmp / "picture.flac.oga"
    target.write_bytes(out)
    return target


# -- the phone-shaped files -----------------------------------------------------------------------


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


# -- both implementations, both sources ----------------------------------------------------------


def test_a_forward_only_read_gives_the_same_plan(corpus: dict[str, Path]) -> None:
    chained = corpus["android.opus.ogg"].read_bytes() + corpus["theora.ogg"].read_bytes()
    for path, data in [*((p, p.read_bytes()) for p in corpus.values()), ("chained", chained)]:
        plan = metadata.plan_for(metadata.BytesSource(data), "ogg")
        assert forward_plan(data, "ogg") == plan, path


@pytest.mark.browser
def test_javascript_gives_the_same_bytes_and_findings(corpus: dict[str, Path], clean_page) -> None:
    for path in corpus.values():
        data = path.read_bytes()
        py, js = py_clean(data), js_clean(clean_page, data, path.name)
        assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found), path.name


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """Damaged copies: cut, bytes flipped, lengths made absurd, then (half the time) every page's
    checksum made right again, so the damage reaches the parsers behind the checksum."""
    out = []
    for _ in range(n):
        raw = bytearray(data[: rng.randrange(16, len(data) + 1)] if rng.random() < 0.3 else data)
        for _ in range(rng.randrange(1, 6)):
            if len(raw) > 4:  # the magic stays, so the file still goes to this cleaner
                at = rng.randrange(4, min(len(raw), 400))
                raw[at] = rng.choice([0, 0xFF, 0x7F, 0x80, raw[at] ^ (1 << rng.randrange(8))])
        out.append(_fix_checksums(bytes(raw)) if rng.random() < 0.5 else bytes(raw))
    return out


def _fix_checksums(data: bytes) -> bytes:
    raw, pos = bytearray(data), 0
    while pos + 27 <= len(raw) and raw[pos : pos + 4] == b"OggS":
        end = pos + 27 + raw[pos + 26] + sum(raw[pos + 27 : pos + 27 + raw[pos + 26]])
        if end > len(raw):
            break
        raw[pos + 22 : pos + 26] = bytes(4)
        struct.pack_into("<I", raw, pos + 22, crc_of(raw[pos:end]))
        pos = end
    return bytes(raw)


@pytest.mark.browser
def test_javascript_agrees_on_damaged_files(corpus: dict[str, Path], clean_page) -> None:
    rng = random.Random(10)
    for name in ("android.opus.ogg", "picture.flac.oga"):
        for data in _mutations(corpus[name].read_bytes()[:6000], rng, 30):
            assert js_outcome(clean_page, data) == py_outcome(data)


@pytest.fixture(scope="module")
def seeds(corpus: dict[str, Path]) -> list[bytes]:
    return [corpus[n].read_bytes()[:9000] for n in ("android.opus.ogg", "theora.ogg", "picture.flac.oga")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_input_is_only_ever_refused(seeds: list[bytes], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(seeds))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    raw = _mutations(seed, rng, 1)[0]
    outcome = py_outcome(raw)
    try:
        assert forward_plan(raw, "ogg").pieces == metadata.plan_for(metadata.BytesSource(raw), "ogg").pieces
    except metadata.CannotClean:
        assert outcome == "CannotClean"
