"""The corpus's movies (see tests/media/corpus.py), as phones record them: an iPhone's HEVC MOV (Apple's
mdta keys, moov last), an Android MP4 (©xyz, faststart), a 3GP (loci, author) and a WebM (Matroska tags,
DateUTC). Made by ffmpeg, then a few ISO BMFF box edits ffmpeg cannot make.
"""

from __future__ import annotations

import datetime
import struct

from tests.media.corpus_sample import (
    APPLE,
    ISO_DAY,
    OWNER,
    PLACE,
    PLACE_ISO6709,
    SAMSUNG,
    SHOT_AT,
    Sample,
    ffmpeg,
)

VIDEO_IN = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
AUDIO_IN = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
H264_AAC = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
HEVC_AAC = ["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p",
            "-c:a", "aac"]  # fmt: skip  # iPhones record HEVC


def mac_time() -> bytes:
    """SHOT_AT as mvhd, tkhd and mdhd hold it (seconds since 1904, version 0 boxes)."""
    epoch = datetime.datetime(1904, 1, 1, tzinfo=datetime.UTC)
    return struct.pack(">I", int((SHOT_AT - epoch).total_seconds()))


def _loci() -> bytes:
    """The place as a 3GPP `loci` box holds it: longitude then latitude, 16.16 fixed point."""
    return struct.pack(">ii", int(23.3219 * 65536), int(42.6931 * 65536))


def _matroska_date() -> bytes:
    """SHOT_AT as Matroska's DateUTC holds it: nanoseconds since 2001-01-01, big-endian."""
    epoch = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
    return struct.pack(">q", int((SHOT_AT - epoch).total_seconds()) * 1_000_000_000)


CREATION = ["-metadata", "creation_time=2026-11-30T17:04:12Z"]


def mov_iphone() -> Sample:
    meta = {"com.apple.quicktime.location.ISO6709": PLACE_ISO6709, "com.apple.quicktime.make": APPLE[0],
            "com.apple.quicktime.model": APPLE[1], "com.apple.quicktime.software": b"17.1",
            "com.apple.quicktime.creationdate": b"2026-11-30T17:04:12+0200"}  # fmt: skip
    args = [*VIDEO_IN, *AUDIO_IN, *HEVC_AAC, "-movflags", "use_metadata_tags", *CREATION]
    args += [a for k, v in meta.items() for a in ("-metadata", f"{k}={v.decode()}")]
    data = _meta_to_moov(ffmpeg([*args, "-f", "mov"], ".mov"))
    markers = {"place": (PLACE,), "device": APPLE, "time": (mac_time(), ISO_DAY)}
    return Sample("mov-iphone", "IMG_0006.MOV", data, "video/quicktime", "video", markers)


def mp4_android() -> Sample:
    args = [*VIDEO_IN, *AUDIO_IN, *H264_AAC, "-movflags", "+faststart+use_metadata_tags", *CREATION,
            "-metadata", "com.android.version=14", "-metadata", "com.android.manufacturer=samsung",
            "-metadata", "com.android.model=SM-S921B",
            "-metadata", f"location={PLACE.decode()}/"]  # fmt: skip
    data = ffmpeg([*args, "-f", "mp4"], ".mp4")
    data = _add_to_udta(data, _xyz_box(PLACE + b"/"))  # what Android's MPEG4Writer writes; ffmpeg writes loci
    markers = {"place": (PLACE, _loci()), "device": SAMSUNG, "time": (mac_time(),)}
    return Sample("mp4-android", "VID_20261130_170412.mp4", data, "video/mp4", "video", markers)


def three_gp() -> Sample:
    args = [*VIDEO_IN, *AUDIO_IN, *H264_AAC, *CREATION, "-metadata", f"author={OWNER.decode()}",
            "-metadata", "title=Recorded on Vitosha", "-metadata", f"location={PLACE.decode()}/"]  # fmt: skip
    data = ffmpeg([*args, "-f", "3gp"], ".3gp")
    markers = {"place": (_loci(),), "person": (OWNER,), "time": (mac_time(),)}
    return Sample("3gp", "VID_0007.3gp", data, "video/3gpp", "video", markers)


