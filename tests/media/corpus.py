"""A corpus shaped like what phones write, made at test time, and the checks on what a cleaner gives back.

Each sample is built once per test session (ffmpeg for video and audio, Pillow, piexif and pillow-heif
for pictures, a few hand-built bytes where no tool writes the format) and carries the marker bytes that
must not survive cleaning, by what they give away (metadata.KINDS): the place, the device, the time,
the person, or free text (a voice memo named after its street). A marker's kind is what the field that
holds it is (a place typed into a title is "text"), so a cleaner's findings on the original name every
kind of its markers. Every marker is checked to be in the original when the sample is made, so a test
that finds none in the cleaned file cannot pass because the marker was never there.

    s = sample("mov-iphone")
    assert_no_markers(s, cleaned)        # no place, device, time or owner left, in any encoding
    assert_plays_like(s, cleaned)        # same streams, packets, duration and decoded frames
    assert_picture_like(s, cleaned)      # a picture: decodes to the same size

The files are tiny (1 s, 160x120) so that the whole corpus is made in a few seconds.
"""

from __future__ import annotations

import datetime
import functools
import io
import json
import random
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import piexif
import pillow_heif
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import create_engine, text

import crypto
from dropbox import config

pillow_heif.register_heif_opener()

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
SIZE = (160, 120)
SKY, SUN, ROAD = (30, 120, 200), (240, 200, 40), (10, 10, 10)
SCENE_PROBES = ((140, 20), (50, 40), (125, 90))  # a pixel inside the sky, the sun and the road
VIDEO_IN = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
AUDIO_IN = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
H264_AAC = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
HEVC_AAC = ["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p",
            "-c:a", "aac"]  # fmt: skip  # iPhones record HEVC


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


# --- checks on what comes out -------------------------------------------------------------------


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
        probe = _run(["ffprobe", "-v", "error", "-count_packets", "-of", "json", "-show_entries",
                      "stream=codec_type,codec_name,nb_read_packets:format=duration", str(path)])  # fmt: skip
        info = json.loads(probe)
        streams = tuple(
            (s["codec_type"], s["codec_name"], int(s["nb_read_packets"])) for s in info["streams"]
        )
        decoded = tuple(_decoded_md5(path, i) for i in range(len(streams)))
    duration = info["format"].get("duration")
    return MediaFacts(streams, None if duration is None else round(float(duration), 3), decoded)


def _decoded_md5(path: Path, stream: int) -> str:
    out = _run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-f", "md5", "-"])
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


def _run(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, check=False)
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr.decode(errors='replace')[-500:]}"
    return done.stdout.decode()


# --- still pictures -----------------------------------------------------------------------------


def _thumbnail() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(out, "JPEG", comment=THUMBNAIL_NOTE)
    return out.getvalue()


def _exif(make: bytes, model: bytes, *, thumbnail: bool = False, lens: bytes | None = None) -> bytes:
    """EXIF as a phone's camera writes it (big-endian, as piexif packs it): device, owner, serial,
    time to the second, GPS, and optionally a thumbnail of the uncropped picture in IFD1."""
    exif = {
        "0th": {piexif.ImageIFD.Make: make, piexif.ImageIFD.Model: model, piexif.ImageIFD.DateTime: EXIF_TIME,
                piexif.ImageIFD.Software: b"S921BXXU1AWM9"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: EXIF_TIME, piexif.ExifIFD.CameraOwnerName: OWNER,
                 piexif.ExifIFD.BodySerialNumber: SERIAL},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: GPS_LAT,
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: GPS_LON,
                piexif.GPSIFD.GPSDateStamp: b"2026:11:30"},
    }  # fmt: skip
    if lens:
        exif["Exif"][piexif.ExifIFD.LensModel] = lens
    if thumbnail:
        exif["1st"] = {piexif.ImageIFD.Compression: 6}
        exif["thumbnail"] = _thumbnail()
    return piexif.dump(exif)


def gps_marker(order: str = ">") -> bytes:
    """The latitude's degrees and minutes as EXIF stores them: two rationals, big-endian as piexif
    writes them (Pillow's TIFF writer rewrites them little-endian and reduces the seconds' fraction)."""
    return b"".join(struct.pack(order + "LL", n, d) for n, d in GPS_LAT[:2])


def _xmp(model: bytes) -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
            b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
            b' exif:GPSLatitude="' + PLACE_XMP + b'" tiff:Model="' + model + b'"'
            b' xmp:CreateDate="2026-11-30T17:04:12"><dc:creator><rdf:Seq><rdf:li>' + OWNER +
            b"</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>")  # fmt: skip


