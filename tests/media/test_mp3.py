"""MP3 and ADTS AAC (metadata/mp3.py and clean/mp3.mjs): the tags around the frames dropped, frames kept.

The corpus: MP3s from libmp3lame with ID3v2.3 and ID3v2.4 tags and an ID3v1 tag, one with an APEv2
tag added before its ID3v1 (as taggers write it), an ADTS .aac voice note with ID3v2, and hand-made
tags in every shape the parser reads (ID3v2.2, unsynchronisation, extended headers, UTF-16, data length
indicators, footers, Lyrics3v2, an ID3v2 appended at the end). Each loses its markers, decodes to the
same samples, and comes out the same from Python, JavaScript and a forward-only read.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from tests.media.parity import (
    assert_js_cleans_alike,
    decoded_md5,
    forward_plan,
    js_clean,
    js_outcome,
    py_clean,
    py_outcome,
)

PLACE = "+42.6931+023.3219"
PERSON = "Ivan Petrov"
MARKERS = [PLACE.encode(), PERSON.encode(), b"Voice 001", b"Lavf"]


def probe(path: Path) -> dict:
    run = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_name,nb_read_packets,duration:stream_tags:format_tags", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(run.stdout)


def syncsafe(n: int) -> bytes:
    return bytes([n >> 21 & 0x7F, n >> 14 & 0x7F, n >> 7 & 0x7F, n & 0x7F])


def frame(major: int, fid: str, data: bytes, flags: int = 0) -> bytes:
    if major == 2:
        return fid.encode() + len(data).to_bytes(3, "big") + data
    size = syncsafe(len(data)) if major == 4 else struct.pack(">I", len(data))
    return fid.encode() + size + bytes([0, flags]) + data


def tag(major: int, frames: bytes, flags: int = 0, footer: bool = False) -> bytes:
    head = b"ID3" + bytes([major, 0, flags]) + syncsafe(len(frames))
    return head + frames + (b"3DI" + head[3:] if footer else b"")


def utf16(text: str) -> bytes:
    return b"\xff\xfe" + text.encode("utf-16-le")


def ape(items: dict[str, str]) -> bytes:
    encoded = [(k.encode(), v.encode()) for k, v in items.items()]
    body = b"".join(struct.pack("<II", len(v), 0) + k + b"\0" + v for k, v in encoded)
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, len(body) + 32, len(items), 0x80000000) + bytes(8)
    header = b"APETAGEX" + struct.pack("<IIII", 2000, len(body) + 32, len(items), 0xA0000000) + bytes(8)
    return header + body + footer


def id3v1(title: str, artist: str, comment: str) -> bytes:
    fields = title.encode().ljust(30, b"\0") + artist.encode().ljust(30, b"\0") + bytes(30) + b"2026"
    return b"TAG" + fields + comment.encode().ljust(30, b"\0") + b"\xff"


def lyrics3v2(text: str) -> bytes:
    body = b"LYRICSBEGIN" + b"LYR" + f"{len(text):05d}".encode() + text.encode()
    return body + f"{len(body):06d}".encode() + b"LYRICS200"


def split(data: bytes) -> tuple[bytes, bytes]:
    """An ffmpeg MP3's frames and its ID3v2 tag (the frames end where the ID3v1 tag starts, if any)."""
    size = 10 + sum((b & 0x7F) << (21 - 7 * i) for i, b in enumerate(data[6:10])) if data[:3] == b"ID3" else 0
    end = len(data) - 128 if data[-128:-125] == b"TAG" else len(data)
    return data[size:end], data[:size]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("mp3")
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    tags = ["-metadata", f"artist={PERSON}", "-metadata", "title=Voice 001", "-metadata", f"comment={PLACE}",
            "-metadata", "date=2026-05-01T10:11:12"]  # fmt: skip
    made = {
        "v23.mp3": ["-c:a", "libmp3lame", "-id3v2_version", "3", "-write_id3v1", "1"],
        "v24.mp3": ["-c:a", "libmp3lame", "-id3v2_version", "4"],
        "voice.aac": ["-c:a", "aac", "-write_id3v2", "1", "-f", "adts"],
    }
    out = {}
    for name, args in made.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", *sine, *args, *tags, str(tmp / name)], check=True)
        out[name] = (tmp / name).read_bytes()
    frames, _ = split(out["v23.mp3"])
    apev2 = ape({"Artist": PERSON, "Location": PLACE, "Tool": "Lavf"})
    out["ape.mp3"] = out["v24.mp3"] + apev2 + id3v1("Voice 001", PERSON, "")
    out["shapes.mp3"] = _shapes() + frames + lyrics3v2(f"{PERSON} Voice 001") + _appended()
    return out


