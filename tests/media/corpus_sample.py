"""What every corpus file is made of (see tests/media/corpus.py): the marker bytes that give the reporter
away, a Sample that carries them, the check that none survived cleaning, and the tool runner the makers
and the checks share.
"""

from __future__ import annotations

import datetime
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# What the reporter's phone wrote: one place, one phone, one moment, one owner, in every format.
PLACE = b"+42.6931+023.3219"
PLACE_ISO6709 = PLACE + b"+557.000/"
PLACE_XMP = b"42,41.586N"
PLACE_NAME = b"ul. Vitosha 15"  # a voice memo is named after the street it was recorded in
GPS_LAT = ((42, 1), (41, 1), (3516, 100))
GPS_LON = ((23, 1), (19, 1), (1884, 100))
SHOT_AT = datetime.datetime(2026, 11, 30, 17, 4, 12, tzinfo=datetime.UTC)
EXIF_TIME = b"2026:11:30 17:04:12"
ISO_DAY = b"2026-11-30"
OWNER = b"Ivan Petrov"
SERIAL = b"R5CX12ABCDE"
SAMSUNG = (b"samsung", b"SM-S921B")
APPLE = (b"Apple", b"iPhone 15 Pro")
LENS = b"iPhone 15 Pro back triple camera 6.86mm f/1.78"
THUMBNAIL_NOTE = b"uncropped thumbnail"
ICC_NAME = "Galaxy S24 P3".encode("utf-16-be")  # as long as the "sRGB built-in" it replaces


@dataclass(frozen=True)
class Sample:
    """One file as a phone would hand it over, and the bytes in it that give its maker away."""

    name: str  # the corpus id, e.g. "mov-iphone"
    filename: str  # as the reporter's phone names it
    data: bytes
    mime: str  # the type the browser or the phone declares
    kind: str  # "picture", "video" or "audio"
    markers: dict[str, tuple[bytes, ...]]

    def __post_init__(self) -> None:
        missing = [m for m in self.all_markers() if m not in self.data]
        assert not missing, f"{self.name}: the corpus file lacks its own markers {missing}"

    def all_markers(self) -> list[bytes]:
        return [m for values in self.markers.values() for m in values]

    @property
    def suffix(self) -> str:
        return Path(self.filename).suffix.lower()


def markers_in(sample: Sample, data: bytes) -> list[str]:
    """The markers of `sample` found in `data`, as they are and as UTF-16 (EXIF XP tags, ID3 frames)."""
    hits = []
    for kind, values in sample.markers.items():
        for marker in values:
            chars = marker.decode("latin-1")
            if any(v in data for v in (marker, chars.encode("utf-16-le"), chars.encode("utf-16-be"))):
                hits.append(f"{kind}: {marker!r}")
    return hits


def assert_no_markers(sample: Sample, data: bytes) -> None:
    hits = markers_in(sample, data)
    assert not hits, f"{sample.name}: identifying data survived cleaning: {hits}"


def run(args: list[str]) -> str:
    """A tool's standard output; the test fails with its last words if it fails."""
    done = subprocess.run(args, capture_output=True, check=False)
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr.decode(errors='replace')[-500:]}"
    return done.stdout.decode()


def ffmpeg(args: list[str], suffix: str) -> bytes:
    """The file ffmpeg writes with `args`, in a format it picks by `suffix` (or by -f in `args`)."""
    with tempfile.TemporaryDirectory(prefix="corpus-make-") as tmp:
        out = Path(tmp) / f"out{suffix}"
        run(["ffmpeg", "-v", "error", "-y", *args, str(out)])
        return out.read_bytes()
