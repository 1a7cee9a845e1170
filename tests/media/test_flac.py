"""FLAC (metadata/flac.py and clean/flac.mjs): STREAMINFO and SEEKTABLE kept, every other block dropped.

The corpus: a FLAC from ffmpeg with Vorbis comments and an attached cover picture, then the same file
with what taggers and other programs add (a SEEKTABLE, APPLICATION and CUESHEET blocks, an ID3v2 tag
before "fLaC", an ID3v1 tag after the frames). Each loses its markers, decodes to the same samples,
and comes out the same from Python, JavaScript and a forward-only read.
"""

from __future__ import annotations

import ctypes
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
from tests.media.parity import (
    assert_js_cleans_alike,
    decoded_md5,
    forward_plan,
    js_outcome,
    py_clean,
    py_outcome,
)

PLACE = "+42.6931+023.3219"
PERSON = "Ivan Petrov"
DATE = "2026-05-01T10:11:12"
MARKERS = [PLACE.encode(), PERSON.encode(), DATE.encode(), b"Lavf", b"IHDR"]  # IHDR: inside the cover PNG
STREAMINFO, PADDING, APPLICATION, SEEKTABLE, VORBIS_COMMENT, CUESHEET, PICTURE = range(7)


def probe(path: Path) -> dict:
    run = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_name,nb_read_packets,duration:stream_tags:format_tags", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(run.stdout)


def libflac_read(path: Path, ogg: bool = False) -> tuple[list[int], int, list[int], bool]:
    """The reference decoder, libFLAC, over a file: the metadata block types it reports, the samples it
    decodes, the errors it calls back with, and whether the audio matched STREAMINFO's MD5."""
    lib = ctypes.CDLL("libFLAC.so.12")
    lib.FLAC__stream_decoder_new.restype = ctypes.c_void_p
    decoder = ctypes.c_void_p(lib.FLAC__stream_decoder_new())
    pointer = ctypes.c_void_p
    write_t = ctypes.CFUNCTYPE(ctypes.c_int, pointer, ctypes.POINTER(ctypes.c_uint32), pointer, pointer)
    meta_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p)
    error_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
    types: list[int] = []
    samples, errors = [0], []

    def write(_decoder, frame, _buffer, _client) -> int:  # a frame header starts with its block size
        samples[0] += frame[0]
        return 0

    callbacks = (write_t(write), meta_t(lambda _d, block, _c: types.append(block[0])),
                 error_t(lambda _d, status, _c: errors.append(status)))  # fmt: skip
    lib.FLAC__stream_decoder_set_md5_checking(decoder, 1)
    lib.FLAC__stream_decoder_set_metadata_respond_all(decoder)
    init = lib.FLAC__stream_decoder_init_ogg_file if ogg else lib.FLAC__stream_decoder_init_file
    init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, write_t, meta_t, error_t, ctypes.c_void_p]
    assert init(decoder, str(path).encode(), *callbacks, None) == 0
    assert lib.FLAC__stream_decoder_process_until_end_of_stream(decoder)
    md5_matched = bool(lib.FLAC__stream_decoder_finish(decoder))
    lib.FLAC__stream_decoder_delete(decoder)
    return types, samples[0], errors, md5_matched


