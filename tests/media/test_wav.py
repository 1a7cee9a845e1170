"""WAV (metadata/riff.py and clean/riff.mjs): fmt, fact and data kept, every other chunk dropped.

The corpus: a field recorder's WAV from ffmpeg with LIST/INFO (artist, title, date, comment, software)
and a bext chunk (originator, date and time, coding history), then with what other programs add (an
iXML chunk with a position, a _PMX XMP packet, an odd-sized chunk and its pad byte), a streaming
recorder's header with an unknown data size, and RF64. Each loses its markers, decodes to the same
samples, and comes out the same from Python, JavaScript and a forward-only read.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from tests.media.parity import assert_js_cleans_alike, decoded_md5, forward_plan, js_clean, py_clean

PLACE = "+42.6931+023.3219"
PERSON = "Ivan Petrov"
MARKERS = [PLACE.encode(), PERSON.encode(), b"Voice 001", b"2026-05-01", b"Lavf", b"Zoom H5", b"10:11:12"]


def probe(path: Path) -> dict:
    entries = "stream=codec_name,duration,sample_rate,channels:stream_tags:format_tags"
    run = subprocess.run(["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(run.stdout)


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a RIFF/WAVE file (id, body), pad bytes skipped."""
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, length = struct.unpack_from("<4sI", data, pos)
        out.append((cid, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return out


def make_wav(path: Path, *args: str) -> bytes:
    """One second of a 440 Hz tone as 16-bit PCM, with ffmpeg's WAV muxer options `args`."""
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "pcm_s16le"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *tone, *args, str(path)], check=True)
    return path.read_bytes()


def riff(items: list[tuple[bytes, bytes]], form: bytes = b"RIFF") -> bytes:
    body = b"".join(cid + struct.pack("<I", len(b)) + b + b"\0" * (len(b) & 1) for cid, b in items)
    return form + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def py_plan(data: bytes) -> tuple[bytes, list]:
    """Python's cleaning of a WAV (RIFF or RF64) file."""
    source = metadata.BytesSource(data)
    plan = metadata.plan_for(source, "wav")
    out = b"".join(bytes(c) for c in metadata.iter_pieces(source, plan.pieces))
    return out, [(f.kind, f.where) for f in plan.found]