def _shapes() -> bytes:
    """Tags in every shape the parser reads, one after another before the audio."""
    v22 = tag(2, frame(2, "TT2", b"\0Voice 001") + frame(2, "TP1", b"\0" + PERSON.encode())
              + frame(2, "COM", b"\0eng\0" + PLACE.encode()))  # fmt: skip
    v23_frames = (frame(3, "TXXX", b"\1" + utf16("location") + b"\0\0" + utf16(PLACE))
                  + frame(3, "COMM", b"\0eng" + b"note\0" + b"\xff\x00Lavf")
                  + frame(3, "APIC", b"\0image/png\0\3\0" + bytes(32))
                  + frame(3, "TCOM", b"\0x", flags=0x80))  # fmt: skip
    unsync = v23_frames.replace(b"\xff", b"\xff\x00")
    extended = struct.pack(">I", 6) + bytes(6)
    v23 = tag(3, extended + unsync, flags=0x80 | 0x40)  # unsynchronised, with an extended header
    body = PERSON.encode()
    v24_frames = (frame(4, "TPE1", struct.pack(">I", len(body) + 1) + b"\3" + body, flags=0x01)  # its length
                  + frame(4, "TIT2", b"\3Voice 001\xff\x00", flags=0x02)  # unsynchronised frame
                  + frame(4, "TDRC", b"\0" + b"2026-05-01T10:11:12")
                  + frame(4, "TENC", b"\2" + "Lavf".encode("utf-16-be"))
                  + frame(4, "PRIV", b"owner\0secret") + bytes(20))  # then padding  # fmt: skip
    v24 = tag(4, syncsafe(6) + b"\1\0" + v24_frames, flags=0x40 | 0x10, footer=True)
    return v22 + v23 + v24


def _appended() -> bytes:
    """An ID3v2.4 tag at the end, found by its footer, then an ID3v1 tag."""
    appended = tag(4, frame(4, "TPE2", b"\3" + PERSON.encode()), flags=0x10, footer=True)
    return appended + id3v1("Voice 001", PERSON, PLACE)


@pytest.mark.parametrize("name", ["v23.mp3", "v24.mp3", "voice.aac", "ape.mp3", "shapes.mp3"])
def test_the_tags_go_and_the_frames_stay(corpus: dict[str, bytes], tmp_path: Path, name: str) -> None:
    original = corpus[name]
    out = py_clean(original)
    assert out.mime == ("audio/aac" if name.endswith(".aac") else "audio/mpeg")
    for marker in MARKERS + ([b"2026-05-01"] if name != "v23.mp3" else [b"2026"]):
        assert marker in original, marker
        assert marker not in out.data, marker
    made_by_ffmpeg = {"ape.mp3": "v24.mp3", "shapes.mp3": "v23.mp3"}.get(name, name)
    assert out.data == split(corpus[made_by_ffmpeg])[0]  # the Xing/Info frame and every other one, untouched
    (tmp_path / "in").write_bytes(corpus[made_by_ffmpeg])  # ffmpeg cannot read our hand-made tags at the end
    (tmp_path / "out").write_bytes(out.data)
    assert decoded_md5(tmp_path / "out") == decoded_md5(tmp_path / "in")
    before, after = probe(tmp_path / "in"), probe(tmp_path / "out")
    assert after["streams"][0]["nb_read_packets"] == before["streams"][0]["nb_read_packets"]
    assert "tags" not in after["streams"][0] and "tags" not in after.get("format", {})


def test_what_the_tags_said_is_reported(corpus: dict[str, bytes]) -> None:
    found = {name: set(py_clean(data).found) for name, data in corpus.items()}
    assert {("person", "ID3v2/TPE1"), ("place", "ID3v2/TXXX"), ("text", "ID3v2/TIT2"), ("time", "ID3v2/TYER"),
            ("software", "ID3v2/TSSE"), ("person", "ID3v1/artist")} <= found["v23.mp3"]  # fmt: skip
    assert ("time", "ID3v2/TDRC") in found["v24.mp3"]  # a date is not a place
    apev2 = {("person", "APEv2/Artist"), ("place", "APEv2/Location"), ("software", "APEv2/Tool")}
    assert apev2 <= found["ape.mp3"]
    v22 = {("text", "ID3v2/TIT2"), ("person", "ID3v2/TPE1"), ("place", "ID3v2/COMM")}
    v23 = {("place", "ID3v2/TXXX"), ("other", "ID3v2/APIC"), ("text", "ID3v2/COMM"), ("person", "ID3v2/TCOM")}
    v24 = {("time", "ID3v2/TDRC"), ("software", "ID3v2/TENC"), ("other", "ID3v2/PRIV")}
    ends = {("text", "Lyrics3v2"), ("person", "ID3v2/TPE2"), ("place", "ID3v1/comment")}
    assert v22 | v23 | v24 | ends <= found["shapes.mp3"]