@functools.cache
def _icc() -> bytes:
    """A colour profile named after the phone's display, as Samsung's and Apple's cameras embed one. (A
    browser's canvas writes its own generic sRGB profile into every JPEG: the marker is the name.)"""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    at = icc.find("sRGB built-in".encode("utf-16-be"))
    icc[at : at + len(ICC_NAME)] = ICC_NAME
    icc[84:100] = bytes(16)  # no profile ID: it was an MD5 of the old name
    return bytes(icc)


def _scene(mode: str = "RGB") -> Image.Image:
    """A picture with some detail, so a broken decode shows (at SCENE_PROBES)."""
    img = Image.new("RGB", SIZE, SKY)
    img.paste(SUN, (20, 20, 80, 60))
    img.paste(ROAD, (100, 70, 150, 110))
    if mode in ("RGBA", "LA"):
        img = img.convert(mode)
        img.putpixel((0, 0), (0, 0, 0, 0) if mode == "RGBA" else (0, 0))
        return img
    return img.convert(mode)


def _save(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


_EXIF_MARKERS = {
    "place": (gps_marker(),),
    "time": (EXIF_TIME,),
    "person": (OWNER,),
    "device": (*SAMSUNG, SERIAL),
}


def _jpeg_android() -> Sample:
    data = _save(_scene(), "JPEG", exif=_exif(*SAMSUNG, thumbnail=True), icc_profile=_icc(),
                 comment=b"Shot by " + OWNER, quality=90)  # fmt: skip
    markers = {**_EXIF_MARKERS, "device": (*SAMSUNG, SERIAL, ICC_NAME), "thumbnail": (THUMBNAIL_NOTE,)}
    return Sample("jpeg-android", "20261130_170412.jpg", data, "image/jpeg", "picture", markers)


def _jpeg_motion_photo() -> Sample:
    """A Pixel or Samsung "motion photo": the JPEG, then the seconds of video around the shot appended
    after its end, with the video's own place and phone (Google's XMP Container directory points to it)."""
    video = sample("mp4-android").data
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" GCamera:MotionPhoto="1"'
           b' GCamera:MotionPhotoVersion="1"/></rdf:RDF></x:xmpmeta>')  # fmt: skip
    still = _save(_scene(), "JPEG", exif=_exif(*SAMSUNG), xmp=xmp, quality=90)
    markers = {
        **_EXIF_MARKERS,
        "place": (gps_marker(), PLACE),
        "other": (b"GCamera:MotionPhoto", b"ftypisom"),
    }
    name = "PXL_20261130_170412345.MP.jpg"
    return Sample("jpeg-motion-photo", name, still + video, "image/jpeg", "picture", markers)


def _mpo() -> Sample:
    second = Image.new("RGB", SIZE, (90, 90, 90))
    data = _save(_scene(), "MPO", save_all=True, append_images=[second], exif=_exif(*SAMSUNG))
    markers = {**_EXIF_MARKERS, "thumbnail": (b"MPF\x00",)}  # the index of the pictures after the first
    return Sample("mpo", "DSC_0001.jpg", data, "image/jpeg", "picture", markers)


def _png(mode: str) -> Sample:
    info = PngInfo()
    info.add_text("Author", OWNER.decode())
    info.add_itxt("XML:com.adobe.xmp", _xmp(SAMSUNG[1]).decode())
    data = _save(_scene(mode), "PNG", pnginfo=info, icc_profile=_icc(), exif=_exif(*SAMSUNG))
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP), "device": (*SAMSUNG, b"iCCP")}
    name = {"RGBA": "png-rgba", "LA": "png-la", "P": "png-palette"}[mode]
    return Sample(name, f"Screenshot_{mode}.png", data, "image/png", "picture", markers)


def _webp() -> Sample:
    data = _save(_scene(), "WEBP", exif=_exif(*SAMSUNG), xmp=_xmp(SAMSUNG[1]), quality=90)
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP)}
    return Sample("webp", "IMG_0002.webp", data, "image/webp", "picture", markers)


def _gif() -> Sample:
    data = _save(_scene("P"), "GIF", comment=b"Made by " + OWNER + b" on " + ISO_DAY)
    return Sample("gif", "IMG_0003.gif", data, "image/gif", "picture", {"text": (OWNER, ISO_DAY)})


def _tiff() -> Sample:
    data = _save(_scene(), "TIFF", exif=_exif(*SAMSUNG))
    markers = {**_EXIF_MARKERS, "place": (gps_marker("<"),)}
    return Sample("tiff", "scan.tiff", data, "image/tiff", "picture", markers)


def _heic_iphone() -> Sample:
    data = _save(_scene(), "HEIF", exif=_exif(*APPLE, lens=LENS), xmp=_xmp(APPLE[1]), quality=80)
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP), "device": (*APPLE, SERIAL, LENS)}
    return Sample("heic-iphone", "IMG_0004.HEIC", data, "image/heic", "picture", markers)