def blocks(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The metadata blocks of a FLAC file (type, body) and where its frames start."""
    assert data[:4] == b"fLaC"
    out, pos = [], 4
    while True:
        kind, length = data[pos] & 0x7F, int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((kind, data[pos + 4 : pos + 4 + length]))
        last, pos = data[pos] & 0x80, pos + 4 + length
        if last:
            return out, pos


def build(items: list[tuple[int, bytes]], frames: bytes) -> bytes:
    out = b"fLaC"
    for i, (kind, body) in enumerate(items):
        out += bytes([kind | (0x80 if i == len(items) - 1 else 0)]) + len(body).to_bytes(3, "big") + body
    return out + frames


def id3v23(frames: dict[str, str]) -> bytes:
    body = b"".join(fid.encode() + struct.pack(">IH", len(v) + 1, 0) + b"\0" + v.encode("latin-1")
                    for fid, v in frames.items())  # fmt: skip
    size = len(body)
    syncsafe = bytes([size >> 21 & 0x7F, size >> 14 & 0x7F, size >> 7 & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + body


def id3v1(title: str, artist: str) -> bytes:
    fields = title.encode().ljust(30, b"\0") + artist.encode().ljust(30, b"\0") + bytes(30) + b"2026"
    return b"TAG" + fields + bytes(30) + b"\xff"


def at_rest(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("flac")
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp / "cover.png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-i", str(tmp / "cover.png"), "-map", "0", "-map", "1", "-c:a", "flac", "-c:v", "copy",
                    "-disposition:v", "attached_pic", "-metadata", f"ARTIST={PERSON}", "-metadata",
                    f"LOCATION={PLACE}", "-metadata", f"DATE={DATE}", "-metadata", "TITLE=Voice 001",
                    str(tmp / "phone.flac")], check=True)  # fmt: skip
    phone = (tmp / "phone.flac").read_bytes()
    items, audio = blocks(phone)
    seektable = struct.pack(">QQHQQH", 0, 0, 4096, (1 << 64) - 1, 0, 0)  # a point and a placeholder
    total = int.from_bytes(items[0][1][13:18], "big") & 0xFFFFFFFFF  # STREAMINFO's sample count
    tracks = struct.pack(">QB12s14sB", 0, 1, b"DEXYZ2600001", bytes(14), 1) + struct.pack(">QB3x", 0, 1)
    tracks += struct.pack(">QB12s14sB", total, 255, bytes(12), bytes(14), 0)  # the lead-out
    cuesheet = b"1234567890123".ljust(128, b"\0") + bytes(8 + 1 + 258) + b"\2" + tracks
    extra = [(SEEKTABLE, seektable), (APPLICATION, b"riff" + b"recorder SN 0042"), (CUESHEET, cuesheet)]
    tagged = build(items[:1] + extra + items[1:], phone[audio:])
    return {
        "phone.flac": phone,
        "tagged.flac": tagged,
        "id3.flac": id3v23({"TPE1": PERSON, "TXXX": f"location\0{PLACE}"}) + tagged + id3v1("Voice", PERSON),
    }


@pytest.mark.parametrize("name", ["phone.flac", "tagged.flac", "id3.flac"])
def test_only_streaminfo_and_seektable_survive(corpus: dict[str, bytes], tmp_path: Path, name: str) -> None:
    original = corpus[name]
    out = py_clean(original)
    assert out.mime == "audio/flac"
    added = [b"recorder SN", b"1234567890123", b"DEXYZ2600001"] if name != "phone.flac" else []
    for marker in [*MARKERS, b"Voice 001", *added]:
        assert marker in original, marker
        assert marker not in out.data, marker
    kept, _ = blocks(out.data)
    wanted = [STREAMINFO] if name == "phone.flac" else [STREAMINFO, SEEKTABLE]
    assert [k for k, _ in kept] == wanted
    found = set(out.found)
    comment = {("person", "ARTIST"), ("place", "LOCATION"), ("time", "DATE"), ("software", "vendor")}
    assert {(kind, f"VORBIS_COMMENT/{w}") for kind, w in comment} | {("thumbnail", "PICTURE")} <= found
    if name == "id3.flac":
        assert {("person", "ID3v2/TPE1"), ("place", "ID3v2/TXXX"), ("person", "ID3v1/artist")} <= found
    cleaned = at_rest(tmp_path, "clean.flac", out.data)
    original_path = at_rest(tmp_path, "original.flac", original)
    assert decoded_md5(cleaned) == decoded_md5(original_path)
    after = probe(cleaned)
    assert [s["codec_name"] for s in after["streams"]] == ["flac"]  # the cover is gone
    assert "tags" not in after["streams"][0] and "tags" not in after.get("format", {})
    before = next(s for s in probe(original_path)["streams"] if s["codec_name"] == "flac")
    assert after["streams"][0]["nb_read_packets"] == before["nb_read_packets"]
    assert after["streams"][0]["duration"] == before["duration"]


@pytest.mark.parametrize("name", ["phone.flac", "tagged.flac"])
def test_libflac_reads_the_cleaned_file(corpus: dict[str, bytes], tmp_path: Path, name: str) -> None:
    (tmp_path / "in.flac").write_bytes(corpus[name])
    (tmp_path / "out.flac").write_bytes(py_clean(corpus[name]).data)
    types, samples, errors, md5 = libflac_read(tmp_path / "out.flac")
    assert types == ([STREAMINFO] if name == "phone.flac" else [STREAMINFO, SEEKTABLE])
    assert (errors, md5) == ([], True)
    assert samples == libflac_read(tmp_path / "in.flac")[1] > 0


def test_the_frames_are_copied_untouched(corpus: dict[str, bytes]) -> None:
    original = corpus["id3.flac"]
    out = py_clean(original)
    _, audio = blocks(out.data)
    _, start = blocks(original[original.index(b"fLaC") :])
    frames = original[original.index(b"fLaC") + start : -128]  # without the ID3v1 tag
    assert out.data[audio:] == frames


def test_an_id3_prefixed_flac_is_sniffed_as_mp3_and_cleaned_as_flac(corpus: dict[str, bytes]) -> None:
    data = corpus["id3.flac"]
    assert metadata.sniff(data[:16]) == "mp3"
    assert py_clean(data).data == py_clean(corpus["tagged.flac"]).data


def _refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_clean(data)


def test_what_we_cannot_promise_is_refused(corpus: dict[str, bytes]) -> None:
    items, audio = blocks(corpus["phone.flac"])
    frames = corpus["phone.flac"][audio:]
    _refused(build(items[1:], frames))  # no STREAMINFO first
    _refused(build([items[0], items[0]], frames))  # two of them
    _refused(build([items[0], (SEEKTABLE, bytes(17))], frames))  # a seek table of a broken size
    _refused(build([items[0], (127, b"")], frames))  # the invalid block type
    _refused(build(items, b"\0\0" + frames))  # no frame after the blocks
    _refused(build([items[0]] + [(PADDING, b"")] * 1100, frames))  # too many blocks
    _refused(build([items[0], (VORBIS_COMMENT, struct.pack("<II", 0, 1 << 30))], frames))  # absurd count
    _refused(build([items[0], (VORBIS_COMMENT, struct.pack("<I", 1 << 20) + b"x")], frames))  # a long vendor
    whole = build(items, frames)
    _refused(whole[: 4 + 4 + 20])  # cut inside STREAMINFO
    _refused(whole[:4])


def test_a_forward_only_read_gives_the_same_plan(corpus: dict[str, bytes]) -> None:
    for name, data in corpus.items():
        plan = metadata.plan_for(metadata.BytesSource(data), metadata.sniff(data[:16]))
        assert forward_plan(data) == plan, name


@pytest.mark.browser
def test_javascript_gives_the_same_bytes_and_findings(corpus: dict[str, bytes], clean_page) -> None:
    assert_js_cleans_alike(clean_page, corpus)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """A damaged copy: cut short, bytes flipped or lengths made absurd in the metadata blocks."""
    raw = bytearray(data[: rng.randrange(8, len(data) + 1)] if rng.random() < 0.3 else data)
    head = data.index(b"fLaC") + 4
    for _ in range(rng.randrange(1, 5)):
        at = rng.randrange(min(head, len(raw) - 1), min(len(raw), head + 600))
        raw[at] = rng.choice([0, 0xFF, 0x7F, 0x80, 0x84, 0x06, raw[at] ^ (1 << rng.randrange(8))])
    return bytes(raw)


@pytest.fixture(scope="module")
def seeds(corpus: dict[str, bytes]) -> list[bytes]:
    """Small files for the damage: the tagged ones without their 8 KiB of PADDING, frames cut short."""
    out = []
    for data in (corpus["tagged.flac"], corpus["id3.flac"]):
        start = data.index(b"fLaC")
        items, audio = blocks(data[start:])
        small = build([b for b in items if b[0] != PADDING], data[start + audio : start + audio + 1500])
        out.append(data[:start] + small + data[-128:])
    return out


@pytest.mark.browser
def test_javascript_agrees_on_damaged_files(seeds: list[bytes], clean_page) -> None:
    rng = random.Random(10)
    for seed in seeds:
        for _ in range(30):
            data = _mutate(seed, rng)
            assert js_outcome(clean_page, data) == py_outcome(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_input_is_only_ever_refused(seeds: list[bytes], data: st.DataObject) -> None:
    raw = _mutate(data.draw(st.sampled_from(seeds)), random.Random(data.draw(st.integers(0, 2**32))))
    outcome = py_outcome(raw)
    try:
        bytes_plan = metadata.plan_for(metadata.BytesSource(raw), metadata.sniff(raw[:16]))
        assert forward_plan(raw).pieces == bytes_plan.pieces
    except metadata.CannotClean:
        assert outcome == "CannotClean"