def js_plan(page, data: bytes) -> tuple[bytes, list] | str:
    """clean/riff.mjs called directly, past clean.mjs's sniff; its bytes and findings, or its error's name."""
    r = page.evaluate(
        """async ([b64]) => {
            const riff = await import("/static/js/clean/riff.mjs");
            const { BytesSource, merged } = await import("/static/js/clean/source.mjs");
            const bytes = Uint8Array.fromBase64(b64);
            try {
                const plan = await riff.plan(new BytesSource(bytes));
                const part = (p) => (p instanceof Uint8Array ? p : bytes.slice(p.start, p.end));
                const parts = merged(plan.pieces).map(part);
                const out = new Uint8Array(await new Blob(parts).arrayBuffer());
                return { ok: true, b64: out.toBase64(), found: plan.found.map((f) => [f.kind, f.where]) };
            } catch (e) { return { ok: false, name: e.name }; }
        }""",
        [base64.b64encode(data).decode()],
    )
    return (base64.b64decode(r["b64"]), [tuple(f) for f in r["found"]]) if r["ok"] else r["name"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("wav")
    meta = {"artist": PERSON, "title": "Voice 001", "date": "2026-05-01", "comment": PLACE,
            "originator": "Zoom H5", "origination_date": "2026-05-01", "origination_time": "10:11:12",
            "coding_history": "A=PCM,F=44100", "description": "Interview"}  # fmt: skip
    args = [a for k, v in meta.items() for a in ("-metadata", f"{k}={v}")]
    recorder = make_wav(tmp / "recorder.wav", "-ac", "2", "-write_bext", "1", *args)
    items = chunks(recorder)
    ixml = f"<BWFXML><LOCATION>{PLACE}</LOCATION><NOTE>{PERSON}</NOTE></BWFXML>".encode()
    xmp = b"<x:xmpmeta><dc:creator>" + PERSON.encode() + b"</dc:creator></x:xmpmeta>"
    extra = [(b"iXML", ixml), (b"_PMX", xmp + b"!"), (b"JUNK", bytes(28))]  # the XMP one is odd-sized
    tagged = riff(items[:1] + extra + items[1:])
    data = dict(items)[b"data"]
    fmt = dict(items)[b"fmt "]
    info = dict(items)[b"LIST"]
    streaming = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
    streaming += b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", len(info)) + info
    streaming += b"data" + struct.pack("<I", 0xFFFFFFFF) + data + b"\1"  # and a byte short of a whole frame
    handmade = riff([(b"fmt ", fmt), (b"bext", _bext()), (b"data", data)])
    return {"recorder.wav": recorder, "tagged.wav": tagged, "streaming.wav": streaming,
            "handmade.wav": handmade}  # fmt: skip


def _bext() -> bytes:
    """A broadcast extension chunk as a field recorder fills it, every field set."""
    text = [(f"Interview at {PLACE}", 256), ("Sony PCM-D10", 32), ("SN 123456", 32), ("2026-05-01", 10),
            ("10:11:12", 8)]  # fmt: skip
    fixed = b"".join(value.encode().ljust(size, b"\0") for value, size in text)
    fixed += struct.pack("<QH", 44100 * 3600, 2) + bytes(range(64)) + bytes(10) + bytes(180)  # UMID: 0..63
    return fixed + b"A=PCM,F=44100,W=16,M=stereo,T=Sony PCM-D10\r\n"


HANDMADE = [b"Sony PCM-D10", b"SN 123456", PLACE.encode(), b"2026-05-01", b"10:11:12", bytes(range(64))]


@pytest.mark.parametrize("name", ["recorder.wav", "tagged.wav", "streaming.wav", "handmade.wav"])
def test_only_fmt_and_data_survive(corpus: dict[str, bytes], tmp_path: Path, name: str) -> None:
    original = corpus[name]
    out = py_clean(original)
    assert out.mime == "audio/wav"
    markers = {"streaming.wav": [*MARKERS[1:4], b"Lavf"], "handmade.wav": HANDMADE}.get(name, MARKERS)
    for marker in markers:
        assert marker in original, marker
        assert marker not in out.data, marker
    assert [cid for cid, _ in chunks(out.data)] == [b"fmt ", b"data"]
    assert dict(chunks(out.data))[b"data"] == dict(chunks(corpus["recorder.wav"]))[b"data"]
    (tmp_path / "in.wav").write_bytes(corpus["recorder.wav"] if name == "streaming.wav" else original)
    (tmp_path / "out.wav").write_bytes(out.data)
    assert decoded_md5(tmp_path / "out.wav") == decoded_md5(tmp_path / "in.wav")
    before, after = probe(tmp_path / "in.wav"), probe(tmp_path / "out.wav")
    assert "tags" not in after["streams"][0] and "tags" not in after.get("format", {})
    assert after["streams"][0] == {k: v for k, v in before["streams"][0].items() if k != "tags"}


def test_what_the_chunks_said_is_reported(corpus: dict[str, bytes]) -> None:
    found = set(py_clean(corpus["tagged.wav"]).found)
    info = {("person", "IART"), ("time", "ICRD"), ("software", "ISFT"), ("text", "INAM"), ("place", "ICMT")}
    assert {(kind, f"LIST/INFO/{name}") for kind, name in info} <= found  # the comment holds a position
    bext = {("person", "Originator"), ("time", "OriginationDate"), ("software", "CodingHistory")}
    assert {(kind, f"bext/{name}") for kind, name in bext} | {("other", "iXML"), ("other", "_PMX")} <= found
    assert ("other", "trailing data") in set(py_clean(corpus["recorder.wav"] + b"tail").found)
    handmade = {("place", "Description"), ("person", "Originator"), ("other", "OriginatorReference"),
                ("time", "OriginationDate"), ("other", "UMID"), ("software", "CodingHistory")}  # fmt: skip
    assert set(py_clean(corpus["handmade.wav"]).found) == {(kind, f"bext/{name}") for kind, name in handmade}


def test_rf64_is_rewritten_with_its_ds64(tmp_path: Path) -> None:
    original = make_wav(tmp_path / "in.wav", "-rf64", "always", "-metadata", f"artist={PERSON}")
    assert original[:4] == b"RF64" and metadata.sniff(original[:16]) == "wav"
    out, found = py_plan(original)
    assert PERSON.encode() in original and PERSON.encode() not in out
    assert ("person", "LIST/INFO/IART") in found
    assert [cid for cid, _ in chunks(out)] == [b"ds64", b"fmt ", b"data"]
    (tmp_path / "out.wav").write_bytes(out)
    assert decoded_md5(tmp_path / "out.wav") == decoded_md5(tmp_path / "in.wav")
    in_memory = metadata.plan_for(metadata.BytesSource(original), "wav")
    assert forward_plan(original, "wav").pieces == in_memory.pieces


def _refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_plan(data)


def test_what_we_cannot_promise_is_refused(corpus: dict[str, bytes]) -> None:
    items = dict(chunks(corpus["recorder.wav"]))
    fmt, data = items[b"fmt "], items[b"data"][:1000]
    _refused(riff([(b"data", data)]))  # no fmt
    _refused(riff([(b"fmt ", fmt)]))  # no data
    _refused(riff([(b"fmt ", fmt[:10]), (b"data", data)]))  # fmt without its fields
    _refused(riff([(b"fmt ", fmt), (b"fmt ", fmt), (b"data", data)]))
    _refused(riff([(b"fmt ", fmt), (b"data", data), (b"data", data)]))
    _refused(riff([(b"fmt ", fmt), (b"fact", bytes(70_000)), (b"data", data)]))
    whole = riff([(b"fmt ", fmt), (b"LIST", b"INFO"), (b"data", data)])
    _refused(whole[:36] + b"LIST" + struct.pack("<I", 1 << 30) + whole[44:])  # a chunk past the end
    cut = riff([(b"fmt ", fmt), (b"bext", bytes(400)), (b"data", data)])
    _refused(cut[:40])  # cut inside bext
    _refused(b"RIFF\0\0\0\0WAVX" + cut[12:])
    _refused(b"RF64" + cut[4:12] + b"ds64" + struct.pack("<I", 4) + bytes(4) + cut[12:])  # a ds64 too short


def test_a_forward_only_read_gives_the_same_plan(corpus: dict[str, bytes]) -> None:
    for name, data in corpus.items():
        assert forward_plan(data, "wav") == metadata.plan_for(metadata.BytesSource(data), "wav"), name


@pytest.mark.browser
def test_javascript_gives_the_same_bytes_and_findings(corpus: dict, clean_page, tmp_path: Path) -> None:
    assert_js_cleans_alike(clean_page, corpus)
    rf64 = make_wav(tmp_path / "rf64.wav", "-rf64", "always", "-metadata", f"artist={PERSON}")
    assert js_plan(clean_page, rf64) == py_plan(rf64)
    js = js_clean(clean_page, rf64, "long.wav")  # through clean.mjs's own sniff, which knows RF64
    assert (js.data, js.found) == py_plan(rf64)


@pytest.fixture(scope="module")
def seeds(corpus: dict[str, bytes]) -> list[bytes]:
    """Small files for the damage: every chunk of the corpus, a little audio."""
    items = chunks(corpus["tagged.wav"])
    small = [(cid, body[:600] if cid == b"data" else body) for cid, body in items]
    rf64 = riff(small, b"RF64")[:12] + b"ds64" + struct.pack("<I", 28) + struct.pack("<QQQI", 0, 600, 0, 0)
    return [riff(small), corpus["streaming.wav"][:1500], rf64 + riff(small)[12:]]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    raw = bytearray(data[: rng.randrange(12, len(data) + 1)] if rng.random() < 0.2 else data)
    for _ in range(rng.randrange(1, 5)):
        if len(raw) > 12:
            at = rng.randrange(4, len(raw)) if rng.random() < 0.5 else rng.choice([4, 5, 6, 7, *_sizes(raw)])
            raw[at] = rng.choice([0, 0xFF, 0x7F, 0x80, 1, 2, raw[at] ^ 1 << rng.randrange(8)])
    return bytes(raw)


def _sizes(raw: bytearray) -> list[int]:
    """Where the chunk size fields are, so the damage often hits one."""
    out, pos = [], 12
    while pos + 8 <= len(raw) and len(out) < 40:
        out += list(range(pos + 4, pos + 8))
        pos += 8 + struct.unpack_from("<I", raw, pos + 4)[0]
    return out


@pytest.mark.browser
def test_javascript_agrees_on_damaged_files(seeds: list[bytes], clean_page) -> None:
    rng = random.Random(10)
    for seed in seeds:
        for _ in range(30):
            data = _mutate(seed, rng)
            try:
                expected: object = py_plan(data)
            except metadata.CannotClean:
                expected = "CannotClean"
            assert js_plan(clean_page, data) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_input_is_only_ever_refused(seeds: list[bytes], data: st.DataObject) -> None:
    raw = _mutate(data.draw(st.sampled_from(seeds)), random.Random(data.draw(st.integers(0, 2**32))))
    try:
        expected = metadata.plan_for(metadata.BytesSource(raw), "wav").pieces
    except metadata.CannotClean:
        with pytest.raises(metadata.CannotClean):
            forward_plan(raw, "wav")
        return
    assert forward_plan(raw, "wav").pieces == expected