def _refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_clean(data)


def test_what_we_cannot_promise_is_refused(corpus: dict[str, bytes]) -> None:
    frames, head = split(corpus["v24.mp3"])
    _refused(head[:6] + b"\x80\0\0\0" + head[10:] + frames)  # a size that is not syncsafe
    _refused(head[:6] + syncsafe(len(head) + len(frames)) + head[10:] + frames)  # a tag past the end
    _refused(head + b"\0\0\0\0" + frames)  # no frame after the tag
    _refused(head + b"RIFF" + frames)
    _refused(frames + b"APETAGEX" + struct.pack("<IIII", 2000, 1 << 30, 1, 0) + bytes(8))  # larger than all
    _refused(frames + b"APETAGEX" + struct.pack("<IIII", 2000, 8, 1, 0) + bytes(8))  # smaller than its footer
    _refused(frames + b"LYRICSBEGIN" + b"00001xLYRICS200")  # a Lyrics3v2 size that is not digits
    _refused(frames + b"999999LYRICS200")  # one larger than the file
    _refused(frames + b"ID3\4\0\x10" + syncsafe(1 << 20) + b"3DI\4\0\x10" + syncsafe(1 << 20))  # too large
    _refused(frames + id3v1("a", "b", "c") * 40)  # a pile of tags at the end


def test_a_forward_only_read_gives_the_same_plan(corpus: dict[str, bytes]) -> None:
    for name, data in corpus.items():
        plan = metadata.plan_for(metadata.BytesSource(data), metadata.sniff(data[:16]))
        assert forward_plan(data) == plan, name


@pytest.mark.browser
def test_javascript_gives_the_same_bytes_and_findings(corpus: dict[str, bytes], clean_page) -> None:
    assert_js_cleans_alike(clean_page, corpus)


@pytest.mark.browser
def test_a_copy_cut_inside_its_id3v1_tag_keeps_none_of_it(corpus: dict[str, bytes], clean_page) -> None:
    whole = corpus["v23.mp3"]
    assert whole[-128:-125] == b"TAG" and PERSON.encode() in whole[-128:]
    for cut in (3, 40, 100):
        data = whole[: len(whole) - 128 + cut]
        py = py_clean(data)
        assert not py.data.endswith(whole[-128 : -128 + cut]) and ("text", "ID3v1 (cut short)") in py.found
        assert PERSON.encode() not in py.data[-200:]
        js = js_clean(clean_page, data, "cut.mp3")
        assert (js.data, js.found) == (py.data, py.found), cut


@pytest.fixture(scope="module")
def seeds(corpus: dict[str, bytes]) -> list[bytes]:
    """Small files for the damage: a few frames between the tags."""
    frames = split(corpus["v23.mp3"])[0][:1500]
    ends = lyrics3v2("x") + ape({"Artist": "a"}) + _appended()
    return [_shapes() + frames + ends, split(corpus["v23.mp3"])[1] + frames + ends]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """A damaged copy: bytes flipped or lengths made absurd in the tags at either end, or cut short."""
    raw = bytearray(data[: rng.randrange(4, len(data) + 1)] if rng.random() < 0.2 else data)
    for _ in range(rng.randrange(1, 5)):
        if len(raw) > 4:
            lo, hi = rng.choice([(3, len(raw)), (3, min(len(raw), 500)), (max(3, len(raw) - 600), len(raw))])
            at = rng.randrange(lo, hi)
            raw[at] = rng.choice([0, 0xFF, 0x7F, 0x80, 0x40, 0x10, 1, 2, 3, raw[at] ^ 1 << rng.randrange(8)])
    return bytes(raw)


@pytest.mark.browser
def test_javascript_agrees_on_damaged_files(seeds: list[bytes], clean_page) -> None:
    rng = random.Random(10)
    for seed in seeds:
        for _ in range(40):
            data = _mutate(seed, rng)
            if metadata.sniff(data[:16]) != "mp3":
                continue
            assert js_outcome(clean_page, data) == py_outcome(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_input_is_only_ever_refused(seeds: list[bytes], data: st.DataObject) -> None:
    raw = _mutate(data.draw(st.sampled_from(seeds)), random.Random(data.draw(st.integers(0, 2**32))))
    if metadata.sniff(raw[:16]) != "mp3":
        return
    outcome = py_outcome(raw)
    try:
        bytes_plan = metadata.plan_for(metadata.BytesSource(raw), "mp3")
        assert forward_plan(raw).pieces == bytes_plan.pieces
    except metadata.CannotClean:
        assert outcome == "CannotClean"