def _avif() -> Sample:
    data = _save(_scene(), "AVIF", exif=_exif(*SAMSUNG), xmp=_xmp(SAMSUNG[1]))
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP)}
    return Sample("avif", "IMG_0005.avif", data, "image/avif", "picture", markers)


# --- video and audio ----------------------------------------------------------------------------


def _ffmpeg(args: list[str], suffix: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="corpus-make-") as tmp:
        out = Path(tmp) / f"out{suffix}"
        _run(["ffmpeg", "-v", "error", "-y", *args, str(out)])
        return out.read_bytes()


def _mac_time() -> bytes:
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


_CREATION = ["-metadata", "creation_time=2026-11-30T17:04:12Z"]


def _mov_iphone() -> Sample:
    meta = {"com.apple.quicktime.location.ISO6709": PLACE_ISO6709, "com.apple.quicktime.make": APPLE[0],
            "com.apple.quicktime.model": APPLE[1], "com.apple.quicktime.software": b"17.1",
            "com.apple.quicktime.creationdate": b"2026-11-30T17:04:12+0200"}  # fmt: skip
    args = [*VIDEO_IN, *AUDIO_IN, *HEVC_AAC, "-movflags", "use_metadata_tags", *_CREATION]
    args += [a for k, v in meta.items() for a in ("-metadata", f"{k}={v.decode()}")]
    data = _meta_to_moov(_ffmpeg([*args, "-f", "mov"], ".mov"))
    markers = {"place": (PLACE,), "device": APPLE, "time": (_mac_time(), ISO_DAY)}
    return Sample("mov-iphone", "IMG_0006.MOV", data, "video/quicktime", "video", markers)


def _mp4_android() -> Sample:
    args = [*VIDEO_IN, *AUDIO_IN, *H264_AAC, "-movflags", "+faststart+use_metadata_tags", *_CREATION,
            "-metadata", "com.android.version=14", "-metadata", "com.android.manufacturer=samsung",
            "-metadata", "com.android.model=SM-S921B",
            "-metadata", f"location={PLACE.decode()}/"]  # fmt: skip
    data = _ffmpeg([*args, "-f", "mp4"], ".mp4")
    data = _add_to_udta(data, _xyz_box(PLACE + b"/"))  # what Android's MPEG4Writer writes; ffmpeg writes loci
    markers = {"place": (PLACE, _loci()), "device": SAMSUNG, "time": (_mac_time(),)}
    return Sample("mp4-android", "VID_20261130_170412.mp4", data, "video/mp4", "video", markers)


def _3gp() -> Sample:
    args = [*VIDEO_IN, *AUDIO_IN, *H264_AAC, *_CREATION, "-metadata", f"author={OWNER.decode()}",
            "-metadata", "title=Recorded on Vitosha", "-metadata", f"location={PLACE.decode()}/"]  # fmt: skip
    data = _ffmpeg([*args, "-f", "3gp"], ".3gp")
    markers = {"place": (_loci(),), "person": (OWNER,), "time": (_mac_time(),)}
    return Sample("3gp", "VID_0007.3gp", data, "video/3gpp", "video", markers)


def _webm() -> Sample:
    args = [*VIDEO_IN, *AUDIO_IN, "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus", *_CREATION,
            "-metadata", f"artist={OWNER.decode()}", "-metadata", f"date={ISO_DAY.decode()}",
            "-metadata", f"location={PLACE.decode()}/", "-metadata", "title=Seen on Vitosha"]  # fmt: skip
    data = _ffmpeg([*args, "-f", "webm"], ".webm")
    markers = {"place": (PLACE,), "person": (OWNER,), "time": (ISO_DAY, _matroska_date())}
    return Sample("webm", "video.webm", data, "video/webm", "video", markers)


def _m4a_voice_memo() -> Sample:
    args = [*AUDIO_IN, "-c:a", "aac", *_CREATION, "-metadata", f"title={PLACE_NAME.decode()}",
            "-metadata", f"date={ISO_DAY.decode()}"]  # fmt: skip
    data = _ffmpeg([*args, "-f", "ipod"], ".m4a")
    markers = {"text": (PLACE_NAME,), "time": (ISO_DAY, _mac_time())}
    return Sample("m4a-voice-memo", "New Recording 3.m4a", data, "audio/mp4", "audio", markers)


_AUDIO_TAGS = ["-metadata", f"artist={OWNER.decode()}", "-metadata", f"date={ISO_DAY.decode()}",
               "-metadata", f"title={PLACE_NAME.decode()}",
               "-metadata", f"location={PLACE.decode()}/"]  # fmt: skip
_AUDIO_MARKERS = {"place": (PLACE,), "text": (PLACE_NAME,), "person": (OWNER,), "time": (ISO_DAY,)}


def _opus_ogg() -> Sample:
    data = _ffmpeg([*AUDIO_IN, "-c:a", "libopus", *_AUDIO_TAGS, "-f", "ogg"], ".ogg")
    return Sample("opus-ogg", "voice-note.ogg", data, "audio/ogg", "audio", _AUDIO_MARKERS)