def webm() -> Sample:
    args = [*VIDEO_IN, *AUDIO_IN, "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus", *CREATION,
            "-metadata", f"artist={OWNER.decode()}", "-metadata", f"date={ISO_DAY.decode()}",
            "-metadata", f"location={PLACE.decode()}/", "-metadata", "title=Seen on Vitosha"]  # fmt: skip
    data = ffmpeg([*args, "-f", "webm"], ".webm")
    markers = {"place": (PLACE,), "person": (OWNER,), "time": (ISO_DAY, _matroska_date())}
    return Sample("webm", "video.webm", data, "video/webm", "video", markers)


# --- a few box edits ffmpeg cannot make -------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts"}


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes between start and end (32-bit sizes: ffmpeg's small files)."""
    found, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        assert size >= 8 and pos + size <= end, f"unexpected box {kind!r} at {pos}"
        found.append((kind, pos, size))
        pos += size
    return found


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> tuple[int, int]:
    end = len(data) if end is None else end
    for kind, pos, size in _boxes(data, start, end):
        if kind == path[0]:
            return (pos, size) if len(path) == 1 else _find(data, path[1:], pos + 8, pos + size)
    raise LookupError(path)


def _with_size(data: bytearray, pos: int, delta: int) -> None:
    struct.pack_into(">I", data, pos, struct.unpack_from(">I", data, pos)[0] + delta)


def _shift_chunk_offsets(data: bytearray, start: int, end: int, delta: int) -> None:
    """Add `delta` to every stco entry under [start, end): the samples moved by that much."""
    for kind, pos, size in _boxes(data, start, end):
        if kind in _CONTAINERS:
            _shift_chunk_offsets(data, pos + 8, pos + size, delta)
        elif kind == b"stco":
            (count,) = struct.unpack_from(">I", data, pos + 12)
            for i in range(count):
                _with_size(data, pos + 16 + 4 * i, delta)


def _xyz_box(place: bytes) -> bytes:
    """A `©xyz` box: 16-bit length, 16-bit language, the ISO 6709 string."""
    body = struct.pack(">HH", len(place), 0x15C7) + place
    return struct.pack(">I4s", 8 + len(body), b"\xa9xyz") + body


def _add_to_udta(data: bytes, box: bytes) -> bytes:
    """`box` appended to moov/udta; when moov comes before mdat, the chunk offsets follow."""
    moov, moov_size = _find(data, [b"moov"])
    udta, udta_size = _find(data, [b"moov", b"udta"])
    out = bytearray(data[: udta + udta_size] + box + data[udta + udta_size :])
    _with_size(out, udta, len(box))
    _with_size(out, moov, len(box))
    if moov < _find(data, [b"mdat"])[0]:
        _shift_chunk_offsets(out, moov + 8, moov + moov_size + len(box), len(box))
    return bytes(out)


def _meta_to_moov(data: bytes) -> bytes:
    """The mdta `meta` box moved from moov/udta to moov itself, where iPhones write it. The moov must
    come after mdat (as in an iPhone's MOV), so no chunk offset moves."""
    moov, moov_size = _find(data, [b"moov"])
    assert moov > _find(data, [b"mdat"])[0]
    udta, udta_size = _find(data, [b"moov", b"udta"])
    meta, meta_size = _find(data, [b"moov", b"udta", b"meta"])
    assert udta_size == 8 + meta_size, "udta holds more than the meta box"
    out = bytearray(data[:udta] + data[meta : meta + meta_size] + data[udta + udta_size :])
    _with_size(out, moov, -8)
    assert moov + moov_size - 8 == len(out)
    return bytes(out)
