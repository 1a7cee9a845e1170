"""Checks on what a cleaner gives back for a corpus file (see tests/media/corpus.py): a movie or a
recording plays like the original, a picture shows what the original shows.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.media.corpus_images import SCENE_PROBES, SIZE
from tests.media.corpus_sample import Sample, run


@dataclass(frozen=True)
class MediaFacts:
    streams: tuple[tuple[str, str, int], ...]  # (codec_type, codec_name, packets read)
    duration: float | None  # None when the file does not say (a MediaRecorder WebM)
    decoded: tuple[str, ...]  # MD5 of each stream's decoded frames or samples


def media_facts(data: bytes, suffix: str) -> MediaFacts:
    """What ffprobe and ffmpeg read in a file: its streams, packets, duration and decoded content."""
    with tempfile.TemporaryDirectory(prefix="corpus-probe-") as tmp:
        path = Path(tmp) / f"file{suffix}"
        path.write_bytes(data)
        probe = run(["ffprobe", "-v", "error", "-count_packets", "-of", "json", "-show_entries",
                     "stream=codec_type,codec_name,nb_read_packets:format=duration", str(path)])  # fmt: skip
        info = json.loads(probe)
        streams = tuple(
            (s["codec_type"], s["codec_name"], int(s["nb_read_packets"])) for s in info["streams"]
        )
        decoded = tuple(_decoded_md5(path, i) for i in range(len(streams)))
    duration = info["format"].get("duration")
    return MediaFacts(streams, None if duration is None else round(float(duration), 3), decoded)


def _decoded_md5(path: Path, stream: int) -> str:
    out = run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-f", "md5", "-"])
    return out.strip().removeprefix("MD5=")


def assert_plays_like(sample: Sample, data: bytes) -> None:
    """The cleaned file has the original's streams, packet counts and duration, and decodes to the very
    same frames and samples (nothing was re-encoded)."""
    before, after = original_facts(sample.data, sample.suffix), media_facts(data, sample.suffix)
    assert after.streams == before.streams, f"{sample.name}: streams differ"
    same = before.duration == after.duration or abs((after.duration or -1) - (before.duration or 1)) < 0.002
    assert same, f"{sample.name}: {after.duration} != {before.duration}"
    assert after.decoded == before.decoded, f"{sample.name}: decoded content differs"


@functools.cache
def original_facts(data: bytes, suffix: str) -> MediaFacts:
    return media_facts(data, suffix)


def assert_picture_like(
    sample: Sample, data: bytes, formats: tuple[str, ...] = ("JPEG", "PNG")
) -> Image.Image:
    """The cleaned picture decodes, in one of `formats`, one frame, at the original's size, and shows what
    the original shows (JPEG is lossy: a pixel inside each area of the scene, within a margin)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format in formats, f"{sample.name}: came out as {img.format}"
    assert getattr(img, "n_frames", 1) == 1, f"{sample.name}: {img.n_frames} frames"
    assert img.size == SIZE, f"{sample.name}: {img.size}"
    rgb, before = img.convert("RGB"), Image.open(io.BytesIO(sample.data)).convert("RGB")
    for at in SCENE_PROBES:
        change = max(abs(a - b) for a, b in zip(rgb.getpixel(at), before.getpixel(at), strict=True))
        assert change < 40, f"{sample.name}: the pixel at {at} changed by {change}"
    return img