def _wav() -> Sample:
    bext = ["-write_bext", "1", "-metadata", f"originator={OWNER.decode()}",
            "-metadata", f"origination_date={ISO_DAY.decode()}",
            "-metadata", "origination_time=17:04:12"]  # fmt: skip
    data = _ffmpeg([*AUDIO_IN, *_AUDIO_TAGS, *bext, "-f", "wav"], ".wav")
    markers = {"person": (OWNER,), "time": (ISO_DAY,), "text": (PLACE_NAME,)}  # INFO has no place field
    return Sample("wav", "recording.wav", data, "audio/wav", "audio", markers)


def _mp3() -> Sample:
    args = [*AUDIO_IN, "-c:a", "libmp3lame", *_AUDIO_TAGS, "-id3v2_version", "3", "-write_id3v1", "1"]
    data = _ffmpeg([*args, "-f", "mp3"], ".mp3")
    assert data[-128:].startswith(b"TAG"), "no ID3v1 tag at the end"
    markers = {"place": (PLACE,), "text": (PLACE_NAME,), "person": (OWNER,)}
    return Sample("mp3", "recording.mp3", data, "audio/mpeg", "audio", markers)


def _flac() -> Sample:
    data = _ffmpeg([*AUDIO_IN, *_AUDIO_TAGS, "-f", "flac"], ".flac")
    return Sample("flac", "recording.flac", data, "audio/flac", "audio", _AUDIO_MARKERS)


def _amr() -> Sample:
    """AMR-NB as a phone's voice recorder writes it: no tags at all (Debian's ffmpeg has no AMR encoder,
    so the frames are hand-built: 50 frames of 20 ms at 12.2 kbit/s, mode byte 0x3C then 31 bytes)."""
    noise = random.Random(10)
    frames = b"".join(b"\x3c" + bytes(noise.randrange(256) for _ in range(31)) for _ in range(50))
    return Sample("amr", "voice.amr", b"#!AMR\n" + frames, "audio/amr", "audio", {})


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


# --- the corpus ---------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], Sample]] = {
    "jpeg-android": _jpeg_android,
    "jpeg-motion-photo": _jpeg_motion_photo,
    "mpo": _mpo,
    "png-rgba": lambda: _png("RGBA"),
    "png-la": lambda: _png("LA"),
    "png-palette": lambda: _png("P"),
    "webp": _webp,
    "gif": _gif,
    "tiff": _tiff,
    "heic-iphone": _heic_iphone,
    "avif": _avif,
    "mov-iphone": _mov_iphone,
    "mp4-android": _mp4_android,
    "3gp": _3gp,
    "webm": _webm,
    "m4a-voice-memo": _m4a_voice_memo,
    "opus-ogg": _opus_ogg,
    "wav": _wav,
    "mp3": _mp3,
    "flac": _flac,
    "amr": _amr,
}
NAMES = tuple(BUILDERS)
PICTURES = tuple(n for n in NAMES if n in BUILDERS and n.split("-")[0] in
                 ("jpeg", "mpo", "png", "webp", "gif", "tiff", "heic", "avif"))  # fmt: skip
MEDIA = tuple(n for n in NAMES if n not in PICTURES)


@functools.cache
def sample(name: str) -> Sample:
    """The corpus file `name`, made on first use and kept for the rest of the session."""
    made = BUILDERS[name]()
    assert made.name == name
    return made


def truncated_moov() -> bytes:
    """An iPhone MOV whose moov (it comes last) lost its last bytes: a copy that broke off. Its place
    is still in it."""
    return sample("mov-iphone").data[:-16]


# --- what the officer opens ---------------------------------------------------------------------


@functools.cache
def _officer(instance: Path) -> crypto.Identity:
    return crypto.Identity.load(instance / "demo-officer.identity", "")  # Argon2id: load once


def last_report(instance: Path) -> tuple[dict, list[bytes]]:
    """The newest submission the demo officer can open: its report document and its attachments."""
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT p.blob_id, p.data FROM parts p WHERE p.submission_id = "
                                 "(SELECT max(id) FROM submissions) ORDER BY p.position")).all()  # fmt: skip
    engine.dispose()
    key = _officer(instance).decryption_key
    # A small envelope is kept in its row (parts.data), the rest in the blob files.
    root = instance / "blobs"
    envelopes = [data if data is not None else (root / b[:2] / b).read_bytes() for b, data in rows]
    opened = [crypto.unseal_bytes(envelope, [key]) for envelope in envelopes]
    return json.loads(opened[0]), opened[1:]


def stored_blobs(instance: Path) -> int:
    return sum(1 for p in (instance / "blobs").glob("??/*") if p.is_file())
