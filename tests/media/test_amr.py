"""AMR (metadata/amr.py and clean/amr.mjs): nothing to remove, so the file is kept whole once checked.

Debian's ffmpeg has no AMR encoder, so the files are built here frame by frame (a frame header and a
payload of the size its type fixes; any payload bits decode), as a phone's voice recorder writes a bare
.amr: the magic line, then 20 ms frames. ffmpeg's own AMR decoders read them back.
"""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from tests.media.parity import assert_js_cleans_alike, js_refuses, py_clean

NB_SIZES = {0: 12, 1: 13, 2: 15, 3: 17, 4: 19, 5: 20, 6: 26, 7: 31, 8: 5, 15: 0}
WB_SIZES = {0: 17, 1: 23, 2: 32, 3: 36, 4: 40, 5: 46, 6: 50, 7: 58, 8: 60, 9: 5, 14: 0, 15: 0}


def frames(sizes: dict[int, int], types: list[int], rng: random.Random, channels: int = 1) -> bytes:
    """Frames of the given types (each with the good-quality bit), one per channel, random payloads."""
    return b"".join(bytes([ft << 3 | 4]) + rng.randbytes(sizes[ft]) for ft in types for _ in range(channels))


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    rng = random.Random(10)
    # speech at 12.2, 7.95 and 4.75 kbit/s (ffmpeg decodes no SID or NO_DATA frame, which a file may hold)
    speech_nb = [7] * 40 + [5] * 10 + [0] * 3
    speech_wb = [8] * 40 + [2] * 10 + [0] * 3
    return {
        "voice.amr": b"#!AMR\n" + frames(NB_SIZES, speech_nb, rng),
        "voice-wb.amr": b"#!AMR-WB\n" + frames(WB_SIZES, speech_wb, rng),
        "stereo.amr": b"#!AMR_MC1.0\n" + bytes([0, 0, 0, 2]) + frames(NB_SIZES, [7] * 10, rng, 2),
        "stereo-wb.amr": b"#!AMR-WB_MC1.0\n" + bytes([0, 0, 0, 2]) + frames(WB_SIZES, [8] * 10, rng, 2),
    }


def decode(path: Path) -> tuple[str, str]:
    """The checksum of the decoded samples, and how many packets ffprobe counts."""
    md5 = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "md5", "-"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert not md5.stderr, md5.stderr
    count = ["-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"]
    packets = subprocess.run(["ffprobe", "-v", "error", *count, str(path)],
                             capture_output=True, text=True, check=True)  # fmt: skip
    return md5.stdout.strip(), packets.stdout.strip()


@pytest.mark.parametrize("name", ["voice.amr", "voice-wb.amr"])
def test_a_voice_recording_is_kept_whole_and_decodes(corpus: dict, tmp_path: Path, name: str) -> None:
    original = corpus[name]
    assert metadata.sniff(original[:16]) == "amr"
    out = py_clean(original)
    assert out.data == original and out.found == []
    assert out.mime == ("audio/amr-wb" if "wb" in name else "audio/amr")
    (tmp_path / "in.amr").write_bytes(original)
    (tmp_path / "out.amr").write_bytes(out.data)
    md5, packets = decode(tmp_path / "out.amr")
    assert (md5, packets) == decode(tmp_path / "in.amr") and packets == "53"


def test_multichannel_files_and_frames_ffmpeg_cannot_decode_are_kept(corpus: dict[str, bytes]) -> None:
    for name in ("stereo.amr", "stereo-wb.amr"):
        out = py_clean(corpus[name])
        assert out.data == corpus[name] and out.found == []
    rng = random.Random(1)
    quiet = [b"#!AMR\n" + frames(NB_SIZES, [15, 8, 7], rng), b"#!AMR-WB\n" + frames(WB_SIZES, [14, 9], rng)]
    for data in quiet:
        assert py_clean(data).data == data  # NO_DATA, SPEECH_LOST, SID: frames the format allows


def _refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_clean(data)


def test_what_is_not_amr_is_refused(corpus: dict[str, bytes]) -> None:
    nb, wb = corpus["voice.amr"], corpus["voice-wb.amr"]
    _refused(b"#!AMR\n")  # no frame
    _refused(nb[:20])  # the first frame cut short
    _refused(b"#!AMR\n" + bytes([7 << 3 | 4 | 0x80]) + nb[7:])  # the padding bit set
    _refused(b"#!AMR\n" + bytes([7 << 3 | 5]) + nb[7:])  # a padding bit at the end set
    for reserved in (9, 10, 11, 12, 13, 14):
        _refused(b"#!AMR\n" + bytes([reserved << 3 | 4]) + nb[7:])
    for reserved in (10, 11, 12, 13):
        _refused(b"#!AMR-WB\n" + bytes([reserved << 3 | 4]) + wb[10:])
    _refused(b"#!AMRX\n" + nb[6:])
    stereo = corpus["stereo.amr"]
    _refused(stereo[:12] + bytes([0, 0, 0, 0]) + stereo[16:])  # no channels
    _refused(stereo[:12] + bytes([0, 0, 1, 2]) + stereo[16:])  # reserved bits set
    _refused(stereo[:14])  # cut inside the channel description


def test_a_forward_only_read_gives_the_same_plan(corpus: dict[str, bytes]) -> None:
    for name, data in corpus.items():
        plan = metadata.plan_for(metadata.ForwardSource(io.BytesIO(data), len(data)), "amr")
        assert plan == metadata.plan_for(metadata.BytesSource(data), "amr"), name


@pytest.mark.browser
def test_javascript_gives_the_same_answer(corpus: dict[str, bytes], clean_page) -> None:
    assert_js_cleans_alike(clean_page, corpus)
    rng = random.Random(10)
    for _ in range(60):
        data = _mutate(corpus[rng.choice(sorted(corpus))], rng)
        expected = None if _accepted(data) else "CannotClean"
        assert js_refuses(clean_page, data) == expected, data[:24]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """A damaged copy: the header's last bytes, the channel description or the first frame header hit."""
    raw = bytearray(data[: rng.randrange(5, 40)] if rng.random() < 0.3 else data)
    for _ in range(rng.randrange(1, 3)):
        at = rng.randrange(5, min(len(raw), 20)) if len(raw) > 5 else None
        if at is not None:
            raw[at] = rng.choice([0, 0xFF, 0x0A, 0x2D, 0x5F, 0x3C, raw[at] ^ 1 << rng.randrange(8)])
    return bytes(raw)


def _accepted(data: bytes) -> bool:
    try:
        metadata.plan_for(metadata.BytesSource(data), "amr")
    except metadata.CannotClean:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_input_is_only_ever_refused(corpus: dict[str, bytes], data: st.DataObject) -> None:
    seed = corpus[data.draw(st.sampled_from(sorted(corpus)))]
    raw = _mutate(seed, random.Random(data.draw(st.integers(0, 2**32))))
    if _accepted(raw):
        plan = metadata.plan_for(metadata.BytesSource(raw), "amr")
        assert plan.pieces == [metadata.Copy(0, len(raw))] and plan.found == []
